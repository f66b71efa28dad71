#include <seqtorch/forecast/io.h>
#include <seqtorch/forecast/backtest.h>

#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace seqtorch::forecast {

data::Series load_series(const SeriesOptions& o) {
  const data::CsvTable table = o.data.empty()
                                   ? data::parse_csv(data::builtin_series_csv(), "<built-in series>")
                                   : data::read_csv(o.data);
  const auto targets = data::split_names(o.target);
  TORCH_CHECK(!targets.empty(), "target: no column named; use --target COL[,COL...]");
  return data::select_series(table, targets, data::split_names(o.covariates), o.time_column, o.fill);
}

namespace {
// The step of a numeric time column with a constant step, or NaN.
double constant_time_step(const std::vector<std::string>& time) {
  if (time.size() < 2) return std::nan("");
  std::vector<double> v;
  for (const auto& s : time) {
    char* end = nullptr;
    const double x = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size()) return std::nan("");
    v.push_back(x);
  }
  const double d = v[1] - v[0];
  for (size_t i = 2; i < v.size(); ++i)
    if (std::abs((v[i] - v[i - 1]) - d) > 1e-9 * std::max(1.0, std::abs(d))) return std::nan("");
  return d;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
}  // namespace

std::string forecast_csv(const data::Series& series, const torch::Tensor& mean_in,
                         const torch::Tensor& variance_in) {
  const auto mean = mean_in.to(torch::kCPU, torch::kDouble);
  const int64_t H = mean.size(0), C = mean.size(1);
  const bool intervals = variance_in.defined();
  const auto sd = intervals ? variance_in.to(torch::kCPU, torch::kDouble).sqrt() : torch::Tensor();
  const double step = constant_time_step(series.time);
  const double z80 = normal_quantile_central(0.8), z95 = normal_quantile_central(0.95);
  std::ostringstream out;
  out.precision(10);
  out << "step";
  if (std::isfinite(step)) out << "," << "time";
  for (int64_t c = 0; c < C; ++c) {
    const std::string& n = series.names[c];
    out << "," << csv_field(n);
    if (intervals)
      for (const char* s : {"_lo80", "_hi80", "_lo95", "_hi95"}) out << "," << csv_field(n + s);
  }
  out << "\n";
  for (int64_t h = 0; h < H; ++h) {
    out << h + 1;
    if (std::isfinite(step)) out << "," << std::strtod(series.time.back().c_str(), nullptr) + step * (h + 1);
    for (int64_t c = 0; c < C; ++c) {
      const double m = mean[h][c].item<double>();
      out << "," << m;
      if (intervals) {
        const double s = sd[h][c].item<double>();
        out << "," << m - z80 * s << "," << m + z80 * s << "," << m - z95 * s << "," << m + z95 * s;
      }
    }
    out << "\n";
  }
  return out.str();
}

std::string backtest_csv(const BacktestResult& r, const data::Series& series) {
  TORCH_CHECK(r.actual.defined(), "backtest_csv: the result holds no forecasts");
  const int64_t n = r.actual.size(0), H = r.actual.size(1), C = r.actual.size(2);
  const bool times = static_cast<int64_t>(series.time.size()) >= r.first_origin + n + H - 1;
  std::vector<std::pair<const char*, torch::Tensor>> columns{{"actual", r.actual},
                                                             {"seqtorch", r.model_forecast},
                                                             {"naive", r.naive_forecast},
                                                             {"seasonal_naive", r.seasonal_naive_forecast}};
  if (r.ets_forecast.defined()) columns.emplace_back("ets", r.ets_forecast);
  if (r.theta_forecast.defined()) columns.emplace_back("theta", r.theta_forecast);
  std::vector<torch::Tensor> keep;  // the columns' tensors, alive while `at` reads them
  for (const auto& column : columns) keep.push_back(column.second.to(torch::kCPU, torch::kDouble).contiguous());
  std::vector<torch::TensorAccessor<double, 3>> at;
  for (const auto& t : keep) at.push_back(t.accessor<double, 3>());
  std::ostringstream out;
  out.precision(10);
  out << "origin" << (times ? ",time" : "") << ",step,series";
  for (const auto& column : columns) out << "," << column.first;
  out << "\n";
  for (int64_t i = 0; i < n; ++i)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t c = 0; c < C; ++c) {
        out << r.first_origin + i;
        if (times) out << "," << csv_field(series.time[r.first_origin + i + h]);
        out << "," << h + 1 << "," << csv_field(c < static_cast<int64_t>(series.names.size()) ? series.names[c] : "?");
        for (const auto& a : at) out << "," << a[i][h][c];
        out << "\n";
      }
  return out.str();
}

}  // namespace seqtorch::forecast
