#include <seqtorch/metrics/forecast.h>

#include <torch/torch.h>

namespace seqtorch::metrics {

namespace {
void check(const torch::Tensor& f, const torch::Tensor& a, const char* what) {
  TORCH_CHECK(f.sizes() == a.sizes(), what, ": forecast shape ", f.sizes(), " but actual shape ",
              a.sizes());
  TORCH_CHECK(f.numel() > 0, what, ": no values");
}
}  // namespace

double mae(const torch::Tensor& f, const torch::Tensor& a) {
  check(f, a, "mae");
  return (f - a).abs().mean().item<double>();
}

double rmse(const torch::Tensor& f, const torch::Tensor& a) {
  check(f, a, "rmse");
  return (f - a).pow(2).mean().sqrt().item<double>();
}

double smape(const torch::Tensor& f, const torch::Tensor& a) {
  check(f, a, "smape");
  auto den = f.abs() + a.abs();
  auto term = torch::where(den > 0, 200.0 * (f - a).abs() / den.clamp_min(1e-300), torch::zeros_like(den));
  return term.mean().item<double>();
}

double seasonal_naive_scale(const torch::Tensor& y, int64_t m) {
  TORCH_CHECK(m >= 1, "season: expected >= 1, got ", m);
  TORCH_CHECK(y.dim() == 1 && y.size(0) > m, "MASE scale: need more than m = ", m,
              " values before the test part, got ", y.numel());
  return (y.narrow(0, m, y.size(0) - m) - y.narrow(0, 0, y.size(0) - m)).abs().mean().item<double>();
}

double coverage(const torch::Tensor& lo, const torch::Tensor& hi, const torch::Tensor& a) {
  check(lo, a, "coverage");
  check(hi, a, "coverage");
  return ((a >= lo) & (a <= hi)).to(torch::kDouble).mean().item<double>();
}

}  // namespace seqtorch::metrics
