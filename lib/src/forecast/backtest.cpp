#include <seqtorch/forecast/backtest.h>
#include <seqtorch/metrics/forecast.h>

#include <torch/torch.h>

#include <cmath>

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
  const int64_t L = model->options.window(), H = model->options.horizon();
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
  r.model = errors(mean, actual, scales);
  r.naive = errors(naive_forecast(targets, origins, H), actual, scales);
  r.seasonal_naive = errors(seasonal_naive_forecast(targets, origins, H, season), actual, scales);
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

}  // namespace seqtorch::forecast
