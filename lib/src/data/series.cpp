#include <seqtorch/data/series.h>

#include <seqtorch/util/messages.h>

#include <torch/torch.h>

#include <cerrno>
#include <limits>

#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>

namespace seqtorch::data {

std::string to_string(FillMethod f) {
  return f == FillMethod::none ? "none" : f == FillMethod::linear ? "linear" : "ffill";
}

FillMethod parse_fill_method(const std::string& name) {
  if (name == "none") return FillMethod::none;
  if (name == "linear") return FillMethod::linear;
  if (name == "ffill") return FillMethod::ffill;
  TORCH_CHECK(false, "fill: expected none, linear or ffill, got ", util::quoted(name));
}

namespace {
// A cell's number, or why it is none (empty: missing).
enum class Cell { number, empty, text, out_of_range, not_finite };
Cell parse_number(const std::string& cell, double& out) {
  const auto b = cell.find_first_not_of(" \t");
  if (b == std::string::npos) return Cell::empty;
  const auto e = cell.find_last_not_of(" \t");
  const std::string s = cell.substr(b, e - b + 1);
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return Cell::text;
  if (std::isnan(out) || (std::isinf(out) && errno != ERANGE)) return Cell::not_finite;  // nan, inf
  // The model works in float32: a larger magnitude (1e308, or 1e400, which strtod overflows)
  // would become infinite there.
  if (errno == ERANGE ? std::abs(out) > 1 : std::abs(out) > std::numeric_limits<float>::max())
    return Cell::out_of_range;
  return Cell::number;  // an underflow (1e-400) reads as 0 or a subnormal: kept
}
}  // namespace

Series select_series(const CsvTable& table, const std::vector<std::string>& targets,
                     const std::vector<std::string>& covariates, const std::string& time_column,
                     FillMethod fill) {
  TORCH_CHECK(!targets.empty(), "no target column given");
  Series s;
  std::vector<int64_t> cols;
  for (const auto& n : targets) cols.push_back(column_index(table, n));
  for (const auto& n : covariates) cols.push_back(column_index(table, n));
  s.names = targets;
  s.names.insert(s.names.end(), covariates.begin(), covariates.end());
  s.targets = static_cast<int64_t>(targets.size());
  const int64_t n = static_cast<int64_t>(table.rows.size()), c = static_cast<int64_t>(cols.size());
  s.values = torch::empty({n, c}, torch::kDouble);
  auto v = s.values.accessor<double, 2>();
  for (int64_t j = 0; j < c; ++j) {
    std::vector<int64_t> missing;
    for (int64_t i = 0; i < n; ++i) {
      double x;
      const std::string& cell = table.rows[i][cols[j]];
      const Cell kind = parse_number(cell, x);
      if (kind == Cell::number) {
        v[i][j] = x;
        continue;
      }
      // Anything but a finite number within float32's range is missing: refused, or filled
      // when the user asks.
      TORCH_CHECK(fill != FillMethod::none, table.path, ":", table.lines[i], ":", cols[j] + 1,
                  ": column ", util::quoted(s.names[j]), ": ",
                  kind == Cell::empty          ? std::string("empty cell")
                  : kind == Cell::text         ? "not a number: " + util::quoted(cell)
                  : kind == Cell::not_finite   ? "not a finite number: " + util::quoted(cell)
                                               : "out of range: " + util::quoted(cell) +
                                                   " (float32 holds magnitudes up to 3.4e38)",
                  " (use --fill linear or --fill ffill to treat such cells as missing values)");
      v[i][j] = std::nan("");
      missing.push_back(i);
    }
    if (missing.empty()) continue;
    TORCH_CHECK(static_cast<int64_t>(missing.size()) < n, table.path, ": column ", util::quoted(s.names[j]),
                " has no numeric value at all");
    // Fill: leading gaps take the first value present; others per the method.
    int64_t prev = -1;
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isnan(v[i][j])) {
        prev = i;
        continue;
      }
      int64_t next = i + 1;
      while (next < n && std::isnan(v[next][j])) ++next;
      for (int64_t k = i; k < next; ++k) {
        if (prev < 0) v[k][j] = v[next][j];
        else if (next >= n || fill == FillMethod::ffill) v[k][j] = v[prev][j];
        else v[k][j] = v[prev][j] + (v[next][j] - v[prev][j]) * double(k - prev) / double(next - prev);
      }
      i = next - 1;
    }
  }
  if (!time_column.empty()) {
    const int64_t tc = column_index(table, time_column);
    for (const auto& row : table.rows) s.time.push_back(row[tc]);
  }
  return s;
}

SplitSizes split_sizes(int64_t n, double val_fraction, double test_fraction) {
  TORCH_CHECK(val_fraction >= 0 && val_fraction < 1, "val-fraction: expected in [0, 1), got ",
              val_fraction);
  TORCH_CHECK(test_fraction >= 0 && test_fraction < 1, "test-fraction: expected in [0, 1), got ",
              test_fraction);
  SplitSizes s;
  s.val = std::llround(n * val_fraction);
  s.test = std::llround(n * test_fraction);
  s.train = n - s.val - s.test;
  TORCH_CHECK(s.train > 0, "the series of ", n, " steps leaves no training part after ", s.val,
              " validation and ", s.test, " test steps");
  return s;
}

std::string to_string(ScalerKind k) {
  return k == ScalerKind::standard ? "standard" : k == ScalerKind::minmax ? "minmax" : "none";
}

ScalerKind parse_scaler_kind(const std::string& name) {
  if (name == "standard") return ScalerKind::standard;
  if (name == "minmax") return ScalerKind::minmax;
  if (name == "none") return ScalerKind::none;
  TORCH_CHECK(false, "scaler: expected standard, minmax or none, got ", util::quoted(name));
}

Scaler Scaler::fit(ScalerKind kind, const torch::Tensor& values) {
  TORCH_CHECK(values.dim() == 2 && values.size(0) > 0, "scaler: expected [n, C] with n > 0, got ",
              values.sizes());
  const int64_t c = values.size(1);
  Scaler s;
  switch (kind) {
    case ScalerKind::standard:
      s.shift = values.mean(0);
      s.scale = values.std(0, /*unbiased=*/false);
      break;
    case ScalerKind::minmax:
      s.shift = std::get<0>(values.min(0));
      s.scale = std::get<0>(values.max(0)) - s.shift;
      break;
    case ScalerKind::none:
      s.shift = torch::zeros({c}, values.options());
      s.scale = torch::ones({c}, values.options());
      break;
  }
  s.scale = torch::where(s.scale > 1e-12, s.scale, torch::ones_like(s.scale));
  return s;
}

torch::Tensor Scaler::transform(const torch::Tensor& x) const {
  return (x - shift.to(x.options())) / scale.to(x.options());
}

torch::Tensor Scaler::inverse(const torch::Tensor& x) const {
  return x * scale.to(x.options()) + shift.to(x.options());
}

std::string builtin_series_csv() {
  std::mt19937_64 rng(20211);
  std::normal_distribution<double> noise(0.0, 1.0), step(0.0, 0.5);
  std::ostringstream out;
  out.precision(10);
  out << "hour,load,price\n";
  double price = 50.0;
  const double pi = std::acos(-1.0);
  for (int t = 0; t < 2016; ++t) {
    const double load = 100.0 + 0.01 * t + 10.0 * std::sin(2 * pi * t / 24.0) +
                        5.0 * std::sin(2 * pi * t / 168.0) + noise(rng);
    price += step(rng);
    out << t << "," << load << "," << price << "\n";
  }
  return out.str();
}

}  // namespace seqtorch::data
