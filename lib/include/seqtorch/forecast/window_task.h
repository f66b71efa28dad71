#pragma once
// Training windows for the engine: every (window, future) pair inside the training part, in an
// order drawn from (seed, epoch); validation on every pair whose future lies in the validation
// part (its window may reach back into the training part). Nothing from the test part is read.
#include <seqtorch/data/series.h>
#include <seqtorch/forecast/forecaster.h>
#include <seqtorch/train/trainer.h>

#include <cstdint>

namespace seqtorch::forecast {

/// A series ready for training: its parts, and the scaler fitted on the training part alone.
struct PreparedSeries {
  data::SplitSizes split;
  data::Scaler scaler;
  /// The whole series scaled by that scaler [N, C+K].
  torch::Tensor scaled;
};

/// Splits chronologically and fits the scaler on the training part only. Throws when the
/// series is shorter than window + horizon + the test part.
PreparedSeries prepare_series(const data::Series& series, double val_fraction,
                              double test_fraction, data::ScalerKind scaler, int64_t window,
                              int64_t horizon);

/// The series with the logarithm of its target columns (for ForecasterOptions::log). Throws
/// naming the column when a target value is <= 0.
data::Series log_targets(const data::Series& series);

/// The same series with its validation part joined to the training part (validation 0) and
/// the scaler fitted on both: for a final fit once the settings are chosen.
PreparedSeries without_validation(const data::Series& series, const PreparedSeries& prepared,
                                  data::ScalerKind scaler);

/// An earlier origin of the same series: its first `train` steps for training (the scaler
/// fitted on them), the next `val` for validation, nothing after (the folds of the choice among
/// forms, forecast/training.h).
PreparedSeries earlier_origin(const data::Series& series, data::ScalerKind scaler, int64_t train, int64_t val);

class WindowTask : public train::TrainTask {
 public:
  /// scaled: the scaled series [N, C+K]; split: its parts; batch_size: windows per process (a
  /// global batch is batch_size x shard.world_size windows, of which this process trains on part
  /// shard.rank). Throws when the training part has no full window + horizon or the validation
  /// part is shorter than the horizon. Without a validation part (split.val 0, a refit),
  /// evaluate() reads the last H training windows (in-sample).
  WindowTask(Forecaster model, torch::Tensor scaled, data::SplitSizes split, int64_t batch_size,
             uint64_t seed, torch::Device device, train::Shard shard = {});
  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() override;
  void start_epoch(int64_t epoch) override;
  train::StepLoss train_loss(int64_t epoch, int64_t index) override;
  /// {"loss": the scaled loss of the forecast (ForecasterImpl::forecast_loss), "mae": MAE of the
  /// mean forecast in the units the model learns (original, or logarithms with the log transform),
  /// "mse": MSE of the mean forecast, scaled}.
  std::map<std::string, double> evaluate() override;
  int64_t train_windows() const { return train_starts_.size(0); }
  int64_t val_windows() const { return val_starts_.size(0); }

 private:
  // Windows [n, L, C+K] and futures [n, H, C] starting at `starts`.
  std::pair<torch::Tensor, torch::Tensor> gather(const torch::Tensor& starts) const;

  Forecaster model_;
  torch::Tensor scaled_, train_starts_, val_starts_, order_;
  int64_t batch_size_;  // global: per process x world size
  uint64_t seed_;
  train::Shard shard_;
  torch::Device device_;
};

}  // namespace seqtorch::forecast
