// TorchScript export of the forecaster: the archive, loaded back with torch::jit::load, gives the
// C++ model's numbers at batch sizes and window lengths other than the traced ones.
#include <seqtorch/export/forecast_export.h>
#include <seqtorch/export/script_module.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

namespace seqtorch::exporting {
namespace {

using forecast::Forecaster;
using forecast::ForecasterOptions;

TEST(ForecastExport, LoadedArchiveMatchesTheModel) {
  test::TempDir dir;
  for (auto mode : {forecast::Mode::seq2vec, forecast::Mode::seq2seq, forecast::Mode::encdec}) {
    for (auto cell : {nn::CellKind::lstm, nn::CellKind::gru}) {
      const bool gaussian = cell == nn::CellKind::gru;
      const int64_t covs = mode == forecast::Mode::seq2seq ? 0 : 1;
      SCOPED_TRACE(forecast::to_string(mode) + " " + nn::to_string(cell));
      torch::manual_seed(5);
      Forecaster m(ForecasterOptions(2, 12, 5).covariates(covs).mode(mode).cell(cell).hidden_size(8)
                       .num_layers(2).loss(gaussian ? forecast::Loss::gaussian : forecast::Loss::mse));
      data::Scaler scaler;
      scaler.shift = torch::tensor({100.0, -3.0, 7.0}).narrow(0, 0, 2 + covs);
      scaler.scale = torch::tensor({10.0, 0.5, 2.0}).narrow(0, 0, 2 + covs);
      m->set_scaler(scaler);
      std::vector<std::string> names{"a", "b", "c"};
      names.resize(2 + covs);
      const auto path = dir.file("model.pt");
      export_forecaster(m, names, path);
      auto loaded = load_export(path);
      EXPECT_EQ(loaded.attr("window").toInt(), 12);
      EXPECT_EQ(loaded.attr("horizon").toInt(), 5);
      InferenceGuard inference;  // as a C++ user runs an export: see script_module.h
      for (int64_t B : {1, 3, 7}) {
        for (int64_t L : {12, 4, 30}) {
          auto window = torch::randn({B, L, 2 + covs}) * scaler.scale + scaler.shift;
          auto expected = m->forward(window);
          auto got = loaded.forward({window}).toTensor();
          EXPECT_TRUE(test::all_close(got, expected.mean, 1e-5, "B=" + std::to_string(B) + " L=" + std::to_string(L)));
          if (gaussian) {
            auto var = loaded.get_method("variance")({window}).toTensor();
            EXPECT_TRUE(test::all_close(var, expected.variance, 1e-5, "variance"));
          }
        }
      }
      auto one = torch::randn({9, 2 + covs}) * scaler.scale + scaler.shift;  // rank 2: [L, C+K]
      auto got = loaded.forward({one}).toTensor();
      EXPECT_EQ(got.sizes(), torch::IntArrayRef({5, 2}));
      EXPECT_TRUE(test::all_close(got, m->forward(one.unsqueeze(0)).mean[0], 1e-5, "rank 2"));
    }
  }
}

TEST(ForecastExport, NamesMustMatchTheModel) {
  Forecaster m(ForecasterOptions(1, 4, 2));
  EXPECT_TRUE(test::throws_with([&] { script_forecaster(m, {"a", "b"}); }, {"2 column names", "1 columns"}));
}

}  // namespace
}  // namespace seqtorch::exporting
