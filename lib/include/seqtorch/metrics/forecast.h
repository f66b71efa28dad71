#pragma once
// Point-forecast errors. Inputs are forecasts and actuals of the same shape, in original units.
#include <torch/types.h>

namespace seqtorch::metrics {

/// Mean absolute error.
double mae(const torch::Tensor& forecast, const torch::Tensor& actual);
/// Root mean squared error.
double rmse(const torch::Tensor& forecast, const torch::Tensor& actual);
/// Symmetric MAPE in percent: mean(200 |f - a| / (|f| + |a|)), terms with f = a = 0 count 0.
double smape(const torch::Tensor& forecast, const torch::Tensor& actual);
/// The MASE scale of one series y [n]: the in-sample MAE of the seasonal-naive forecast with
/// season m, mean |y[t] - y[t - m]| over t >= m. Throws if n <= m.
double seasonal_naive_scale(const torch::Tensor& y, int64_t m);
/// Fraction of actuals inside [lo, hi].
double coverage(const torch::Tensor& lo, const torch::Tensor& hi, const torch::Tensor& actual);

}  // namespace seqtorch::metrics
