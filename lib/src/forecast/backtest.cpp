#include <seqtorch/forecast/backtest.h>
#include <seqtorch/forecast/classical.h>
#include <seqtorch/metrics/forecast.h>

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <iterator>

namespace seqtorch::forecast {

torch::Tensor naive_forecast(const torch::Tensor& targets, const torch::Tensor& origins, int64_t horizon) {
  return targets.index_select(0, origins - 1).unsqueeze(1).expand({origins.size(0), horizon, targets.size(1)});
}

torch::Tensor seasonal_naive_forecast(const torch::Tensor& targets, const torch::Tensor& origins,
                                      int64_t horizon, int64_t season) {
  TORCH_CHECK(season >= 1, "season: expected >= 1, got ", season);
  // Step t0 + h takes the value at t0 + h - m * (floor(h / m) + 1): the same phase of the last
  // season before the origin.
  auto h = torch::arange(horizon, torch::kLong);
  auto back = h - season * (torch::div(h, season, "floor") + 1);                // [H], negative
  auto idx = origins.unsqueeze(1) + back.unsqueeze(0);                          // [n, H]
  TORCH_CHECK(idx.min().item<int64_t>() >= 0, "seasonal naive: season ", season,
              " reaches before the start of the series");
  return targets.index_select(0, idx.flatten()).view({origins.size(0), horizon, targets.size(1)});
}

double normal_quantile_central(double level) {
  TORCH_CHECK(level > 0 && level < 1, "interval level: expected in (0, 1), got ", level);
  // Inverse of the normal CDF at (1 + level) / 2 by bisection on erf: exact to 1e-12.
  const double target = (1 + level) / 2;
  double lo = 0, hi = 10;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < target ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

namespace {
std::map<std::string, double> errors(const torch::Tensor& f, const torch::Tensor& a,
                                     const std::vector<double>& scales) {
  if (!f.defined()) return {};
  double mase = 0;
  for (int64_t c = 0; c < f.size(2); ++c)
    mase += metrics::mae(f.select(2, c), a.select(2, c)) / scales[c];
  return {{"mae", metrics::mae(f, a)},
          {"rmse", metrics::rmse(f, a)},
          {"smape", metrics::smape(f, a)},
          {"mase", mase / static_cast<double>(f.size(2))}};
}
}  // namespace

BacktestResult backtest(Forecaster& model, const torch::Tensor& values, int64_t test_start,
                        int64_t season, torch::Device device) {
  const int64_t L = model->input_window(), H = model->options.horizon();
  const int64_t C = model->options.targets(), N = values.size(0);
  TORCH_CHECK(test_start >= L, "backtest: the test part starts at step ", test_start,
              ", before a full window of ", L, " steps");
  TORCH_CHECK(N - test_start >= H, "backtest: the test part has ", N - test_start,
              " steps, fewer than the horizon ", H);
  const auto raw = values.to(torch::kDouble);
  const auto targets = raw.narrow(1, 0, C);
  std::vector<double> scales;
  for (int64_t c = 0; c < C; ++c) {
    scales.push_back(metrics::seasonal_naive_scale(targets.narrow(0, 0, test_start).select(1, c), season));
    TORCH_CHECK(scales.back() > 0, "MASE: the series before the test part is constant (scale 0)");
  }
  BacktestResult r;
  r.horizon = H;
  r.first_origin = test_start;
  auto origins = torch::arange(test_start, N - H + 1, torch::kLong);
  r.origins = origins.size(0);
  auto idx = origins.unsqueeze(1) + torch::arange(H, torch::kLong).unsqueeze(0);
  auto actual = targets.index_select(0, idx.flatten()).view({r.origins, H, C});
  // The model, in batches of origins.
  std::vector<torch::Tensor> means, vars;
  model->eval();
  {
    torch::NoGradGuard no_grad;
    for (int64_t b = 0; b < r.origins; b += 512) {
      auto o = origins.narrow(0, b, std::min<int64_t>(512, r.origins - b));
      auto widx = o.unsqueeze(1) - L + torch::arange(L, torch::kLong).unsqueeze(0);
      auto windows = raw.index_select(0, widx.flatten()).view({o.size(0), L, -1});
      Forecast f = model->forward(windows.to(device, torch::kFloat));
      means.push_back(f.mean.to(torch::kCPU, torch::kDouble));
      if (f.variance.defined()) vars.push_back(f.variance.to(torch::kCPU, torch::kDouble));
    }
  }
  auto mean = torch::cat(means);
  // The classical baselines, per target series: fitted before the test part.
  torch::Tensor ets, theta;
  if (test_start >= 4) {
    ets = torch::empty({r.origins, H, C}, torch::kDouble);
    theta = torch::empty({r.origins, H, C}, torch::kDouble);
    const std::vector<int64_t> at(origins.data_ptr<int64_t>(), origins.data_ptr<int64_t>() + r.origins);
    for (int64_t c = 0; c < C; ++c) {
      const auto col = targets.select(1, c).contiguous();
      const std::vector<double> y(col.data_ptr<double>(), col.data_ptr<double>() + N);
      const std::vector<double> fit(y.begin(), y.begin() + test_start);
      const EtsModel e = fit_ets_auto(fit, season);
      r.ets_forms.push_back(to_string(e.spec));
      const auto fe = ets_forecast(e, y, at, H);
      const auto ft = theta_forecast(fit_theta(fit, season), y, at, H);
      auto ea = ets.accessor<double, 3>(), ta = theta.accessor<double, 3>();
      for (int64_t i = 0; i < r.origins; ++i)
        for (int64_t h = 0; h < H; ++h) {
          ea[i][h][c] = fe[i][h];
          ta[i][h][c] = ft[i][h];
        }
    }
  }
  const std::pair<const char*, torch::Tensor> forecasts[] = {
      {"model", mean},
      {"naive", naive_forecast(targets, origins, H)},
      {"seasonal_naive", seasonal_naive_forecast(targets, origins, H, season)},
      {"ets", ets},
      {"theta", theta}};
  std::map<std::string, double>* overall[] = {&r.model, &r.naive, &r.seasonal_naive, &r.ets, &r.theta};
  r.actual = actual;
  r.model_forecast = mean;
  r.naive_forecast = forecasts[1].second;
  r.seasonal_naive_forecast = forecasts[2].second;
  r.ets_forecast = ets;
  r.theta_forecast = theta;
  r.per_series.resize(C);
  for (size_t k = 0; k < std::size(forecasts); ++k) {
    const auto& [name, f] = forecasts[k];
    *overall[k] = errors(f, actual, scales);
    for (int64_t c = 0; c < C && f.defined(); ++c)
      r.per_series[c][name] = errors(f.narrow(2, c, 1), actual.narrow(2, c, 1), {scales[c]});
  }
  if (!vars.empty()) {
    auto sd = torch::cat(vars).sqrt();
    const std::pair<double, double*> levels[] = {{0.8, &r.coverage80}, {0.95, &r.coverage95}};
    for (const auto& [level, out] : levels) {
      const double z = normal_quantile_central(level);
      *out = metrics::coverage(mean - z * sd, mean + z * sd, actual);
    }
  }
  return r;
}

std::string backtest_table(const BacktestResult& r, const std::string& model_name,
                           const std::vector<std::string>& names, int64_t season) {
  std::string out;
  char line[512];
  auto add = [&](const char* format, auto... args) {
    std::snprintf(line, sizeof line, format, args...);
    out += line;
  };
  add("rolling-origin backtest: %lld origins, horizon %lld, season %lld\n", static_cast<long long>(r.origins),
      static_cast<long long>(r.horizon), static_cast<long long>(season));
  add("%-18s%12s%12s%12s%10s\n", "forecaster", "MAE", "RMSE", "sMAPE %", "MASE");
  const std::pair<std::string, std::string> rows[] = {{model_name, "model"}, {"naive", "naive"},
                                                      {"seasonal naive", "seasonal_naive"}, {"ETS", "ets"},
                                                      {"Theta", "theta"}};
  const std::map<std::string, double>* maps[] = {&r.model, &r.naive, &r.seasonal_naive, &r.ets, &r.theta};
  for (size_t k = 0; k < std::size(rows); ++k) {
    const auto& m = *maps[k];
    if (m.empty()) continue;
    add("%-18s%12.4f%12.4f%12.3f%10.4f\n", rows[k].first.c_str(), m.at("mae"), m.at("rmse"), m.at("smape"), m.at("mase"));
  }
  if (!r.ets_forms.empty()) {
    std::string forms;
    for (size_t c = 0; c < r.ets_forms.size(); ++c)
      forms += (c ? ", " : "") + (r.ets_forms.size() > 1 && c < names.size() ? names[c] + " " : std::string()) + r.ets_forms[c];
    add("ETS forms (AICc): %s\n", forms.c_str());
  }
  if (std::isfinite(r.coverage80)) add("interval coverage: 80%% -> %.3f, 95%% -> %.3f\n", r.coverage80, r.coverage95);
  if (r.per_series.size() > 1) {
    add("MASE per series:\n%-18s", "series");
    for (const auto& row : rows)
      if (r.per_series[0].count(row.second)) add("%16s", row.first.substr(0, 15).c_str());
    out += "\n";
    for (size_t c = 0; c < r.per_series.size(); ++c) {
      add("%-18s", c < names.size() ? names[c].substr(0, 17).c_str() : "?");
      for (const auto& row : rows)
        if (r.per_series[c].count(row.second)) add("%16.4f", r.per_series[c].at(row.second).at("mase"));
      out += "\n";
    }
  }
  return out;
}

}  // namespace seqtorch::forecast
