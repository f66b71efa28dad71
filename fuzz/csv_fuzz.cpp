// CSV (data/csv.h) and the series read from it (data/series.h): every column as a target, with
// and without filling.
#include <seqtorch/data/csv.h>
#include <seqtorch/data/series.h>

#include "fuzz_support.h"

#include <torch/torch.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqtorch;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::refused_or_fine([&] {
    const data::CsvTable t = data::parse_csv(text, "fuzz.csv");
    fuzz::expect(!t.header.empty() && t.rows.size() == t.lines.size(), "a table without header or lines");
    for (const auto& row : t.rows) fuzz::expect(row.size() == t.header.size(), "a row of another width");
    for (size_t c = 0; c < t.header.size() && c < 4; ++c)
      for (auto fill : {data::FillMethod::none, data::FillMethod::linear}) {
        fuzz::refused_or_fine([&] {
          const auto s = data::select_series(t, {t.header[c]}, {}, t.header[0], fill);
          fuzz::expect(torch::isfinite(s.values).all().item<bool>(), "a series value that is not finite");
          fuzz::expect(s.values.abs().max().item<double>() <= 3.5e38, "a value beyond float32");
        });
      }
  });
  return 0;
}
