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

#include <memory>
#include <vector>

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

/// What the network's output is added to (the base), per target channel; the network's inputs
/// are the window minus its last value in every form but none.
///   none      nothing: the network forecasts scaled values
///   last      the window's last value (a level beyond the training range stays in known territory)
///   season    seasonal naive: step h takes the window's value one season (m) before it, so the
///             network learns the correction to repeating the last season (window >= m)
///   deseason  the window's own seasonal profile (the mean deviation of each phase from its
///             season's mean over the last floor(L / m) seasons) is removed from the inputs; the
///             forecast is the last deseasonalised value plus the profile plus the network's
///             correction (window >= m; reads the last floor(L / m) * m steps)
///   trend     as deseason, but from the mean of the last season (not its last value) plus the
///             drift between the first and the last season's means, carried on: a classical
///             decomposition forecast (seasonal profile + linear trend) of the window; with
///             m = 1 the window's average slope from its last value (the drift method). Not with
///             seq2seq.
///   ets       exponential smoothing run over the last L steps (forecast::ets_window_base: an
///             additive ETS fitted to the training part of each target, its seasonal profile
///             kept in the model and aligned to the window by the best match), the hybrid of
///             ES-RNN (Smyl 2020): the network learns the correction to ETS's forecast. The
///             weights come from set_ets_base (train_forecaster fits them); window >= 2 m
///             (>= 4 without a season). Not with seq2seq.
enum class Relative { none, last, season, deseason, trend, ets };
std::string to_string(Relative r);
/// none | last | season | deseason | trend | ets (apps add `auto`: the best of the candidates on
/// validation).
Relative parse_relative(const std::string& name);

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
  /// The base the network's output is added to (see Relative).
  TORCH_ARG(Relative, relative) = Relative::last;
  /// Season m of the season and deseason forms.
  TORCH_ARG(int64_t, season) = 1;
  /// Members of a seed ensemble (independently initialised networks trained side by side on
  /// the same batches, the loss their mean): the forecast is the members' mean; with the
  /// gaussian loss the variance is the members' mean variance plus their spread.
  TORCH_ARG(int64_t, ensemble) = 1;
  /// One network shared by every target series (global model, DeepAR-style): each target
  /// channel is forecast alone from its own (separately scaled) window; without it (joint) one
  /// network reads and forecasts all channels together. Takes no covariates.
  TORCH_ARG(bool, global) = false;
  /// Work on the logarithm of the targets (all values must be > 0): a season whose amplitude
  /// grows with the level becomes additive. The model's scaler is then fitted on the logs
  /// (forecast::log_targets); forward takes and gives original units (the forecast is exp of
  /// the log forecast, the variance by the delta method, exp(2 mean) times the log variance; a
  /// value <= 0 in the window gives NaN: the apps refuse such data with log_targets).
  TORCH_ARG(bool, log) = false;
  /// A combination of forms (Bates and Granger 1969): one model per form listed, each with
  /// these options and that form (registered as `part_<form>`; the ets form's window is
  /// ets_window where > 0), the forecast their weighted mean in the learned units, weights in
  /// the buffer `combine_weights` (set_combine_weights; forecast::train_candidates gives each
  /// form the inverse of its validation MSE), the variance a mixture's. `relative` is then
  /// unused. Not trained as a whole: each part is trained alone, then loaded into it. Empty:
  /// one form, `relative`.
  TORCH_ARG(std::vector<Relative>, combine) = {};
  /// The window of the ets part of a combination (0: window).
  TORCH_ARG(int64_t, ets_window) = 0;
};

/// The form's name: to_string(relative), or a combination's forms joined by commas.
std::string form_name(const ForecasterOptions& options);
/// "a,b,c" -> {a, b, c} (each parse_relative's; refuses a repeated form).
std::vector<Relative> parse_relatives(const std::string& names);

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

  /// Scaled window x [B, L, C+K] -> scaled forecast (a combination's: each part reads its last
  /// steps).
  Forecast forecast_scaled(const torch::Tensor& x);
  /// Training loss on scaled data: x [B, L, C+K], future targets y [B, H, C] (not of a
  /// combination). seq2seq learns one step ahead at every step of the window (targets
  /// x[1..L-1] then y[0]).
  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y);
  /// The loss of a forecast from forecast_scaled (free-running H steps, the ensemble's mean and
  /// mixture variance) against the scaled future y: what validation compares, alike for every
  /// mode and form (for seq2seq `loss` is the one-step loss along the window).
  torch::Tensor forecast_loss(const Forecast& f, const torch::Tensor& y) const;
  /// Window in original units [B, L, C+K] -> forecast in original units (variance in units^2).
  Forecast forward(const torch::Tensor& window);
  /// Steps the model reads: the window, or a combination's longest part's.
  int64_t input_window() const;
  /// A combination's weights, one per part in the order of options.combine (normalised to sum
  /// to 1; each >= 0, not all 0).
  void set_combine_weights(const std::vector<double>& weights);

  /// The ets form's base for target channel `target`, from forecast::ets_window_base (its
  /// rotations, horizon and window those of the model's season, horizon and window), in the
  /// units the model learns (scaled, and logarithms with `log`). A combination gives it to its
  /// ets part.
  void set_ets_base(int64_t target, const std::vector<double>& weights, const std::vector<double>& offsets,
                    const std::vector<double>& profile);

  /// Zeroes the networks' output layers: the model then forecasts its base exactly (as it
  /// does when built, in modes seq2vec and seq2seq).
  void zero_heads();
  /// Whether forecasts carry a variance (the gaussian loss).
  bool has_variance() const;

  ForecasterOptions options;
  /// One network per ensemble member, of the mode's shape (the first registered as `seq`,
  /// `vec` or `encdec`, member k as `seq<k>`, ...).
  std::vector<nn::ManyToMany> seq;          // seq2seq
  std::vector<nn::ManyToOne> vec;           // seq2vec
  std::vector<nn::EncoderDecoder> encdec;   // encdec
  torch::Tensor scaler_shift, scaler_scale;
  /// The ets form's base (registered with that form only): ets_weights [C, R, H, L],
  /// ets_offsets [C, R, H], ets_profiles [C, R, m] (row r: the profile rotated by r, for the
  /// match), R = m rotations (1 without a season).
  torch::Tensor ets_weights, ets_offsets, ets_profiles;
  /// A combination's parts (options.combine's order) and their weights [P].
  std::vector<std::shared_ptr<ForecasterImpl>> parts;
  torch::Tensor combine_weights;

 private:
  // Channels one network forecasts: C, or 1 for a global model.
  int64_t net_targets() const;
  // Global models: [B, T, C] -> [B*C, T, 1] (each series its own row) and back.
  torch::Tensor fold(const torch::Tensor& x) const;
  torch::Tensor unfold(const torch::Tensor& x) const;
  // Head output [.., c or 2c] -> mean (and variance).
  Forecast split_head(const torch::Tensor& out) const;
  torch::Tensor step_loss(const Forecast& f, const torch::Tensor& y) const;
  // The ets form's base of the last L steps w [B, L, C]: [B, H, C].
  torch::Tensor ets_base(const torch::Tensor& w) const;
  // The window made relative: {network input [B, L', C+K], base [B, H, C]}.
  std::pair<torch::Tensor, torch::Tensor> to_relative(const torch::Tensor& x) const;
  // Forecast of member k from a relative window (no base added back); folds and unfolds.
  Forecast member_forecast(size_t k, const torch::Tensor& x);
  // The members' forecasts combined.
  Forecast forecast_relative(const torch::Tensor& x);
  // Training loss of member k on a relative window and relative future.
  torch::Tensor member_loss(size_t k, const torch::Tensor& x, const torch::Tensor& y);
  // encdec roll-out: teacher forcing with probability p (0 when forecasting); x, y folded.
  Forecast decode(size_t k, const torch::Tensor& x, const torch::Tensor& y, double p);
};
TORCH_MODULE(Forecaster);

}  // namespace seqtorch::forecast
