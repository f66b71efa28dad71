#pragma once
// Rolling-origin backtest over the test part: each origin t0 forecasts steps t0 .. t0+H-1 from
// the L steps before it, for the model and for the baselines: naive (last value), seasonal
// naive (value one season earlier), ETS and Theta (forecast/classical.h: fitted per target
// series on all data before the test part, states run up to each origin). MASE divides by the
// in-sample seasonal-naive MAE (season m) of all data before the test part, per target
// channel, then averages.
#include <seqtorch/forecast/forecaster.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace seqtorch::forecast {

struct BacktestResult {
  /// {"mae", "rmse", "smape", "mase"} of each forecaster over all target series (ETS and Theta:
  /// empty when the data before the test part has fewer than 4 steps).
  std::map<std::string, double> model, naive, seasonal_naive, ets, theta;
  /// The same per target series: per_series[c]["model" | "naive" | "seasonal_naive" | "ets" |
  /// "theta"].
  std::vector<std::map<std::string, std::map<std::string, double>>> per_series;
  /// The ETS form AICc chose for each target series ("ETS(A,Ad,M)", ...).
  std::vector<std::string> ets_forms;
  /// Share of actuals inside the 80% and 95% intervals (gaussian models only; NaN otherwise).
  double coverage80 = std::numeric_limits<double>::quiet_NaN();
  double coverage95 = std::numeric_limits<double>::quiet_NaN();
  int64_t origins = 0, horizon = 0;
  /// The first origin (the first test step); origin i is first_origin + i.
  int64_t first_origin = 0;
  /// What was compared, in original units, [origins, H, C] float64 each: the actual values and
  /// each forecaster's forecasts (ets and theta undefined where their metrics are empty).
  torch::Tensor actual, model_forecast, naive_forecast, seasonal_naive_forecast, ets_forecast, theta_forecast;
};

/// values: the raw series [N, C+K] (C targets first); test_start: the first test step.
/// Requires test_start >= window and at least one origin (N - test_start >= H).
BacktestResult backtest(Forecaster& model, const torch::Tensor& values, int64_t test_start,
                        int64_t season, torch::Device device);

/// The result as `evaluate` prints it: a header line, one row per forecaster (MAE, RMSE, sMAPE,
/// MASE) named `model_name` for the model, the ETS forms, interval coverage when there is one
/// and, for several target series (`names`: targets first), a MASE table per series.
std::string backtest_table(const BacktestResult& r, const std::string& model_name,
                           const std::vector<std::string>& names, int64_t season);

/// Forecasts of the two baselines for origins t0 (given as [n] int64) over horizon H:
/// [n, H, C] each, from the raw target values [N, C].
torch::Tensor naive_forecast(const torch::Tensor& targets, const torch::Tensor& origins, int64_t horizon);
torch::Tensor seasonal_naive_forecast(const torch::Tensor& targets, const torch::Tensor& origins,
                                      int64_t horizon, int64_t season);

/// z of the central interval `level` (0.8 -> 1.2816, 0.95 -> 1.9600).
double normal_quantile_central(double level);

}  // namespace seqtorch::forecast
