#pragma once
// Training seqtorch-forecast's model: one run, the choice among relative forms by validation
// loss (--relative auto), and the settings a short series gets when the user names none.
#include <seqtorch/forecast/forecaster.h>
#include <seqtorch/forecast/window_task.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/train/schedule.h>
#include <seqtorch/train/trainer.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace seqtorch::forecast {

/// Settings for a series whose training part has `train_steps` steps, used for the options the
/// user leaves out. Long series (>= 1000 training steps) keep the general defaults; shorter ones
/// get a small, regularised model, early stopping and a seed ensemble:
///   window    k m for the largest k of 4, 3, 2 that leaves the training part 40 windows (2 H,
///             at least 8, without a season), then shortened (not below max(m, H, 4)) until it
///             holds 24
///   hidden 32, weight decay 1e-4, batch 16, epochs 300 with patience 30 (early stopping on
///   the validation loss), an ensemble of 5 members
struct LengthDefaults {
  bool small = false;
  int64_t window = 48, hidden_size = 128, batch_size = 32, epochs = 10, patience = 0, ensemble = 1;
  double weight_decay = 0;
};
LengthDefaults defaults_for_length(int64_t train_steps, int64_t season, int64_t horizon);

/// Whether to forecast the logarithm (`--transform auto`): the training part's targets are all
/// > 0 and, with a season m > 1, the ETS form AICc picks (forecast/classical.h) has a
/// multiplicative season for most target series.
bool prefers_log(const data::Series& series, int64_t train_steps, int64_t season);

/// The forms `--relative NAME` trains: the ones named (comma-separated), or for "auto" every one
/// that fits: last, then (with a season m > 1 and a window >= m) season unless the mode is
/// seq2seq, and deseason, then trend (window >= 2 m, or 2 without a season; not seq2seq), then
/// ets (window >= 2 m and >= 4; not seq2seq).
/// ets_window: the window the ets form would read (ets_window below; 0: `window`).
std::vector<Relative> relative_candidates(const std::string& name, Mode mode, int64_t season,
                                          int64_t window, int64_t ets_window = 0);

/// The window of the ets form: two seasons (and at least 4 steps) where `window` is shorter and
/// the training part of `train_steps` still holds 8 training windows of that length; else
/// `window`. (The short series' length rule may give a window of one season, too short for the
/// window filter's trend; the other forms keep theirs.)
int64_t ets_window(int64_t window, int64_t season, int64_t train_steps, int64_t horizon);

/// Gives a new model what it learns from the series' training part: the scaler, and for the ets
/// form the ETS base (forecast::ets_window_base of the additive ETS that AICc picks for each
/// target's scaled training values).
void fit_model_to_series(ForecasterImpl& model, const PreparedSeries& series);

/// How the choice among forms (train_candidates) reads validation: `folds` origins, and whether
/// the forms' networks compete with their bases or only the bases (zero heads) do.
struct FoldPlan {
  int64_t folds = 1;
  bool networks = true;
};

/// The folds for a series whose training and validation parts have `train` and `val` steps,
/// forms whose longest window is `longest_window`. Fold 0 is the validation part; fold k moves
/// the end of the training part back by k val steps (validation: the val steps after it).
/// `requested` > 0: that many folds, networks competing (refused when a fold's training part
/// would hold fewer than 8 windows). 0 (auto): as many folds (at most 4) as give 3 horizons of
/// validation steps while every fold's training part holds 8 windows; the networks compete only
/// when the folds hold 2 horizons of validation steps and each fold at least 2 validation
/// windows (val >= H + 1) (else one to a few windows would choose between a base and a network
/// fitted to them; the choice is then among the bases alone).
FoldPlan plan_folds(int64_t train, int64_t val, int64_t horizon, int64_t longest_window, int64_t requested);

/// One training run of a forecaster on a prepared series.
struct TrainSettings {
  ForecasterOptions model{1, 1, 1};
  int64_t batch_size = 32;
  uint64_t seed = 1;
  torch::Device device = torch::kCPU;
  train::Shard shard;
  train::OptimizerOptions optimizer;
  double lr = 1e-3;
  /// The schedule for a run of `total_steps` optimiser steps.
  std::function<train::ScheduleOptions(int64_t total_steps)> schedule;
  /// out_dir, config, resume, parallel, ...
  train::TrainerOptions trainer;
  /// The window of each form's model (empty: model.window() for every form).
  std::function<int64_t(Relative)> window_for;
  /// Called once the model is built and on its device (e.g. to give data-parallel ranks their
  /// own random streams).
  std::function<void()> after_model_built;
  /// The choice among forms (train_candidates, not when combining).
  FoldPlan folds;
};

/// A training run's outcome.
struct ForecasterRun {
  /// The engine's result; best_metric is the validation loss of best.pt.
  train::TrainResult result;
  /// The base (the model with zero heads) had a validation loss no higher than every trained
  /// model's, so best.pt holds it (epoch 0).
  bool base = false;
  /// Validation losses: the base's, the best trained model's (result.best_metric before the
  /// base replaced it) and the last trained model's (infinite without a validation part).
  double base_loss = std::numeric_limits<double>::infinity();
  double network_loss = std::numeric_limits<double>::infinity();
  double final_loss = std::numeric_limits<double>::infinity();
};

/// Builds the model (seeded by settings.seed), measures the validation loss of its base (heads
/// zeroed for the measurement), trains it, and keeps the base as best.pt when training never
/// beat it.
ForecasterRun train_forecaster(const PreparedSeries& series, const TrainSettings& settings);

/// The outcome of train_candidates.
struct CandidateChoice {
  /// The form of lowest validation loss, and its run's result (before a refit).
  Relative chosen = Relative::last;
  train::TrainResult result;
  /// The forms of the final model: {chosen}, or every form when combined.
  std::vector<Relative> forms;
  /// By form name: the best validation loss, and whether the run kept its base
  /// (ForecasterRun::base).
  std::map<std::string, double> val_losses;
  std::map<std::string, bool> kept_base;
  /// The chosen run kept its base (or the folds chose it).
  bool base = false;
  /// The folds read (FoldPlan), and each candidate's mean validation loss over them, by
  /// "<form>" (its network, when it competed) and "<form> base".
  FoldPlan plan;
  std::map<std::string, double> scores;
  /// Combined (by the first process): each form's validation MSE and weight, and the
  /// combination's validation loss and MSE (of the models before the refit).
  std::map<std::string, double> val_mse, weights;
  double combined_val_loss = std::numeric_limits<double>::quiet_NaN();
  double combined_val_mse = std::numeric_limits<double>::quiet_NaN();
  /// Refit: the epochs of each final form's best model (best_epochs: the chosen form's), and
  /// the result of the last refit run (a signal's, if one stopped it).
  std::map<std::string, int64_t> refit_epochs;
  int64_t best_epochs = 0;
  train::TrainResult refit;
};

/// Weights of a combination from the forms' validation MSEs: proportional to 1 / MSE (Bates
/// and Granger's inverse-error weights), summing to 1; forms of MSE 0, if any, share it all.
std::vector<double> combination_weights(const std::vector<double>& val_mse);

/// The configuration (checkpoint text) of the model of these forms (one, or a combination).
using ConfigFor = std::function<std::string(const std::vector<Relative>&)>;

/// Trains one run per form, each in OUT/candidates/<form> with the configuration
/// config_for({form}) (resumed there when settings.trainer.resume and its last.pt exists;
/// settings.window_for gives each form's window). Without combining, the choice reads the
/// folds of settings.folds (with OUT): each form's base is evaluated on every fold (fitted to
/// its training part), and each form's network that beat its base on fold 0 is trained again
/// on every further fold k, in OUT/candidates/<form>/fold<k>, from the same seed for the epochs
/// its best model took, and evaluated at the end; the candidate of lowest mean validation loss
/// is chosen (ties: a base, then the earlier form), a base saved in OUT/candidates/<form>/base.
/// Without networks competing, nothing is trained: each form's base is saved as its run's
/// best.pt and last.pt. Then, when `write` (the first process):
/// - one form kept (`combine` false, or a single form): the one of lowest validation loss; its
///   checkpoints and metrics.jsonl are copied into OUT (settings.trainer.out_dir). A single form
///   without a refit trains in OUT directly.
/// - `combine` (several forms; needs OUT): every form, in one model (ForecasterOptions::combine)
///   weighted by combination_weights of each form's best model's validation MSE, saved as OUT's
///   best.pt (config_for(forms)) and last.pt.
/// With `refit`, each kept form is then trained again from the same seed on training +
/// validation (`raw` rescaled by `scaler`, forecast::without_validation) for the epochs its best
/// model took (in OUT, or OUT/candidates/<form>/refit when combined; a kept base is saved
/// rescaled, untrained), and those final models become OUT's best.pt (there is no validation
/// left to choose by), with the weights found before. Stops after a run that a signal ended
/// (its result returned, nothing copied).
CandidateChoice train_candidates(const data::Series& raw, const PreparedSeries& series,
                                 data::ScalerKind scaler, TrainSettings settings,
                                 const std::vector<Relative>& forms, const ConfigFor& config_for,
                                 bool refit, bool write, bool combine = false);

}  // namespace seqtorch::forecast
