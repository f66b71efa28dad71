#pragma once
// The forecasting model of seqtorch-forecast: a window of L past steps in, H future steps out.
// Three shapes from the seed note (§5):
//   seq2seq  many-to-many, trained on the series shifted by one step (o(t) predicts x(t+1));
//            H steps ahead by feeding each prediction back as the next input
//   seq2vec  many-to-one: one head emits all H steps at once
//   encdec   encoder-decoder: the encoder reads the window, the decoder rolls out H steps, fed
//            the previous value (the truth with probability teacher_forcing in training, its
//            own prediction otherwise)
// The scaler lives inside the model as buffers, so predict and the TorchScript export take and
// give original units. Shapes: B batch, L window, H horizon, C targets, K covariates.
#include <seqtorch/data/series.h>
#include <seqtorch/nn/sequence_shapes.h>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>

namespace seqtorch::forecast {

enum class Mode { seq2seq, seq2vec, encdec };
std::string to_string(Mode m);
Mode parse_mode(const std::string& name);

enum class Loss { mse, mae, gaussian };
std::string to_string(Loss l);
Loss parse_loss(const std::string& name);

struct ForecasterOptions {
  ForecasterOptions(int64_t targets, int64_t window, int64_t horizon)
      : targets_(targets), window_(window), horizon_(horizon) {}
  /// Target channels C.
  TORCH_ARG(int64_t, targets);
  /// Covariate channels K (inputs only; not with seq2seq, which must feed its inputs back).
  TORCH_ARG(int64_t, covariates) = 0;
  /// Window L (the length trained on; forecasting accepts any length >= 1).
  TORCH_ARG(int64_t, window);
  /// Horizon H >= 1.
  TORCH_ARG(int64_t, horizon);
  TORCH_ARG(Mode, mode) = Mode::seq2vec;
  /// mse | mae | gaussian (then a mean and a variance per step).
  TORCH_ARG(Loss, loss) = Loss::mse;
  TORCH_ARG(nn::CellKind, cell) = nn::CellKind::lstm;
  TORCH_ARG(int64_t, hidden_size) = 64;
  TORCH_ARG(int64_t, num_layers) = 1;
  TORCH_ARG(double, dropout) = 0.0;
  /// encdec: probability of feeding the true previous value in training.
  TORCH_ARG(double, teacher_forcing) = 0.5;
  /// Work relative to the window's last target value: subtract it from the window's targets and
  /// add it back to the forecast, so a level or trend beyond the training range does not
  /// leave the model in unseen territory.
  TORCH_ARG(bool, relative) = true;
};

/// A forecast: `mean` [B, H, C]; `variance` [B, H, C] with the gaussian loss, else undefined.
struct Forecast {
  torch::Tensor mean, variance;
};

class ForecasterImpl : public torch::nn::Module {
 public:
  explicit ForecasterImpl(const ForecasterOptions& options);
  /// Stores the scaler (fitted on the training part) in the buffers `scaler_shift`,
  /// `scaler_scale` [C+K].
  void set_scaler(const data::Scaler& scaler);

  /// Scaled window x [B, L, C+K] -> scaled forecast.
  Forecast forecast_scaled(const torch::Tensor& x);
  /// Training loss on scaled data: x [B, L, C+K], future targets y [B, H, C]. seq2seq learns
  /// one step ahead at every step of the window (targets x[1..L-1] then y[0]).
  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y);
  /// Window in original units [B, L, C+K] -> forecast in original units (variance in units^2).
  Forecast forward(const torch::Tensor& window);

  ForecasterOptions options;
  nn::ManyToMany seq{nullptr};          // seq2seq
  nn::ManyToOne vec{nullptr};           // seq2vec
  nn::EncoderDecoder encdec{nullptr};   // encdec
  torch::Tensor scaler_shift, scaler_scale;

 private:
  // Head output [.., C or 2C] -> mean (and variance).
  Forecast split_head(const torch::Tensor& out) const;
  torch::Tensor step_loss(const Forecast& f, const torch::Tensor& y) const;
  // The window made relative to its last target values: {x - level on the target channels,
  // level [B, 1, C]} (level zero when `relative` is off).
  std::pair<torch::Tensor, torch::Tensor> to_relative(const torch::Tensor& x) const;
  // Forecast from a relative window (no level added back).
  Forecast forecast_relative(const torch::Tensor& x);
  // encdec roll-out: teacher forcing with probability p (0 when forecasting).
  Forecast decode(const torch::Tensor& x, const torch::Tensor& y, double p);
};
TORCH_MODULE(Forecaster);

}  // namespace seqtorch::forecast
