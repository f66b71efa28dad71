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

// Output layers made non-zero, so the networks count in a comparison, not only the bases.
void randomise_heads(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.named_parameters())
    if (p.key().find("head.") != std::string::npos) p.value().normal_(0, 0.2);
}

// The forms that read seasons, ensembles, the log transform and global models: the archive
// equals the model for windows of the trained length and longer (heads made non-zero, so the
// networks count, not only the bases).
TEST(ForecastExport, FormsEnsemblesLogAndGlobalModels) {
  test::TempDir dir;
  using forecast::Relative;
  for (Relative form : {Relative::season, Relative::deseason, Relative::trend, Relative::ets}) {
    for (bool global : {false, true}) {
      SCOPED_TRACE(forecast::to_string(form) + (global ? " global" : " joint"));
      torch::manual_seed(7);
      Forecaster m(ForecasterOptions(2, 8, 5).relative(form).season(4).ensemble(2).global(global)
                       .log(form != Relative::season).loss(global ? forecast::Loss::gaussian : forecast::Loss::mse)
                       .hidden_size(6));
      data::Scaler scaler;
      scaler.shift = torch::tensor({2.0, 1.0});
      scaler.scale = torch::tensor({0.5, 0.3});
      m->set_scaler(scaler);
      if (form == Relative::ets)  // a base of random weights, 4 rotations, horizon 5, window 8
        for (int64_t c = 0; c < 2; ++c) {
          auto values = [](int64_t n) {
            const auto t = torch::randn({n}, torch::kDouble) * 0.2;
            return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + n);
          };
          m->set_ets_base(c, values(4 * 5 * 8), values(4 * 5), values(4));
        }
      randomise_heads(*m);
      const auto path = dir.file("model.pt");
      export_forecaster(m, {"a", "b"}, path);
      auto loaded = load_export(path);
      EXPECT_EQ(loaded.attr("relative").toStringRef(), forecast::to_string(form));
      EXPECT_EQ(loaded.attr("ensemble").toInt(), 2);
      InferenceGuard inference;
      for (int64_t L : {8, 13}) {
        auto window = torch::rand({3, L, 2}) * 10 + 1;  // positive: the log models need it
        auto expected = m->forward(window);
        EXPECT_TRUE(test::all_close(loaded.forward({window}).toTensor(), expected.mean, 1e-5, "L=" + std::to_string(L)));
        if (global) {
          EXPECT_TRUE(test::all_close(loaded.get_method("variance")({window}).toTensor(), expected.variance, 1e-5, "variance"));
        }
      }
    }
  }
}

// A combination of forms exports as one archive: each part reads its own last steps.
TEST(ForecastExport, ACombinationOfForms) {
  test::TempDir dir;
  using forecast::Relative;
  for (bool global : {false, true}) {
    SCOPED_TRACE(global ? "global" : "joint");
    torch::manual_seed(8);
    Forecaster m(ForecasterOptions(2, 8, 5).combine({Relative::season, Relative::trend, Relative::ets}).ets_window(12)
                     .season(4).ensemble(2).global(global).log(true).hidden_size(6)
                     .loss(global ? forecast::Loss::gaussian : forecast::Loss::mse));
    data::Scaler scaler;
    scaler.shift = torch::tensor({2.0, 1.0});
    scaler.scale = torch::tensor({0.5, 0.3});
    m->set_scaler(scaler);
    for (int64_t c = 0; c < 2; ++c) {
      const auto t = torch::randn({4 * 5 * 12 + 4 * 5 + 4}, torch::kDouble) * 0.2;
      const std::vector<double> v(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
      m->set_ets_base(c, {v.begin(), v.begin() + 240}, {v.begin() + 240, v.begin() + 260}, {v.begin() + 260, v.end()});
    }
    m->set_combine_weights({0.2, 0.3, 0.5});
    randomise_heads(*m);
    const auto path = dir.file("model.pt");
    export_forecaster(m, {"a", "b"}, path);
    auto loaded = load_export(path);
    EXPECT_EQ(loaded.attr("relative").toStringRef(), "season,trend,ets");
    EXPECT_EQ(loaded.attr("window").toInt(), 12);
    InferenceGuard inference;
    for (int64_t L : {12, 15}) {
      auto window = torch::rand({3, L, 2}) * 10 + 1;
      auto expected = m->forward(window);
      EXPECT_TRUE(test::all_close(loaded.forward({window}).toTensor(), expected.mean, 1e-5, "L=" + std::to_string(L)));
      if (global) {
        EXPECT_TRUE(test::all_close(loaded.get_method("variance")({window}).toTensor(), expected.variance, 1e-5, "variance"));
      }
    }
  }
}

TEST(ForecastExport, NamesMustMatchTheModel) {
  Forecaster m(ForecasterOptions(1, 4, 2));
  EXPECT_TRUE(test::throws_with([&] { script_forecaster(m, {"a", "b"}); }, {"2 column names", "1 columns"}));
}

}  // namespace
}  // namespace seqtorch::exporting
