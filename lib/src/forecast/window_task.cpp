#include <seqtorch/forecast/window_task.h>
#include <seqtorch/util/messages.h>

#include <torch/torch.h>

namespace seqtorch::forecast {

PreparedSeries prepare_series(const data::Series& series, double val_fraction,
                              double test_fraction, data::ScalerKind scaler, int64_t window,
                              int64_t horizon) {
  const int64_t n = series.values.size(0);
  TORCH_CHECK(horizon >= 1, "horizon: expected >= 1, got ", horizon);
  TORCH_CHECK(window >= 1, "window: expected >= 1, got ", window);
  PreparedSeries p;
  p.split = data::split_sizes(n, val_fraction, test_fraction);
  TORCH_CHECK(n >= window + horizon + p.split.test, "the series has ", n,
              " steps, fewer than window + horizon + test part = ", window, " + ", horizon, " + ",
              p.split.test, " = ", window + horizon + p.split.test);
  p.scaler = data::Scaler::fit(scaler, series.values.narrow(0, 0, p.split.train));
  p.scaled = p.scaler.transform(series.values);
  return p;
}

data::Series log_targets(const data::Series& series) {
  data::Series out = series;
  out.values = series.values.clone();
  for (int64_t c = 0; c < series.targets; ++c) {
    auto column = out.values.select(1, c);
    TORCH_CHECK((column > 0).all().item<bool>(), "transform log: column ", util::quoted(series.names[c]),
                " has a value <= 0 (logarithms need positive values)");
    column.log_();
  }
  return out;
}

PreparedSeries without_validation(const data::Series& series, const PreparedSeries& prepared,
                                  data::ScalerKind scaler) {
  PreparedSeries p;
  p.split = {prepared.split.train + prepared.split.val, 0, prepared.split.test};
  p.scaler = data::Scaler::fit(scaler, series.values.narrow(0, 0, p.split.train));
  p.scaled = p.scaler.transform(series.values);
  return p;
}

PreparedSeries earlier_origin(const data::Series& series, data::ScalerKind scaler, int64_t train, int64_t val) {
  TORCH_CHECK(train >= 1 && val >= 1 && train + val <= series.values.size(0), "earlier_origin: training ", train,
              " and validation ", val, " steps of a series of ", series.values.size(0));
  PreparedSeries p;
  p.split = {train, val, 0};
  p.scaler = data::Scaler::fit(scaler, series.values.narrow(0, 0, train));
  p.scaled = p.scaler.transform(series.values.narrow(0, 0, train + val));
  return p;
}

WindowTask::WindowTask(Forecaster model, torch::Tensor scaled, data::SplitSizes split,
                       int64_t batch_size, uint64_t seed, torch::Device device, train::Shard shard)
    : model_(std::move(model)), scaled_(std::move(scaled)), batch_size_(batch_size * shard.world_size),
      seed_(seed), shard_(shard), device_(device) {
  const int64_t L = model_->input_window(), H = model_->options.horizon();
  TORCH_CHECK(batch_size >= 1, "batch-size: expected >= 1, got ", batch_size);
  shard.check();
  const int64_t n_train = split.train - L - H + 1;
  TORCH_CHECK(n_train >= 1, "the training part has ", split.train,
              " steps, fewer than window + horizon = ", L + H,
              "; use a longer series, a shorter window or smaller --val-fraction/--test-fraction");
  train_starts_ = torch::arange(n_train, torch::kLong);
  if (split.val == 0) {  // a refit: in-sample evaluation on the last training windows
    val_starts_ = torch::arange(std::max<int64_t>(0, n_train - H), n_train, torch::kLong);
    return;
  }
  const int64_t first = split.train - L, last = split.train + split.val - L - H;
  TORCH_CHECK(last >= first, "the validation part has ", split.val,
              " steps, fewer than the horizon ", H, "; raise --val-fraction");
  val_starts_ = torch::arange(first, last + 1, torch::kLong);
}

std::pair<torch::Tensor, torch::Tensor> WindowTask::gather(const torch::Tensor& starts) const {
  const int64_t L = model_->input_window(), H = model_->options.horizon();
  const int64_t C = model_->options.targets();
  auto idx = starts.unsqueeze(1) + torch::arange(L + H, torch::kLong).unsqueeze(0);  // [n, L+H]
  auto all = scaled_.index_select(0, idx.flatten()).view({starts.size(0), L + H, -1});
  auto x = all.narrow(1, 0, L), y = all.narrow(1, L, H).narrow(2, 0, C);
  return {x.to(device_, torch::kFloat), y.to(device_, torch::kFloat)};
}

int64_t WindowTask::batches_per_epoch() {
  return (train_windows() + batch_size_ - 1) / batch_size_;
}

void WindowTask::start_epoch(int64_t epoch) {
  order_ = torch::randperm(train_windows(),
                           at::detail::createCPUGenerator(seed_ * 1000003 + static_cast<uint64_t>(epoch)),
                           torch::kLong);
}

train::StepLoss WindowTask::train_loss(int64_t, int64_t index) {
  // Global batch `index` of the epoch's order (the same on every process), then this process's part.
  const int64_t begin = index * batch_size_;
  const auto part = shard_.part(std::min(batch_size_, train_windows() - begin));
  if (part.size() == 0) return {torch::Tensor(), 0};
  auto [x, y] = gather(train_starts_.index_select(0, order_.narrow(0, begin + part.begin, part.size())));
  return {model_->loss(x, y), part.size()};
}

std::map<std::string, double> WindowTask::evaluate() {
  const int64_t C = model_->options.targets();
  double loss_sum = 0, abs_sum = 0, sq_sum = 0;
  int64_t count = 0;
  const auto scale = model_->scaler_scale.narrow(0, 0, C).to(torch::kCPU, torch::kDouble);
  for (int64_t b = 0; b < val_windows(); b += 1024) {
    const int64_t n = std::min<int64_t>(1024, val_windows() - b);
    auto [x, y] = gather(val_starts_.narrow(0, b, n));
    const Forecast f = model_->forecast_scaled(x);
    loss_sum += model_->forecast_loss(f, y).item<double>() * n;
    auto mean = f.mean;
    abs_sum += ((mean - y).abs().to(torch::kCPU, torch::kDouble) * scale).sum().item<double>();
    sq_sum += (mean - y).to(torch::kDouble).pow(2).sum().item<double>();
    count += n;
  }
  return {{"loss", loss_sum / count},
          {"mae", abs_sum / (count * model_->options.horizon() * C)},
          {"mse", sq_sum / (count * model_->options.horizon() * C)}};
}

}  // namespace seqtorch::forecast
