#include <seqtorch/forecast/training.h>
#include <seqtorch/forecast/classical.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <torch/torch.h>

#include <algorithm>
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
  if (name != "auto") return {parse_relative(name)};
  std::vector<Relative> forms{Relative::last};
  if (season > 1 && window >= season) {
    if (mode != Mode::seq2seq) forms.push_back(Relative::season);
    forms.push_back(Relative::deseason);
  }
  if (mode != Mode::seq2seq && window >= std::max<int64_t>(2 * season, 2)) forms.push_back(Relative::trend);
  if (mode != Mode::seq2seq && ets_window >= std::max<int64_t>(2 * season, 4)) forms.push_back(Relative::ets);
  return forms;
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
  const ForecasterOptions& o = model.options;
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
  run.result = train::train(task, *optimizer, schedule, s.trainer);
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
}  // namespace

CandidateChoice train_candidates(const data::Series& raw, const PreparedSeries& series,
                                 data::ScalerKind scaler, TrainSettings settings,
                                 const std::vector<Relative>& forms,
                                 const std::function<std::string(Relative)>& config_for,
                                 bool refit, bool write) {
  TORCH_CHECK(!forms.empty(), "train_candidates: no forms");
  CandidateChoice choice;
  const std::string out = settings.trainer.out_dir;
  const bool resume = settings.trainer.resume;
  auto folder = [&](Relative form) {
    return out.empty() ? out : util::join_path(out, "candidates/" + to_string(form));
  };
  const bool separate = (forms.size() > 1 || refit) && !out.empty();
  double best = std::numeric_limits<double>::infinity();
  for (Relative form : forms) {
    TrainSettings s = settings;
    s.model.relative(form);
    if (s.window_for) s.model.window(s.window_for(form));
    s.trainer.config = config_for(form);
    if (separate) {
      s.trainer.out_dir = folder(form);
      s.trainer.resume = resume && util::path_exists(util::join_path(s.trainer.out_dir, "checkpoints/last.pt"));
    }
    const ForecasterRun run = train_forecaster(series, s);
    const train::TrainResult& r = run.result;
    choice.val_losses[to_string(form)] = r.best_metric;
    if (r.signal) {
      choice.chosen = form;
      choice.result = r;
      return choice;
    }
    if (r.best_metric < best || choice.val_losses.size() == 1) {
      best = r.best_metric;
      choice.chosen = form;
      choice.result = r;
      choice.base = run.base;
    }
  }
  if (!separate) return choice;
  const std::string from = folder(choice.chosen);
  if (!refit) {
    if (write) {
      util::create_directories(util::join_path(out, "checkpoints"));
      for (const char* f : {"checkpoints/best.pt", "checkpoints/last.pt", "metrics.jsonl"})
        copy_file_atomically(util::join_path(from, f), util::join_path(out, f));
    }
    return choice;
  }
  // The refit: as many epochs as the chosen run's best model had (read by the first process,
  // which wrote it; data-parallel ranks learn it through the sum).
  double epochs = write ? static_cast<double>(
                              train::read_checkpoint_info(util::join_path(from, "checkpoints/best.pt"), settings.trainer.app).epoch)
                        : 0.0;
  if (settings.trainer.parallel) epochs = settings.trainer.parallel->all_sum({epochs})[0];
  choice.best_epochs = static_cast<int64_t>(epochs);
  TrainSettings s = settings;
  s.model.relative(choice.chosen);
  if (s.window_for) s.model.window(s.window_for(choice.chosen));
  s.trainer.config = config_for(choice.chosen);
  const PreparedSeries all = without_validation(raw, series, scaler);
  if (choice.base) {  // nothing to train: the base, rescaled
    Forecaster model(s.model);
    fit_model_to_series(*model, all);
    auto optimizer = train::make_optimizer(model->parameters(), s.optimizer);
    save_base(model, *optimizer, s.trainer, choice.result.best_metric);
    if (write) copy_file_atomically(util::join_path(out, "checkpoints/best.pt"), util::join_path(out, "checkpoints/last.pt"));
    return choice;
  }
  s.trainer.epochs = std::max<int64_t>(1, choice.best_epochs);
  s.trainer.patience = 0;
  s.trainer.resume = resume && util::path_exists(util::join_path(out, "checkpoints/last.pt"));
  choice.refit = train_forecaster(all, s).result;
  if (choice.refit.signal) return choice;
  if (write) copy_file_atomically(util::join_path(out, "checkpoints/last.pt"), util::join_path(out, "checkpoints/best.pt"));
  return choice;
}

}  // namespace seqtorch::forecast
