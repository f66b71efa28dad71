#include <seqtorch/forecast/training.h>
#include <seqtorch/forecast/classical.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace seqtorch::forecast {

LengthDefaults defaults_for_length(int64_t train_steps, int64_t season, int64_t horizon) {
  LengthDefaults d;
  if (train_steps >= 1000) return d;
  d.small = true;
  d.hidden_size = 32;
  d.batch_size = 16;
  d.epochs = 300;
  d.patience = 30;
  d.ensemble = 5;
  d.weight_decay = 1e-4;
  const int64_t m = std::max<int64_t>(season, 1);
  auto windows = [&](int64_t L) { return train_steps - L - horizon + 1; };
  d.window = std::max<int64_t>(m > 1 ? 2 * m : 2 * horizon, 8);
  for (int64_t k = 4; m > 1 && k > 2; --k)
    if (windows(k * m) >= 40) {
      d.window = k * m;
      break;
    }
  const int64_t shortest = std::max<int64_t>({m, horizon, 4});
  while (d.window > shortest && windows(d.window) < 24) --d.window;
  return d;
}

bool prefers_log(const data::Series& series, int64_t train_steps, int64_t season) {
  const auto part = series.values.narrow(0, 0, train_steps).narrow(1, 0, series.targets);
  if (season <= 1 || !(part > 0).all().item<bool>()) return false;
  int64_t multiplicative = 0;
  for (int64_t c = 0; c < series.targets; ++c) {
    const auto column = part.select(1, c).to(torch::kDouble).contiguous();
    const std::vector<double> y(column.data_ptr<double>(), column.data_ptr<double>() + column.numel());
    if (static_cast<int64_t>(y.size()) < 2 * season) return false;
    multiplicative += fit_ets_auto(y, season).spec.season_kind == Seasonality::multiplicative;
  }
  return 2 * multiplicative > series.targets;
}

int64_t ets_window(int64_t window, int64_t season, int64_t train_steps, int64_t horizon) {
  const int64_t wanted = std::max<int64_t>(2 * season, 4);
  return window < wanted && train_steps - wanted - horizon + 1 >= 8 ? wanted : window;
}

std::vector<Relative> relative_candidates(const std::string& name, Mode mode, int64_t season,
                                          int64_t window, int64_t ets_window) {
  if (ets_window <= 0) ets_window = window;
  if (name != "auto") return parse_relatives(name);
  std::vector<Relative> forms{Relative::last};
  if (season > 1 && window >= season) {
    if (mode != Mode::seq2seq) forms.push_back(Relative::season);
    forms.push_back(Relative::deseason);
  }
  if (mode != Mode::seq2seq && window >= std::max<int64_t>(2 * season, 2)) forms.push_back(Relative::trend);
  if (mode != Mode::seq2seq && ets_window >= std::max<int64_t>(2 * season, 4)) forms.push_back(Relative::ets);
  return forms;
}

FoldPlan plan_folds(int64_t train, int64_t val, int64_t horizon, int64_t longest_window, int64_t requested) {
  TORCH_CHECK(requested >= 0, "folds: expected >= 1 (or auto), got ", requested);
  // Fold k's training part (train - k val steps) holds 8 windows of window + horizon steps.
  auto fits = [&](int64_t k) { return train - k * val - longest_window - horizon + 1 >= 8; };
  FoldPlan plan;
  if (requested > 0) {
    TORCH_CHECK(requested == 1 || (val > 0 && fits(requested - 1)), "folds: ", requested, " folds move the end "
                "of the training part back by ", (requested - 1) * val, " steps, leaving ", train - (requested - 1) * val,
                " training steps, fewer than 8 windows of window + horizon = ", longest_window + horizon,
                " steps; use fewer folds");
    plan.folds = requested;
    return plan;
  }
  if (val <= 0) return plan;
  while (plan.folds < 4 && plan.folds * val < 3 * horizon && fits(plan.folds)) ++plan.folds;
  // Networks compete on 2 horizons of validation steps, where each fold validates on at least 2
  // windows (a fold of val = H steps validates on one: nhtemp's 3 folds of 6 steps, horizon 6).
  plan.networks = plan.folds * val >= 2 * horizon && val - horizon + 1 >= 2;
  return plan;
}

namespace {
bool writes(const train::TrainerOptions& o) {
  return !o.out_dir.empty() && (!o.parallel || o.parallel->rank() == 0);
}

// The model with its heads zeroed (it forecasts its base), saved as best.pt.
void save_base(Forecaster& model, const torch::optim::Optimizer& optimizer, const train::TrainerOptions& o,
               double val_loss) {
  if (!writes(o)) return;
  train::CheckpointInfo info;
  info.app = o.app;
  info.config = o.config;
  info.best_metric = val_loss;
  model->zero_heads();
  util::create_directories(util::join_path(o.out_dir, "checkpoints"));
  train::save_checkpoint(util::join_path(o.out_dir, "checkpoints/best.pt"), info, *model, &optimizer);
}
}  // namespace

void fit_model_to_series(ForecasterImpl& model, const PreparedSeries& series) {
  model.set_scaler(series.scaler);
  for (auto& part : model.parts) fit_model_to_series(*part, series);
  const ForecasterOptions& o = model.options;
  if (!model.parts.empty()) return;
  if (o.relative() != Relative::ets) return;
  const auto part = series.scaled.narrow(0, 0, series.split.train).to(torch::kCPU, torch::kDouble);
  for (int64_t c = 0; c < o.targets(); ++c) {
    const auto column = part.select(1, c).contiguous();
    const std::vector<double> y(column.data_ptr<double>(), column.data_ptr<double>() + column.numel());
    const EtsWindowBase base = ets_window_base(fit_ets_auto(y, o.season(), false), y, o.window(), o.horizon());
    model.set_ets_base(c, base.weights, base.offsets, base.profile);
  }
}

ForecasterRun train_forecaster(const PreparedSeries& series, const TrainSettings& s) {
  torch::manual_seed(s.seed);
  Forecaster model(s.model);
  fit_model_to_series(*model, series);
  model->to(s.device);
  if (s.after_model_built) s.after_model_built();
  WindowTask task(model, series.scaled, series.split, s.batch_size, s.seed, s.device, s.shard);
  auto optimizer = train::make_optimizer(model->parameters(), s.optimizer);
  train::LrSchedule schedule(s.lr, s.schedule ? s.schedule(s.trainer.epochs * task.batches_per_epoch())
                                               : train::ScheduleOptions{});
  // The base's validation loss: with its heads zeroed the model forecasts exactly its base.
  double base_loss = std::numeric_limits<double>::infinity();
  if (series.split.val > 0) {
    torch::NoGradGuard no_grad;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> heads;  // parameter, its value
    for (const auto& p : model->named_parameters())
      if (p.key().find("head.") != std::string::npos) heads.emplace_back(p.value(), p.value().clone());
    model->zero_heads();
    model->eval();
    base_loss = task.evaluate().at("loss");
    model->train();
    for (auto& [param, value] : heads) param.copy_(value);
  }
  ForecasterRun run;
  run.base_loss = base_loss;
  run.result = train::train(task, *optimizer, schedule, s.trainer);
  run.network_loss = run.result.best_metric;
  if (series.split.val > 0 && !run.result.signal) {
    // The last model's loss (a resumed finished run evaluated nothing: its model is the last).
    const auto it = run.result.last_metrics.find("loss");
    if (it != run.result.last_metrics.end()) {
      run.final_loss = it->second;
    } else {
      torch::NoGradGuard no_grad;
      model->eval();
      run.final_loss = task.evaluate().at("loss");
      model->train();
    }
  }
  // Ties go to the base (training on a perfect base has nothing to learn).
  if (!run.result.signal && base_loss <= run.result.best_metric) {
    run.base = true;
    run.result.best_metric = base_loss;
    save_base(model, *optimizer, s.trainer, base_loss);
  }
  return run;
}

namespace {
void copy_file_atomically(const std::string& from, const std::string& to) {
  if (util::path_exists(from)) util::write_file_atomically(to, util::read_file(from));
}

int64_t window_of(const TrainSettings& s, Relative form) {
  return s.window_for ? s.window_for(form) : s.model.window();
}

// The model of `forms`: that form alone, or their combination.
ForecasterOptions options_of(const TrainSettings& s, const std::vector<Relative>& forms) {
  ForecasterOptions o = s.model;
  if (forms.size() == 1) return o.relative(forms[0]).combine({}).ets_window(0).window(window_of(s, forms[0]));
  const bool ets = std::find(forms.begin(), forms.end(), Relative::ets) != forms.end();
  return o.combine(forms).window(window_of(s, Relative::last)).ets_window(ets ? window_of(s, Relative::ets) : 0);
}

// `forms` as one model: the checkpoint file of each form's model (`file_of`) loaded into its
// part, fitted to `series` (the scaler, ETS bases: the same the parts were trained with).
Forecaster assemble(const TrainSettings& s, const std::vector<Relative>& forms, const PreparedSeries& series,
                    const std::function<std::string(Relative)>& file_of, const std::vector<double>& weights) {
  Forecaster model(options_of(s, forms));
  fit_model_to_series(*model, series);
  for (size_t k = 0; k < forms.size(); ++k)
    train::load_checkpoint(file_of(forms[k]), s.trainer.app, *model->parts[k], nullptr, false);
  model->set_combine_weights(weights);
  return model;
}

// Validation metrics (WindowTask::evaluate) of `model`.
std::map<std::string, double> validation_metrics(Forecaster model, const PreparedSeries& series, const TrainSettings& s) {
  model->to(s.device);
  model->eval();
  torch::NoGradGuard no_grad;
  WindowTask task(model, series.scaled, series.split, s.batch_size, s.seed, s.device);
  return task.evaluate();
}

// Validation metrics of the single-form model saved at `path`.
std::map<std::string, double> saved_metrics(const TrainSettings& s, Relative form, const PreparedSeries& series,
                                            const std::string& path) {
  Forecaster model(options_of(s, {form}));
  fit_model_to_series(*model, series);
  train::load_checkpoint(path, s.trainer.app, *model, nullptr, false);
  return validation_metrics(model, series, s);
}

// The base of s.model's form fitted to `series` (heads zeroed).
Forecaster base_model(const PreparedSeries& series, const TrainSettings& s) {
  torch::manual_seed(s.seed);
  Forecaster model(s.model);
  fit_model_to_series(*model, series);
  model->zero_heads();
  return model;
}

double base_validation_loss(const PreparedSeries& series, const TrainSettings& s) {
  if (series.split.val == 0) return std::numeric_limits<double>::infinity();
  return validation_metrics(base_model(series, s), series, s).at("loss");
}

// Saves the base of s.model's form fitted to `series` as s.trainer.out_dir's best.pt and last.pt.
void save_base_run(const PreparedSeries& series, const TrainSettings& s, double val_loss) {
  Forecaster model = base_model(series, s);
  auto optimizer = train::make_optimizer(model->parameters(), s.optimizer);
  save_base(model, *optimizer, s.trainer, val_loss);
  if (writes(s.trainer))
    copy_file_atomically(util::join_path(s.trainer.out_dir, "checkpoints/best.pt"),
                         util::join_path(s.trainer.out_dir, "checkpoints/last.pt"));
}

// A run without training: the base, evaluated and saved (FoldPlan::networks false).
ForecasterRun base_run(const PreparedSeries& series, const TrainSettings& s) {
  ForecasterRun run;
  run.base = true;
  run.base_loss = base_validation_loss(series, s);
  run.result.best_metric = run.base_loss;
  save_base_run(series, s, run.base_loss);
  return run;
}

// The epoch of a saved model, read by the first process (`write`), which wrote it; data-parallel
// ranks learn it through the sum.
int64_t saved_epoch(const TrainSettings& s, const std::string& file, bool write) {
  double epochs = write ? static_cast<double>(train::read_checkpoint_info(file, s.trainer.app).epoch) : 0.0;
  if (s.trainer.parallel) epochs = s.trainer.parallel->all_sum({epochs})[0];
  return static_cast<int64_t>(epochs);
}
}  // namespace

std::vector<double> combination_weights(const std::vector<double>& val_mse) {
  TORCH_CHECK(!val_mse.empty(), "combination_weights: no forms");
  std::vector<double> w;
  const bool exact = std::find(val_mse.begin(), val_mse.end(), 0.0) != val_mse.end();
  for (double e : val_mse) {
    TORCH_CHECK(std::isfinite(e) && e >= 0, "combination_weights: validation MSE ", e, " is not finite and >= 0");
    w.push_back(exact ? (e == 0 ? 1.0 : 0.0) : 1 / e);
  }
  double sum = 0;
  for (double v : w) sum += v;
  for (double& v : w) v /= sum;
  return w;
}

CandidateChoice train_candidates(const data::Series& raw, const PreparedSeries& series,
                                 data::ScalerKind scaler, TrainSettings settings,
                                 const std::vector<Relative>& forms, const ConfigFor& config_for,
                                 bool refit, bool write, bool combine) {
  TORCH_CHECK(!forms.empty(), "train_candidates: no forms");
  CandidateChoice choice;
  const std::string out = settings.trainer.out_dir;
  const bool resume = settings.trainer.resume;
  auto folder = [&](Relative form) {
    return out.empty() ? out : util::join_path(out, "candidates/" + to_string(form));
  };
  combine = combine && forms.size() > 1;
  TORCH_CHECK(!combine || !out.empty(), "combining forms: their models are kept as checkpoints, so an "
              "output folder is needed");
  const bool separate = (forms.size() > 1 || refit) && !out.empty();
  // Folds need the runs' files (and are not used to weigh a combination).
  FoldPlan plan = settings.folds;
  if (combine) plan = FoldPlan{};
  if (!separate) plan.folds = 1;
  choice.plan = plan;
  std::vector<ForecasterRun> runs;
  for (Relative form : forms) {
    TrainSettings s = settings;
    s.model = options_of(settings, {form});
    s.trainer.config = config_for({form});
    if (separate) {
      s.trainer.out_dir = folder(form);
      s.trainer.resume = resume && util::path_exists(util::join_path(s.trainer.out_dir, "checkpoints/last.pt"));
    }
    const ForecasterRun run = plan.networks ? train_forecaster(series, s) : base_run(series, s);
    const train::TrainResult& r = run.result;
    choice.val_losses[to_string(form)] = r.best_metric;
    choice.kept_base[to_string(form)] = run.base;
    if (r.signal) {
      choice.chosen = form;
      choice.forms = {form};
      choice.result = r;
      return choice;
    }
    runs.push_back(run);
  }
  auto best_file = [&](Relative form) { return util::join_path(folder(form), "checkpoints/best.pt"); };
  // Each candidate's mean validation loss over the folds: a form's base, and its network where
  // it beat the base on fold 0 (its later folds trained for the epochs of its best model).
  const int64_t F = static_cast<int64_t>(forms.size());
  const double none = std::numeric_limits<double>::infinity();
  std::vector<double> base_score(F), net_score(F);
  for (int64_t i = 0; i < F; ++i) {
    base_score[i] = runs[i].base_loss;
    net_score[i] = plan.networks && !runs[i].base ? runs[i].network_loss : none;
  }
  for (int64_t k = 1; k < plan.folds; ++k) {
    const PreparedSeries fold = earlier_origin(raw, scaler, series.split.train - k * series.split.val, series.split.val);
    for (int64_t i = 0; i < F; ++i) {
      TrainSettings s = settings;
      s.model = options_of(settings, {forms[i]});
      base_score[i] += base_validation_loss(fold, s);
      if (net_score[i] == none) continue;
      s.trainer.config = config_for({forms[i]});
      s.trainer.out_dir = util::join_path(folder(forms[i]), "fold" + std::to_string(k));
      s.trainer.resume = resume && util::path_exists(util::join_path(s.trainer.out_dir, "checkpoints/last.pt"));
      s.trainer.epochs = std::max<int64_t>(1, saved_epoch(settings, best_file(forms[i]), write));
      s.trainer.patience = 0;
      const ForecasterRun run = train_forecaster(fold, s);
      if (run.result.signal) {
        choice.chosen = forms[i];
        choice.forms = {forms[i]};
        choice.result = run.result;
        return choice;
      }
      net_score[i] += run.final_loss;
    }
  }
  // The lowest mean (ties: a base, then the earlier form); without validation, the first form.
  double best = none;
  int64_t pick = 0;
  bool pick_base = runs[0].base;
  for (int64_t i = 0; i < F; ++i) {
    base_score[i] /= static_cast<double>(plan.folds);
    net_score[i] /= static_cast<double>(plan.folds);
    choice.scores[to_string(forms[i]) + " base"] = base_score[i];
    if (net_score[i] != none) choice.scores[to_string(forms[i])] = net_score[i];
    if (base_score[i] < best) best = base_score[i], pick = i, pick_base = true;
    if (net_score[i] < best) best = net_score[i], pick = i, pick_base = false;
  }
  choice.chosen = forms[pick];
  choice.result = runs[pick].result;
  choice.base = pick_base;
  // The folds chose a base over the network that beat it on fold 0: saved beside that run.
  const bool moved_base = pick_base && !runs[pick].base;
  const std::string base_folder = util::join_path(folder(choice.chosen), "base");
  if (moved_base) {
    choice.result.best_metric = runs[pick].base_loss;
    choice.kept_base[to_string(choice.chosen)] = true;
    TrainSettings s = settings;
    s.model = options_of(settings, {choice.chosen});
    s.trainer.config = config_for({choice.chosen});
    s.trainer.out_dir = base_folder;
    save_base_run(series, s, runs[pick].base_loss);
  }
  choice.forms = combine ? forms : std::vector<Relative>{choice.chosen};
  if (!separate) return choice;
  // The weights: from each form's best model on validation (read by the first process, which
  // wrote them; the others do not write the combination).
  std::vector<double> weights(choice.forms.size(), 1.0);
  if (combine && write) {
    std::vector<double> mse;
    for (Relative form : forms) {
      mse.push_back(saved_metrics(settings, form, series, best_file(form)).at("mse"));
      choice.val_mse[to_string(form)] = mse.back();
    }
    weights = combination_weights(mse);
    for (size_t k = 0; k < forms.size(); ++k) choice.weights[to_string(forms[k])] = weights[k];
    const auto m = validation_metrics(assemble(settings, forms, series, best_file, weights), series, settings);
    choice.combined_val_loss = m.at("loss");
    choice.combined_val_mse = m.at("mse");
  }
  // The final model from the files of each form's model, in OUT (best.pt, last.pt a copy).
  auto save_final = [&](const PreparedSeries& fitted, const std::function<std::string(Relative)>& file_of, double metric) {
    if (!write) return;
    util::create_directories(util::join_path(out, "checkpoints"));
    train::CheckpointInfo info;
    info.app = settings.trainer.app;
    info.config = config_for(choice.forms);
    info.best_metric = metric;
    train::save_checkpoint(util::join_path(out, "checkpoints/best.pt"), info,
                           *assemble(settings, choice.forms, fitted, file_of, weights), nullptr);
    copy_file_atomically(util::join_path(out, "checkpoints/best.pt"), util::join_path(out, "checkpoints/last.pt"));
  };
  if (!refit) {
    if (combine) {
      save_final(series, best_file, choice.combined_val_loss);
    } else if (write) {
      util::create_directories(util::join_path(out, "checkpoints"));
      const std::string from = folder(choice.chosen);
      copy_file_atomically(util::join_path(moved_base ? base_folder : from, "checkpoints/best.pt"),
                           util::join_path(out, "checkpoints/best.pt"));
      for (const char* f : {"checkpoints/last.pt", "metrics.jsonl"})
        copy_file_atomically(util::join_path(from, f), util::join_path(out, f));
    }
    return choice;
  }
  // The refit of each form the final model holds: as many epochs as its best model had (read
  // by the first process, which wrote it; data-parallel ranks learn it through the sum), on
  // training + validation, in OUT (one form) or OUT/candidates/<form>/refit.
  const PreparedSeries all = without_validation(raw, series, scaler);
  auto refit_folder = [&](Relative form) { return combine ? util::join_path(folder(form), "refit") : out; };
  auto refit_file = [&](Relative form) { return util::join_path(refit_folder(form), "checkpoints/best.pt"); };
  for (Relative form : choice.forms) {
    const int64_t epochs = choice.kept_base.at(to_string(form)) ? 0 : saved_epoch(settings, best_file(form), write);
    choice.refit_epochs[to_string(form)] = epochs;
    TrainSettings s = settings;
    s.model = options_of(settings, {form});
    s.trainer.config = config_for({form});
    s.trainer.out_dir = refit_folder(form);
    if (choice.kept_base.at(to_string(form))) {  // nothing to train: the base, rescaled
      Forecaster model(s.model);
      fit_model_to_series(*model, all);
      auto optimizer = train::make_optimizer(model->parameters(), s.optimizer);
      save_base(model, *optimizer, s.trainer,
                form == choice.chosen ? choice.result.best_metric : choice.val_losses.at(to_string(form)));
      if (write) copy_file_atomically(refit_file(form), util::join_path(refit_folder(form), "checkpoints/last.pt"));
      continue;
    }
    s.trainer.epochs = std::max<int64_t>(1, epochs);
    s.trainer.patience = 0;
    s.trainer.resume = resume && util::path_exists(util::join_path(refit_folder(form), "checkpoints/last.pt"));
    choice.refit = train_forecaster(all, s).result;
    if (choice.refit.signal) return choice;
    if (write) copy_file_atomically(util::join_path(refit_folder(form), "checkpoints/last.pt"), refit_file(form));
  }
  choice.best_epochs = choice.refit_epochs.at(to_string(choice.chosen));
  if (combine) save_final(all, refit_file, choice.combined_val_loss);
  return choice;
}

}  // namespace seqtorch::forecast
