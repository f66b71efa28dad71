// seqtorch-forecast: train | evaluate | predict | export. Glue only: options in, library calls out.
#include "common/cli.h"

#include <seqtorch/export/forecast_export.h>
#include <seqtorch/forecast/backtest.h>
#include <seqtorch/forecast/io.h>
#include <seqtorch/forecast/training.h>
#include <seqtorch/forecast/window_task.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>
#include <seqtorch/util/spec_text.h>
#include <seqtorch/util/stop_signal.h>

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

namespace st = seqtorch;
using namespace seqtorch::apps;

namespace {

const char* kProgram = "seqtorch-forecast";

struct ForecastCli {
  CommonOptions c;
  std::string data, target, covariates, time_column, fill = "none", scaler = "standard";
  std::string mode = "seq2vec", loss = "mse", checkpoint, output;
  std::string relative = "auto", combine = "best", multi_series = "global", transform = "auto", folds = "auto";
  double val_fraction = 0.1, test_fraction = 0.2, teacher_forcing = 0.5;
  int64_t window = 48, horizon = 24, season = 1, ensemble = 1, ets_window = 0;
  int64_t model_season = 0;  // the model's season when it differs from --season (reading commands)
  bool refit = false;

  po::options_description data_options() {
    po::options_description d("Data");
    d.add_options()
        ("data", po::value(&data), "CSV with a header (default: the built-in series)")
        ("target", po::value(&target), "target column(s), comma-separated (built-in: load)")
        ("covariates", po::value(&covariates), "covariate columns, comma-separated")
        ("time-column", po::value(&time_column), "time column kept for output (built-in: hour)")
        ("fill", po::value(&fill)->default_value(fill)->notifier(one_of("fill", {"none", "linear", "ffill"})), "missing values: none | linear | ffill")
        ("val-fraction", po::value(&val_fraction)->default_value(val_fraction, short_text(val_fraction))->notifier(within("val-fraction", 0, 1, "[)")), "validation part, just before the test part")
        ("test-fraction", po::value(&test_fraction)->default_value(test_fraction, short_text(test_fraction))->notifier(within("test-fraction", 0, 1, "()")), "test part, at the end")
        ("season", po::value(&season)->default_value(season)->notifier(at_least<int64_t>("season", 1)), "season m of seasonal naive and the MASE scale");
    return d;
  }
  po::options_description model_extra() {
    po::options_description d("Forecaster");
    d.add_options()
        ("mode", po::value(&mode)->default_value(mode)->notifier(one_of("mode", {"seq2seq", "seq2vec", "encdec"})), "seq2seq | seq2vec | encdec")
        ("window", po::value(&window)->default_value(window)->notifier(at_least<int64_t>("window", 1)), "L: past steps the model reads")
        ("horizon", po::value(&horizon)->default_value(horizon)->notifier(at_least<int64_t>("horizon", 1)), "H: steps forecast")
        ("loss", po::value(&loss)->default_value(loss)->notifier(one_of("loss", {"mse", "mae", "gaussian"})), "mse | mae | gaussian (adds intervals)")
        ("scaler", po::value(&scaler)->default_value(scaler)->notifier(one_of("scaler", {"standard", "minmax", "none"})), "standard | minmax | none (fitted on the training part)")
        ("teacher-forcing", po::value(&teacher_forcing)->default_value(teacher_forcing, short_text(teacher_forcing))->notifier(within("teacher-forcing", 0, 1)), "encdec: share of true inputs in training")
        ("relative", po::value(&relative)->default_value(relative)->notifier(relative_check), "the base the network corrects: none | last (value) | season (seasonal naive) | deseason (the window's seasonal profile removed) | trend (profile + the seasons' drift) | ets (exponential smoothing fitted to the training part, run over the window) | several, comma-separated, or auto (every form that fits): one model each, then --combine")
        ("combine", po::value(&combine)->default_value(combine)->notifier(one_of("combine", {"weighted", "best"})), "several forms: weighted (their mean forecast, each weighted by 1 / its validation MSE) | best (the one of lowest validation loss)")
        ("folds", po::value(&folds)->default_value(folds)->notifier(folds_check), "validation origins the choice among forms reads (--combine best): N (fold k ends the training part k validation parts earlier; 1: the validation part alone) | auto (as many, up to 4, as give 3 horizons of validation steps; under 2 horizons, or one validation window a fold, only the forms' bases compete)")
        ("ets-window", po::value(&ets_window)->default_value(ets_window)->notifier(at_least<int64_t>("ets-window", 0)), "steps the ets form reads (0: two seasons where the training part holds 8 such windows, else --window)")
        ("ensemble", po::value(&ensemble)->default_value(ensemble)->notifier(at_least<int64_t>("ensemble", 1)), "members of a seed ensemble (the mean forecast; with --loss gaussian, intervals from their variances and spread)")
        ("transform", po::value(&transform)->default_value(transform)->notifier(one_of("transform", {"auto", "none", "log"})), "none | log (targets > 0; a season growing with the level) | auto (log where ETS picks a multiplicative season)")
        ("refit", po::value(&refit)->default_value(refit), "after choosing on validation, train the chosen form again on training + validation for the epochs its best model took (the final model)")
        ("multi-series", po::value(&multi_series)->default_value(multi_series)->notifier(one_of("multi-series", {"global", "joint"})), "several targets: global (one network for every series, each scaled alone) | joint (one multivariate network)");
    return d;
  }
  po::options_description io_options(const char* output_help) {
    po::options_description d("Files");
    d.add_options()
        ("checkpoint", po::value(&checkpoint), "checkpoint (default: OUT/checkpoints/best.pt)")
        ("output", po::value(&output), output_help);
    return d;
  }
  std::vector<Command> commands() {
    std::vector<Command> cmds;
    cmds.push_back({"train", "train a forecaster (final JSON: validation and test metrics)", po::options_description()});
    cmds.back().options.add(runtime_options(c)).add(training_options(c)).add(model_options(c))
        .add(model_extra()).add(data_options());
    const std::tuple<const char*, const char*, const char*> reading[] = {
        {"evaluate", "rolling-origin backtest over the test part, with baselines", "CSV of every origin's forecasts, the model's and the baselines' (default: none)"},
        {"predict", "forecast H steps after the end of the data (CSV)", "CSV file (default: stdout)"},
        {"export", "TorchScript file: forward(window) in original units", "the .pt file to write"}};
    for (const auto& [name, help, out] : reading) {
      cmds.push_back({name, help, po::options_description()});
      cmds.back().options.add(runtime_options(c)).add(io_options(out)).add(data_options());
    }
    cmds.push_back({"data", "write the built-in series as CSV (stdout or --output)", po::options_description()});
    cmds.back().options.add(io_options("CSV file (default: stdout)"));
    return cmds;
  }
  st::forecast::SeriesOptions series() const {
    st::forecast::SeriesOptions s{data, target, covariates, time_column, st::data::parse_fill_method(fill)};
    if (data.empty() && target.empty()) s.target = "load";
    if (data.empty() && time_column.empty()) s.time_column = "hour";
    if (!data.empty() && target.empty()) throw UsageError("--target: required with --data (the column(s) to forecast)");
    return s;
  }
  // --relative: auto, a form, or several forms, each once (forecast::parse_relatives).
  static void relative_check(const std::string& v) {
    if (v.find(',') == std::string::npos)
      return one_of("relative", {"auto", "none", "last", "season", "deseason", "trend", "ets"})(v);
    try {
      st::forecast::parse_relatives(v);
    } catch (const c10::Error& e) {
      throw UsageError("--" + std::string(e.what_without_backtrace()));
    }
  }
  static void folds_check(const std::string& v) {
    char* end = nullptr;
    const long long n = v == "auto" || v.empty() ? 1 : std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || (v != "auto" && (*end != '\0' || n < 1 || n > 100)))
      throw UsageError("--folds: expected auto or a number from 1 to 100, got '" + v + "'");
  }
  // The model of these options (`relative` names one form or a combination, not auto;
  // `transform` one choice).
  st::forecast::ForecasterOptions model(int64_t targets, int64_t covs) const {
    auto o = st::forecast::ForecasterOptions(targets, window, horizon)
        .covariates(covs).mode(st::forecast::parse_mode(mode)).loss(st::forecast::parse_loss(loss))
        .cell(cell_kind(c)).hidden_size(c.hidden_size).num_layers(c.num_layers).dropout(c.dropout)
        .teacher_forcing(teacher_forcing).season(model_season > 0 ? model_season : season).ensemble(ensemble)
        .global(multi_series == "global" && targets > 1).log(transform == "log");
    if (relative.find(',') == std::string::npos) return o.relative(st::forecast::parse_relative(relative));
    return o.combine(st::forecast::parse_relatives(relative)).ets_window(ets_window);
  }
  // Reading commands: the model's form comes from the checkpoint (`stored`, its INI text, which
  // checkpoint_beneath put beneath the command line; these options are not on it). --season
  // there sets the baselines' season only; the model keeps its own. A checkpoint from before
  // these options had the forms `last`, `none`, `joint` and one member.
  void settle_from_checkpoint(const st::util::KeyValues& stored) {
    if (!stored.has("relative")) relative = "last";
    if (!stored.has("transform")) transform = "none";
    if (!stored.has("multi-series")) multi_series = "joint";
    if (!stored.has("ensemble")) ensemble = 1;
    model_season = stored.has("season") ? stored.get_int("season") : season;
  }
  // train: the options the user left out, chosen by the length of the training part
  // (forecast::defaults_for_length), written back into `values` so config.ini and the
  // checkpoint record them; a validation part of at least one horizon for short series.
  void fill_length_defaults(const st::data::Series& series, po::variables_map& values) {
    const int64_t steps = series.values.size(0);
    auto given = [&](const char* name) { return values.count(name) && !values[name].defaulted(); };
    auto set = [&](const char* name, auto& field, auto value) {
      if (given(name)) return;
      field = value;
      values.at(name).value() = boost::any(value);
    };
    if (!given("val-fraction") && std::llround(steps * val_fraction) < horizon)
      set("val-fraction", val_fraction, (static_cast<double>(horizon) + 0.25) / static_cast<double>(steps));
    const auto split = st::data::split_sizes(steps, val_fraction, test_fraction);
    if (transform == "auto") {
      transform = st::forecast::prefers_log(series, split.train, season) ? "log" : "none";
      values.at("transform").value() = boost::any(transform);
    }
    const auto d = st::forecast::defaults_for_length(split.train, season, horizon);
    if (!d.small) return;
    set("window", window, d.window);
    set("hidden-size", c.hidden_size, d.hidden_size);
    set("batch-size", c.batch_size, d.batch_size);
    set("epochs", c.epochs, d.epochs);
    set("patience", c.patience, d.patience);
    set("ensemble", ensemble, d.ensemble);
    set("weight-decay", c.weight_decay, d.weight_decay);
    set("refit", refit, true);
  }
};

std::map<std::string, double> test_metrics(const st::forecast::BacktestResult& r,
                                           const std::vector<std::string>& names) {
  std::map<std::string, double> m = r.model;
  m["mase_naive"] = r.naive.at("mase");
  m["mase_seasonal_naive"] = r.seasonal_naive.at("mase");
  if (!r.ets.empty()) m["mase_ets"] = r.ets.at("mase"), m["mase_theta"] = r.theta.at("mase");
  if (r.per_series.size() > 1)
    for (size_t c = 0; c < r.per_series.size(); ++c)
      for (const auto& [who, errors] : r.per_series[c])
        m["mase_" + (who == "model" ? std::string() : who + "_") + names[c]] = errors.at("mase");
  m["origins"] = static_cast<double>(r.origins);
  m["horizon"] = static_cast<double>(r.horizon);
  if (std::isfinite(r.coverage80)) m["coverage80"] = r.coverage80, m["coverage95"] = r.coverage95;
  return m;
}

int run(int argc, char** argv) {
  ForecastCli f;
  auto commands = f.commands();
  auto parsed = parse_command_line(argc, argv, kProgram, commands);
  if (parsed.help) return std::cout << help_text(kProgram, commands, parsed.command), 0;
  const auto& command = *std::find_if(commands.begin(), commands.end(), [&](auto& c) { return c.name == parsed.command; });
  if (parsed.command == "data") {
    if (f.output.empty()) std::cout << st::data::builtin_series_csv();
    else st::util::write_file_atomically(f.output, st::data::builtin_series_csv());
    return 0;
  }
  apply_runtime_options(f.c);
  torch::Device device = resolve_device(f.c);
  const std::string out = f.c.out;

  if (parsed.command == "train") {
    const TrainingProcesses procs(f.c, device);  // torchrun: this process's place and device
    const auto series = st::forecast::load_series(f.series());
    f.fill_length_defaults(series, parsed.values);
    // The model learns on the logarithms with --transform log (its forward takes original units).
    const auto learned = f.transform == "log" ? st::forecast::log_targets(series) : series;
    const auto prep = st::forecast::prepare_series(learned, f.val_fraction, f.test_fraction,
                                                   st::data::parse_scaler_kind(f.scaler), f.window, f.horizon);
    const int64_t covariates = series.values.size(1) - series.targets;
    // The ets form reads two seasons where the window is shorter (and the data allows).
    const int64_t window = f.window, m2 = std::max<int64_t>(2 * f.season, 4);
    if (f.ets_window > 0 && f.ets_window < m2)
      throw UsageError(fmt::format("--ets-window: the ets form reads at least two seasons and 4 steps ({}), got {}", m2, f.ets_window));
    const int64_t ets_window = f.ets_window > 0 ? f.ets_window : st::forecast::ets_window(window, f.season, prep.split.train, f.horizon);
    auto window_for = [&](st::forecast::Relative form) { return form == st::forecast::Relative::ets ? ets_window : window; };
    const auto forms = st::forecast::relative_candidates(f.relative, st::forecast::parse_mode(f.mode), f.season, window, ets_window);
    st::forecast::TrainSettings settings;
    try {
      const bool ets = std::count(forms.begin(), forms.end(), st::forecast::Relative::ets) > 0;
      settings.folds = st::forecast::plan_folds(prep.split.train, prep.split.val, f.horizon,
                                                ets ? std::max(window, ets_window) : window,
                                                f.folds == "auto" ? 0 : std::stoll(f.folds));
    } catch (const c10::Error& e) {
      throw UsageError("--" + std::string(e.what_without_backtrace()));
    }
    const std::string asked = f.relative;
    const int64_t asked_ets_window = f.ets_window;
    f.relative = st::forecast::to_string(forms.front());
    f.window = window_for(forms.front());
    settings.model = f.model(series.targets, covariates);  // checks the options before training
    settings.window_for = window_for;
    settings.batch_size = f.c.batch_size;
    settings.seed = f.c.seed;
    settings.device = device;
    settings.shard = procs.shard();
    settings.optimizer = optimizer_options(f.c);
    settings.lr = f.c.lr;
    settings.schedule = [&](int64_t total) { return schedule_options(f.c, total); };
    settings.trainer = trainer_options(f.c, "forecast", "");
    settings.trainer.parallel = procs.parallel();
    settings.after_model_built = [&] { procs.seed_streams(f.c.seed); };
    // While the candidates train, config.ini records what was asked (so that --resume trains
    // them all again, each resumed in its folder) and each candidate's checkpoint its own form
    // and window; once the final model is made, config.ini records its forms.
    auto set_form = [&](const std::string& form, int64_t L, int64_t ets_L) {
      parsed.values.at("relative").value() = boost::any(form);
      parsed.values.at("window").value() = boost::any(L);
      parsed.values.at("ets-window").value() = boost::any(ets_L);
    };
    auto set_forms = [&](const std::vector<st::forecast::Relative>& chosen) {
      f.relative = st::forecast::form_name(st::forecast::ForecasterOptions(1, 1, 1).combine(chosen));
      f.window = chosen.size() == 1 ? window_for(chosen.front()) : window;
      f.ets_window = ets_window;
      set_form(f.relative, f.window, f.ets_window);
    };
    auto config_for = [&](const std::vector<st::forecast::Relative>& chosen) {
      set_form(asked, window, asked_ets_window);
      procs.write_run_config(out, parsed.values);
      set_forms(chosen);
      return effective_config(parsed.values);
    };
    st::util::install_stop_handlers();
    const auto scaler = st::data::parse_scaler_kind(f.scaler);
    const auto choice = st::forecast::train_candidates(learned, prep, scaler, settings, forms, config_for, f.refit,
                                                       procs.first(), f.combine == "weighted");
    if (!choice.result.signal && !choice.refit.signal) {
      set_forms(choice.forms);
      procs.write_run_config(out, parsed.values);
    }
    const auto& result = choice.result;
    if (result.signal) return train_exit_code(result);
    if (choice.refit.signal || !procs.first()) return train_exit_code(choice.refit);
    set_forms(choice.forms);
    st::forecast::Forecaster model(f.model(series.targets, covariates));
    st::train::load_checkpoint(st::util::join_path(out, "checkpoints/best.pt"), "forecast", *model, nullptr, false);
    model->to(device);
    auto metrics = test_metrics(st::forecast::backtest(model, series.values, prep.split.train + prep.split.val, f.season, device),
                                series.names);
    const bool combined = choice.forms.size() > 1;
    metrics["val_loss"] = combined ? choice.combined_val_loss : result.best_metric;
    for (const auto& [form, loss] : choice.val_losses)
      if (choice.val_losses.size() > 1) metrics["val_loss_" + form] = loss;
    for (const auto& [form, weight] : choice.weights) metrics["weight_" + form] = weight;
    for (const auto& [form, base] : choice.kept_base)
      if (combined) metrics["kept_base_" + form] = base ? 1.0 : 0.0;
    metrics["epochs"] = static_cast<double>(result.epochs);
    metrics["steps"] = static_cast<double>(result.steps);
    metrics["skipped_steps"] = static_cast<double>(result.skipped_steps);  // non-finite loss or gradient
    if (f.refit && !combined) metrics["refit_epochs"] = static_cast<double>(choice.best_epochs);
    for (const auto& [form, epochs] : choice.refit_epochs)
      if (combined) metrics["refit_epochs_" + form] = static_cast<double>(epochs);
    if (!combined) metrics["kept_base"] = choice.base ? 1.0 : 0.0;  // the untrained base beat every trained model
    metrics["folds"] = static_cast<double>(choice.plan.folds);
    metrics["bases_only"] = choice.plan.networks ? 0.0 : 1.0;
    for (const auto& [name, score] : choice.scores)  // by "<form>" and "<form> base"
      if (choice.plan.folds > 1 || !choice.plan.networks)
        metrics[name.size() > 5 && name.compare(name.size() - 5, 5, " base") == 0
                    ? "score_base_" + name.substr(0, name.size() - 5) : "score_" + name] = score;
    report_metrics(out, metrics, {{"mode", f.mode}, {"relative", f.relative + (asked == "auto" ? " (auto)" : "")}, {"transform", f.transform}});
    return 0;
  }

  // evaluate, predict, export: the model and data settings come from the checkpoint's
  // configuration, beneath the command line.
  po::options_description model_desc;
  model_desc.add(model_options(f.c)).add(f.model_extra());
  po::options_description everything;
  everything.add(command.options).add(model_desc);
  const auto ckpt = checkpoint_beneath(f.c, f.checkpoint, "forecast", everything, parsed.values);
  f.settle_from_checkpoint(st::util::KeyValues(st::train::read_checkpoint_info(ckpt, "forecast").config, ckpt));
  const auto series = st::forecast::load_series(f.series());
  if (f.transform == "log") st::forecast::log_targets(series);  // refuses a value <= 0, naming the column
  st::forecast::Forecaster model(f.model(series.targets, series.values.size(1) - series.targets));
  st::train::load_checkpoint(ckpt, "forecast", *model, nullptr, false);
  model->to(device);
  model->eval();

  if (parsed.command == "evaluate") {
    const auto split = st::data::split_sizes(series.values.size(0), f.val_fraction, f.test_fraction);
    const auto r = st::forecast::backtest(model, series.values, split.train + split.val, f.season, device);
    if (!f.output.empty()) st::util::write_file_atomically(f.output, st::forecast::backtest_csv(r, series));
    std::cout << st::forecast::backtest_table(r, "seqtorch " + f.mode, series.names, f.season);
    report_metrics(f.checkpoint.empty() ? out : std::string(), test_metrics(r, series.names),
                   {{"mode", f.mode}, {"relative", f.relative}, {"transform", f.transform}});
    return 0;
  }
  if (parsed.command == "predict") {
    const int64_t N = series.values.size(0), L = model->input_window();
    if (N < L) throw std::runtime_error(fmt::format("predict: the data has {} steps, fewer than the window {}", N, L));
    torch::NoGradGuard no_grad;
    auto fc = model->forward(series.values.narrow(0, N - L, L).unsqueeze(0).to(device, torch::kFloat));
    const std::string csv = st::forecast::forecast_csv(series, fc.mean[0], fc.variance.defined() ? fc.variance[0] : torch::Tensor());
    if (f.output.empty()) std::cout << csv;
    else st::util::write_file_atomically(f.output, csv);
    return 0;
  }
  // export
  if (f.output.empty()) throw UsageError("export: --output FILE.pt is required");
  model->to(torch::kCPU);
  st::exporting::export_forecaster(model, series.names, f.output);
  if (!f.c.quiet) std::cerr << kProgram << ": wrote " << f.output << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(kProgram, argv, [&] { return run(argc, argv); });
}
