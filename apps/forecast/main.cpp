// seqtorch-forecast: train | evaluate | predict | export. Glue only: options in, library calls out.
#include "common/cli.h"

#include <seqtorch/export/forecast_export.h>
#include <seqtorch/forecast/backtest.h>
#include <seqtorch/forecast/io.h>
#include <seqtorch/forecast/window_task.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/device.h>
#include <seqtorch/util/file_system.h>
#include <seqtorch/util/stop_signal.h>

#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

namespace st = seqtorch;
using namespace seqtorch::apps;

namespace {

const char* kProgram = "seqtorch-forecast";

struct ForecastCli {
  CommonOptions c;
  std::string data, target, covariates, time_column, fill = "none", scaler = "standard";
  std::string mode = "seq2vec", loss = "mse", checkpoint, output;
  double val_fraction = 0.1, test_fraction = 0.2, teacher_forcing = 0.5;
  int64_t window = 48, horizon = 24, season = 1;

  po::options_description data_options() {
    po::options_description d("Data");
    d.add_options()
        ("data", po::value(&data), "CSV with a header (default: the built-in series)")
        ("target", po::value(&target), "target column(s), comma-separated (built-in: load)")
        ("covariates", po::value(&covariates), "covariate columns, comma-separated")
        ("time-column", po::value(&time_column), "time column kept for output (built-in: hour)")
        ("fill", po::value(&fill)->default_value(fill), "missing values: none | linear | ffill")
        ("val-fraction", po::value(&val_fraction)->default_value(val_fraction, short_text(val_fraction)), "validation part, just before the test part")
        ("test-fraction", po::value(&test_fraction)->default_value(test_fraction, short_text(test_fraction)), "test part, at the end")
        ("season", po::value(&season)->default_value(season), "season m of seasonal naive and the MASE scale");
    return d;
  }
  po::options_description model_extra() {
    po::options_description d("Forecaster");
    d.add_options()
        ("mode", po::value(&mode)->default_value(mode), "seq2seq | seq2vec | encdec")
        ("window", po::value(&window)->default_value(window), "L: past steps the model reads")
        ("horizon", po::value(&horizon)->default_value(horizon), "H: steps forecast")
        ("loss", po::value(&loss)->default_value(loss), "mse | mae | gaussian (adds intervals)")
        ("scaler", po::value(&scaler)->default_value(scaler), "standard | minmax | none (fitted on the training part)")
        ("teacher-forcing", po::value(&teacher_forcing)->default_value(teacher_forcing, short_text(teacher_forcing)), "encdec: share of true inputs in training");
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
        {"evaluate", "rolling-origin backtest over the test part, with baselines", "unused"},
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
  st::forecast::ForecasterOptions model(int64_t targets, int64_t covs) const {
    return st::forecast::ForecasterOptions(targets, window, horizon)
        .covariates(covs).mode(st::forecast::parse_mode(mode)).loss(st::forecast::parse_loss(loss))
        .cell(cell_kind(c)).hidden_size(c.hidden_size).num_layers(c.num_layers).dropout(c.dropout)
        .teacher_forcing(teacher_forcing);
  }
};

std::map<std::string, double> test_metrics(const st::forecast::BacktestResult& r) {
  std::map<std::string, double> m = r.model;
  m["mase_naive"] = r.naive.at("mase");
  m["mase_seasonal_naive"] = r.seasonal_naive.at("mase");
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
  st::util::set_threads(f.c.threads);
  st::util::seed_everything(f.c.seed);
  torch::Device device = resolve_device(f.c);
  const std::string out = f.c.out;

  if (parsed.command == "train") {
    const TrainingProcesses procs(f.c, device);  // torchrun: this process's place and device
    const auto series = st::forecast::load_series(f.series());
    const auto prep = st::forecast::prepare_series(series, f.val_fraction, f.test_fraction,
                                                   st::data::parse_scaler_kind(f.scaler), f.window, f.horizon);
    st::forecast::Forecaster model(f.model(series.targets, series.values.size(1) - series.targets));
    model->set_scaler(prep.scaler);
    model->to(device);
    procs.seed_streams(f.c.seed);
    st::forecast::WindowTask task(model, prep.scaled, prep.split, f.c.batch_size, f.c.seed, device, procs.shard());
    auto opt = st::train::make_optimizer(model->parameters(), optimizer_options(f.c));
    st::train::LrSchedule sched(f.c.lr, schedule_options(f.c, f.c.epochs * task.batches_per_epoch()));
    const std::string config = procs.write_run_config(out, parsed.values);
    auto to = trainer_options(f.c, "forecast", config);
    to.parallel = procs.parallel();
    st::util::install_stop_handlers();
    auto result = st::train::train(task, *opt, sched, to);
    if (result.signal || !procs.first()) return train_exit_code(result);
    st::train::load_checkpoint(st::util::join_path(out, "checkpoints/best.pt"), "forecast", *model, nullptr, false);
    auto metrics = test_metrics(st::forecast::backtest(model, series.values, prep.split.train + prep.split.val, f.season, device));
    metrics["val_loss"] = result.best_metric;
    metrics["epochs"] = static_cast<double>(result.epochs);
    metrics["steps"] = static_cast<double>(result.steps);
    report_metrics(out, metrics, {{"mode", f.mode}});
    return 0;
  }

  // evaluate, predict, export: the model and data settings come from the checkpoint's
  // configuration, beneath the command line.
  po::options_description model_desc;
  model_desc.add(model_options(f.c)).add(f.model_extra());
  po::options_description everything;
  everything.add(command.options).add(model_desc);
  const auto ckpt = checkpoint_beneath(f.c, f.checkpoint, "forecast", everything, parsed.values);
  const auto series = st::forecast::load_series(f.series());
  st::forecast::Forecaster model(f.model(series.targets, series.values.size(1) - series.targets));
  st::train::load_checkpoint(ckpt, "forecast", *model, nullptr, false);
  model->to(device);
  model->eval();

  if (parsed.command == "evaluate") {
    const auto split = st::data::split_sizes(series.values.size(0), f.val_fraction, f.test_fraction);
    const auto r = st::forecast::backtest(model, series.values, split.train + split.val, f.season, device);
    fmt::print("rolling-origin backtest: {} origins, horizon {}, season {}\n", r.origins, r.horizon, f.season);
    fmt::print("{:<16}{:>12}{:>12}{:>12}{:>10}\n", "forecaster", "MAE", "RMSE", "sMAPE %", "MASE");
    const std::pair<std::string, const std::map<std::string, double>*> rows[] = {
        {"seqtorch " + f.mode, &r.model}, {"naive", &r.naive}, {"seasonal naive", &r.seasonal_naive}};
    for (const auto& [name, m] : rows)
      fmt::print("{:<16}{:>12.4f}{:>12.4f}{:>12.3f}{:>10.4f}\n", name, m->at("mae"), m->at("rmse"), m->at("smape"), m->at("mase"));
    if (std::isfinite(r.coverage80)) fmt::print("interval coverage: 80% -> {:.3f}, 95% -> {:.3f}\n", r.coverage80, r.coverage95);
    report_metrics(f.checkpoint.empty() ? out : std::string(), test_metrics(r), {{"mode", f.mode}});
    return 0;
  }
  if (parsed.command == "predict") {
    const int64_t N = series.values.size(0);
    if (N < f.window) throw std::runtime_error(fmt::format("predict: the data has {} steps, fewer than the window {}", N, f.window));
    torch::NoGradGuard no_grad;
    auto fc = model->forward(series.values.narrow(0, N - f.window, f.window).unsqueeze(0).to(device, torch::kFloat));
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
