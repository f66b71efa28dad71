#include "common/cli.h"

#include <seqtorch/nn/cells.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/allocator.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/blas.h>
#include <seqtorch/util/device.h>
#include <seqtorch/util/file_system.h>
#include <seqtorch/util/json.h>
#include <seqtorch/util/messages.h>
#include <seqtorch/util/run_lock.h>

#include <c10/util/Exception.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace seqtorch::apps {

namespace {
std::string suggestion(const std::string& word, const std::vector<std::string>& names,
                       const std::string& prefix);
}  // namespace

po::options_description runtime_options(CommonOptions& c) {
  po::options_description d("Run");
  auto device_name = [](const std::string& d) {
    const bool well_formed =
        d == "auto" || d == "cpu" || d == "cuda" ||
        (d.rfind("cuda:", 0) == 0 && d.size() > 5 && d.size() < 9 &&
         d.find_first_not_of("0123456789", 5) == std::string::npos);
    if (!well_formed)
      throw UsageError("--device: expected auto, cpu, cuda or cuda:N, got " + util::quoted(d) +
                       suggestion(d, {"auto", "cpu", "cuda"}, ""));
  };
  d.add_options()
      ("out", po::value(&c.out)->default_value(c.out), "run folder: checkpoints/, metrics.jsonl, metrics.json, config.ini")
      ("config", po::value(&c.config), "INI file of options (name = value), read beneath the command line")
      ("device", po::value(&c.device)->default_value(c.device)->notifier(device_name), "auto | cpu | cuda | cuda:N (auto: CUDA when present)")
      ("threads", po::value(&c.threads)->default_value(c.threads)->notifier(at_least("threads", 0)), "CPU threads (0: all cores)")
      ("flush-denormal", po::value(&c.flush_denormal)->default_value(c.flush_denormal)->implicit_value(true),
       "flush subnormal numbers (below 1.2e-38 in float32) to zero on the CPU, as torch.set_flush_denormal: faster where vanishing gradients make them")
      ("seed", po::value(&c.seed)->default_value(c.seed), "seed of every random source")
      ("quiet", po::value(&c.quiet)->default_value(false)->implicit_value(true), "no progress output");
  return d;
}

void apply_runtime_options(const CommonOptions& c) {
  util::set_threads(c.threads);
  if (!util::set_flush_denormal(c.flush_denormal) && c.flush_denormal && !c.quiet)
    std::cerr << "--flush-denormal: this CPU cannot flush subnormal numbers to zero; they are kept\n";
  util::seed_everything(c.seed);
}

po::options_description training_options(CommonOptions& c) {
  po::options_description d("Training");
  d.add_options()
      ("epochs", po::value(&c.epochs)->default_value(c.epochs)->notifier(at_least<int64_t>("epochs", 1)), "epochs to train")
      ("batch-size", po::value(&c.batch_size)->default_value(c.batch_size)->notifier(at_least<int64_t>("batch-size", 1)), "sequences per batch")
      ("lr", po::value(&c.lr)->default_value(c.lr, short_text(c.lr))->notifier(above("lr", 0.0)), "learning rate")
      ("optimizer", po::value(&c.optimizer)->default_value(c.optimizer)->notifier(one_of("optimizer", {"sgd", "adam", "adamw", "rmsprop"})), "sgd | adam | adamw | rmsprop")
      ("weight-decay", po::value(&c.weight_decay)->default_value(c.weight_decay, short_text(c.weight_decay))->notifier(at_least("weight-decay", 0.0)), "weight decay")
      ("momentum", po::value(&c.momentum)->default_value(c.momentum, short_text(c.momentum))->notifier(within("momentum", 0, 1, "[)")), "momentum (sgd, rmsprop)")
      ("schedule", po::value(&c.schedule)->default_value(c.schedule)->notifier(one_of("schedule", {"constant", "step", "exponential", "cosine", "plateau"})), "constant | step | exponential | cosine | plateau")
      ("warmup-steps", po::value(&c.warmup_steps)->default_value(c.warmup_steps)->notifier(at_least<int64_t>("warmup-steps", 0)), "linear warm-up steps")
      ("clip-grad", po::value(&c.clip_grad)->default_value(c.clip_grad, short_text(c.clip_grad))->notifier(at_least("clip-grad", 0.0)), "clip the global gradient norm (0: off)")
      ("patience", po::value(&c.patience)->default_value(c.patience)->notifier(at_least<int64_t>("patience", 0)), "stop after N evaluations without gain (0: never)")
      ("eval-every", po::value(&c.eval_every)->default_value(c.eval_every)->notifier(at_least<int64_t>("eval-every", 0)), "evaluate every N steps (0: every epoch)")
      ("accumulate", po::value(&c.accumulate)->default_value(c.accumulate)->notifier(at_least<int64_t>("accumulate", 1)), "micro-batches per optimiser step")
      ("time-budget", po::value(&c.time_budget)->default_value(c.time_budget, short_text(c.time_budget))->notifier(at_least("time-budget", 0.0)), "stop after this many seconds (0: none)")
      ("max-steps", po::value(&c.max_steps)->default_value(c.max_steps)->notifier(at_least<int64_t>("max-steps", 0)), "stop after this many optimiser steps (0: no limit)")
      ("sync-steps", po::value(&c.sync_steps)->default_value(false)->implicit_value(true), "GPU: decide each step's non-finite skip on the host (slower; by default Adam/AdamW skip on the GPU)")
      ("cuda-graph", po::value(&c.cuda_graph)->default_value(c.cuda_graph, c.cuda_graph ? "on" : "off"), "GPU: on | off. on: replay the training step as one captured CUDA graph where the app allows it (textgen; with Adam/AdamW, no --accumulate, no --sync-steps); off: launch each step's kernels")
      ("dist-timeout", po::value(&c.dist_timeout)->default_value(c.dist_timeout, short_text(c.dist_timeout))->notifier(above("dist-timeout", 0.0)), "under torchrun: seconds after which a dead or hung rank ends the job with an error")
      ("dist-backend", po::value(&c.dist_backend)->default_value(c.dist_backend)->notifier(one_of("dist-backend", {"auto", "gloo", "nccl"})), "under torchrun: auto (NCCL on CUDA where built, else Gloo) | gloo | nccl")
      ("resume", po::value(&c.resume), "DIR: continue the run in DIR from DIR/checkpoints/last.pt, with DIR/config.ini beneath the command line");
  return d;
}

std::string short_text(double value) {
  for (int digits = 1; digits <= 17; ++digits) {
    std::ostringstream out;
    out.precision(digits);
    out << value;
    if (std::stod(out.str()) == value) return out.str();
  }
  return std::to_string(value);
}

po::options_description model_options(CommonOptions& c) {
  po::options_description d("Model");
  d.add_options()
      ("cell", po::value(&c.cell)->default_value(c.cell)->notifier(one_of("cell", {"rnn", "lstm", "gru"})), "rnn | lstm | gru")
      ("hidden-size", po::value(&c.hidden_size)->default_value(c.hidden_size)->notifier(at_least<int64_t>("hidden-size", 1)), "hidden units per layer and direction")
      ("num-layers", po::value(&c.num_layers)->default_value(c.num_layers)->notifier(at_least<int64_t>("num-layers", 1)), "stacked layers")
      ("dropout", po::value(&c.dropout)->default_value(c.dropout, short_text(c.dropout))->notifier(within("dropout", 0, 1, "[)")), "dropout between layers")
      ("bidirectional", po::value(&c.bidirectional)->default_value(c.bidirectional)->implicit_value(true), "two directions (encoders)");
  return d;
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;  // "reasonably close"
  for (const auto& c : candidates) {
    const size_t d = distance(word, c);
    if (d < best_d || (c.rfind(word, 0) == 0 && !word.empty() && best.empty())) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

namespace {
std::vector<std::string> option_names(const po::options_description& d) {
  std::vector<std::string> names;
  for (const auto& o : d.options()) names.push_back(o->long_name());
  return names;
}

std::string strip_dashes(std::string s) {
  while (!s.empty() && s.front() == '-') s.erase(0, 1);
  return s.substr(0, s.find('='));
}

std::string suggestion(const std::string& word, const std::vector<std::string>& names,
                       const std::string& prefix) {
  const std::string m = closest_match(word, names);
  return m.empty() ? "" : "; did you mean " + prefix + m + "?";
}

const Command* find_command(const std::vector<Command>& commands, const std::string& name) {
  for (const auto& c : commands)
    if (c.name == name) return &c;
  return nullptr;
}

std::string command_list(const std::vector<Command>& commands) {
  std::string s;
  for (const auto& c : commands) s += (s.empty() ? "" : ", ") + c.name;
  return s;
}

// Boost.ProgramOptions builds a message by replacing its placeholders (%value%, %option%, ...)
// with the user's text until none is left, so a value that holds a placeholder itself
// (`--lr %value%`) made what() loop forever (found by fuzz/config_fuzz.cpp). Every '%' of the
// user's text is written \x25 (as other unprintable bytes are) before the message is made.
struct SubstitutionsOf : po::error_with_option_name {
  static std::map<std::string, std::string>& of(po::error_with_option_name& e) {
    return e.*(&SubstitutionsOf::m_substitutions);
  }
};

std::string message_of(po::error& e) {
  if (auto* named = dynamic_cast<po::error_with_option_name*>(&e)) {
    for (auto& [key, text] : SubstitutionsOf::of(*named)) {
      std::string safe;
      for (char ch : text) safe += ch == '%' ? std::string("\\x25") : std::string(1, ch);
      text = safe;
    }
  }
  return e.what();
}

std::string choice_list(const std::vector<std::string>& choices) {
  std::string list;
  for (size_t i = 0; i < choices.size(); ++i)
    list += (i ? (i + 1 == choices.size() ? " or " : ", ") : "") + choices[i];
  return list;
}
}  // namespace

std::function<void(const double&)> within(const std::string& option, double lo, double hi,
                                          const std::string& brackets) {
  if (brackets.size() != 2) throw std::logic_error("within: brackets like \"[)\"");
  return [=](const double& v) {
    const bool low = brackets[0] == '(' ? v > lo : v >= lo;
    const bool high = brackets[1] == ')' ? v < hi : v <= hi;
    if (!(low && high))
      throw UsageError("--" + option + ": expected in " + brackets[0] + short_text(lo) + ", " + short_text(hi) +
                       brackets[1] + ", got " + short_text(v));
  };
}

std::function<void(const std::string&)> one_of(const std::string& option,
                                               const std::vector<std::string>& choices) {
  return [=](const std::string& v) {
    if (std::find(choices.begin(), choices.end(), v) != choices.end()) return;
    throw UsageError("--" + option + ": expected " + choice_list(choices) + ", got " + util::quoted(v) +
                     suggestion(v, choices, ""));
  };
}

std::function<void(const int64_t&)> max_vocab_check() {
  return [](const int64_t& v) {
    if (v != 0 && v <= 4) throw UsageError("--max-vocab: expected 0 (no limit) or > 4 (the reserved ids), got " + std::to_string(v));
  };
}


ParsedCommandLine parse_command_line(int argc, const char* const argv[], const std::string& program,
                                     const std::vector<Command>& commands) {
  ParsedCommandLine parsed;
  if (argc < 2) throw UsageError("missing command: expected one of " + command_list(commands));
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    parsed.help = true;
    return parsed;
  }
  const Command* command = find_command(commands, name);
  if (!command) {
    std::vector<std::string> names;
    for (const auto& c : commands) names.push_back(c.name);
    throw UsageError("unknown command '" + name + "': expected one of " + command_list(commands) +
                     suggestion(name, names, ""));
  }
  parsed.command = name;
  po::options_description all;
  all.add(command->options);
  all.add_options()("help,h", "this help");
  const auto names = option_names(all);
  try {
    po::positional_options_description positional;
    if (!command->positional.empty()) positional.add(command->positional.c_str(), -1);
    po::store(po::command_line_parser(argc - 1, argv + 1).options(all).positional(positional).run(), parsed.values);
  } catch (const po::unknown_option& e) {
    const std::string opt = e.get_option_name();
    throw UsageError("unknown option " + opt + " for '" + program + " " + name + "'" +
                     suggestion(strip_dashes(opt), names, "--"));
  } catch (po::error& e) {
    throw UsageError(message_of(e));
  }
  if (parsed.values.count("help")) {
    parsed.help = true;
    return parsed;
  }
  std::string config_file;
  if (parsed.values.count("config")) {
    config_file = parsed.values["config"].as<std::string>();
  } else if (parsed.values.count("resume")) {
    const auto dir = parsed.values["resume"].as<std::string>();
    const std::string last = util::join_path(dir, "checkpoints/last.pt");
    // A run that trains candidates (seqtorch-forecast --relative auto) saves in
    // DIR/candidates/<name>/ until one is chosen.
    bool saved = util::path_exists(last);
    const std::string candidates = util::join_path(dir, "candidates");
    if (!saved && util::is_directory(candidates))
      for (const auto& name : util::list_directory(candidates))
        saved = saved || util::path_exists(util::join_path(candidates, name + "/checkpoints/last.pt"));
    if (!saved)
      throw UsageError("--resume: " + last +
                       " does not exist (not a run folder, or the run saved nothing yet)");
    if (util::path_exists(util::join_path(dir, "config.ini"))) config_file = util::join_path(dir, "config.ini");
  }
  if (parsed.values.count("resume") && parsed.values.count("out") && parsed.values["out"].defaulted()) {
    // The run folder is the one resumed (unless --out says otherwise on the command line).
    parsed.values.erase("out");
    po::store(po::command_line_parser(std::vector<std::string>{
                  "--out", parsed.values["resume"].as<std::string>()}).options(all).run(),
              parsed.values);
  }
  if (!config_file.empty()) {
    const std::string file = config_file;
    std::string text;
    try {
      text = util::read_file(file);
    } catch (const c10::Error& e) {
      throw UsageError("--config: " + std::string(e.what_without_backtrace()));
    }
    std::istringstream in(text);
    try {
      po::store(po::parse_config_file(in, all, /*allow_unregistered=*/false), parsed.values);
    } catch (const po::unknown_option& e) {
      const std::string opt = e.get_option_name();
      if (!parsed.values.count("config") && parsed.values.count("resume")) {
        // Most likely another app's run folder: say so rather than name its first option.
        const std::string dir = parsed.values["resume"].as<std::string>();
        std::string app;
        try {
          app = train::read_checkpoint_info(util::join_path(dir, "checkpoints/last.pt")).app;
        } catch (const c10::Error&) {
        }
        if (!app.empty() && "seqtorch-" + app != program)
          throw UsageError("--resume: " + dir + " is a run of seqtorch-" + app + ", not of " + program);
      }
      throw UsageError(file + ": unknown option " + util::quoted(opt) + suggestion(opt, names, ""));
    } catch (po::error& e) {
      throw UsageError(file + ": " + message_of(e));
    }
  }
  try {
    po::notify(parsed.values);
  } catch (po::error& e) {
    throw UsageError(message_of(e));
  }
  return parsed;
}

void store_config_beneath(const std::string& text, const std::string& origin,
                          const po::options_description& options, po::variables_map& values) {
  std::istringstream in(text);
  try {
    po::store(po::parse_config_file(in, options, /*allow_unregistered=*/true), values);
    po::notify(values);
  } catch (po::error& e) {
    throw UsageError(origin + ": " + message_of(e));
  }
}

std::string checkpoint_beneath(const CommonOptions& c, const std::string& checkpoint,
                               const std::string& app, const po::options_description& options,
                               po::variables_map& values) {
  const std::string path =
      checkpoint.empty() ? util::join_path(c.out, "checkpoints/best.pt") : checkpoint;
  const auto info = train::read_checkpoint_info(path, app);
  store_config_beneath(info.config, path, options, values);
  return path;
}

std::string help_text(const std::string& program, const std::vector<Command>& commands,
                      const std::string& command) {
  std::ostringstream s;
  if (const Command* c = find_command(commands, command)) {
    s << "usage: " << program << " " << c->name << " [options]\n" << c->summary << "\n\n"
      << c->options << "\nOptions come from the command line, then --config FILE, then the "
      << "defaults shown.\n";
    return s.str();
  }
  s << "usage: " << program << " <command> [options]\n\ncommands:\n";
  for (const auto& c : commands) s << "  " << c.name << std::string(12 - std::min<size_t>(11, c.name.size()), ' ') << c.summary << "\n";
  s << "\n'" << program << " <command> --help' lists a command's options.\n";
  return s.str();
}

namespace {
std::string value_string(const boost::any& v) {
  char buf[64];
  if (const auto* s = boost::any_cast<std::string>(&v)) return *s;
  if (const auto* b = boost::any_cast<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = boost::any_cast<int>(&v)) return std::to_string(*i);
  if (const auto* l = boost::any_cast<int64_t>(&v)) return std::to_string(*l);
  if (const auto* u = boost::any_cast<uint64_t>(&v)) return std::to_string(*u);
  if (const auto* d = boost::any_cast<double>(&v)) {
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    return buf;
  }
  throw std::logic_error("effective_config: an option of a type it cannot write");
}
}  // namespace

std::string effective_config(const po::variables_map& values) {
  std::ostringstream s;
  s << "# effective configuration; repeat the run with --config <this file>\n";
  for (const auto& [name, value] : values) {  // a std::map: sorted
    if (name == "config" || name == "resume" || name == "help" || value.empty()) continue;
    s << name << " = " << value_string(value.value()) << "\n";
  }
  return s.str();
}

train::OptimizerOptions optimizer_options(const CommonOptions& c) {
  train::OptimizerOptions o;
  o.kind = train::parse_optimizer_kind(c.optimizer);  // checked when read (one_of)
  o.lr = c.lr;
  o.weight_decay = c.weight_decay;
  o.momentum = c.momentum;
  return o;
}

train::ScheduleOptions schedule_options(const CommonOptions& c, int64_t total_steps) {
  train::ScheduleOptions o;
  o.kind = train::parse_schedule_kind(c.schedule);  // checked when read (one_of)
  o.warmup_steps = c.warmup_steps;
  o.total_steps = std::max(total_steps, c.warmup_steps + 1);
  o.step_size = std::max<int64_t>(1, total_steps / 4);
  return o;
}

train::TrainerOptions trainer_options(const CommonOptions& c, const std::string& app,
                                      const std::string& config) {
  // The values were checked when read (training_options' notifiers).
  train::TrainerOptions o;
  o.epochs = c.epochs;
  o.patience = c.patience;
  o.eval_every = c.eval_every;
  o.clip_grad_norm = c.clip_grad;
  o.accumulation = c.accumulate;
  o.time_budget_s = c.time_budget;
  o.max_steps = c.max_steps;
  o.synchronous_steps = c.sync_steps;
  o.cuda_graph = c.cuda_graph;
  o.out_dir = c.out;
  o.quiet = c.quiet;
  o.resume = !c.resume.empty();
  o.app = app;
  o.config = config;
  return o;
}

torch::Device resolve_device(const CommonOptions& c) {
  return util::use_device(util::parse_device(c.device));  // the name was checked when read
}

nn::CellKind cell_kind(const CommonOptions& c) {
  return nn::parse_cell_kind(c.cell);  // checked when read (one_of)
}

TrainingProcesses::TrainingProcesses(const CommonOptions& c, torch::Device& device) {
  const auto env = train::read_launch_environment([](const char* name) { return std::getenv(name); });
  if (!env) return;
  // --threads 0 (all cores) shared by the processes on this machine, not taken by each.
  const char* local_world = std::getenv("LOCAL_WORLD_SIZE");
  if (c.threads == 0 && local_world != nullptr && std::atoi(local_world) > 1)
    util::set_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / std::atoi(local_world)));
  if (device.is_cuda() && c.device.find(':') == std::string::npos)
    device = util::use_device(util::parse_device("cuda:" + std::to_string(env->local_rank)));
  train::DataParallelOptions o;
  o.timeout = std::chrono::milliseconds(static_cast<int64_t>(c.dist_timeout * 1000));
  o.backend = c.dist_backend;
  group_ = std::make_unique<train::DataParallel>(*env, device, o);
  if (first() && !c.quiet)
    std::cerr << "data-parallel: " << env->world_size << (env->world_size == 1 ? " process (" : " processes (")
              << group_->backend() << "), "
              << c.batch_size << " x " << env->world_size << " = " << c.batch_size * env->world_size
              << " per global batch\n";
}

TrainingProcesses::~TrainingProcesses() = default;

void TrainingProcesses::lock(const std::string& out_dir, bool quiet) const {
  if (lock_) return;
  lock_ = std::make_unique<util::RunLock>(out_dir);
  if (!lock_->stale_holder().empty() && !quiet)
    std::cerr << "took over the lock of " << out_dir << " left by a run that ended without releasing it ("
              << lock_->stale_holder() << ")\n";
}

void TrainingProcesses::seed_streams(uint64_t seed) const {
  if (group_ && group_->rank() > 0) util::seed_everything(seed + 1000003ull * static_cast<uint64_t>(group_->rank()));
}

std::string TrainingProcesses::write_run_config(const std::string& out_dir, const po::variables_map& values) const {
  if (!first()) return effective_config(values);
  lock(out_dir, values.count("quiet") && values["quiet"].as<bool>());
  return apps::write_run_config(out_dir, values);
}

std::string write_run_config(const std::string& out_dir, const po::variables_map& values) {
  const std::string text = effective_config(values);
  util::write_file_atomically(util::join_path(out_dir, "config.ini"), text);
  return text;
}

int train_exit_code(const train::TrainResult& result) {
  return result.signal != 0 ? 128 + result.signal : 0;
}

void report_metrics(const std::string& out_dir, const std::map<std::string, double>& metrics,
                    const std::map<std::string, std::string>& labels) {
  util::JsonObject json;
  for (const auto& [k, v] : labels) json.add(k, v);
  json.add_all(metrics);
  const std::string line = json.str();
  std::cout << line << std::endl;
  if (!out_dir.empty()) util::write_file_atomically(util::join_path(out_dir, "metrics.json"), line + "\n");
}

std::string installed_data_path(const std::string& relative) {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "";
  const std::string bin_dir = util::parent_path(std::string(exe, static_cast<size_t>(n)));
  return util::join_path(util::parent_path(bin_dir), "share/seqtorch/" + relative);
}

namespace {
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}
}  // namespace

void run_python_script(const std::string& script, const std::vector<std::string>& args,
                       const std::string& what) {
  std::string path = installed_data_path("scripts/" + script);
  if (path.empty() || !util::path_exists(path)) path = std::string(SEQTORCH_SCRIPTS_DIR "/") + script;
  const char* python = std::getenv("SEQTORCH_PYTHON");
  std::string command = shell_quote(python ? python : "/usr/bin/python3") + " " + shell_quote(path);
  for (const auto& a : args) command += " " + shell_quote(a);
  const int rc = std::system(command.c_str());
  if (rc != 0) throw std::runtime_error(what + ": the plotting script failed (" + command + ")");
}

int run_main(const std::string& program, char** argv, const std::function<int()>& body) {
  util::select_blas_core(argv);
  util::keep_freed_memory();  // large per-step buffers stay in the heap (util/allocator.h)
  // One printable line, whatever the input held: control bytes and invalid UTF-8 as \xNN, at
  // most kMax bytes (a 1 MB CSV cell or a binary config file is not echoed whole).
  auto line = [](const std::string& msg) {
    constexpr size_t kMax = 1000;
    std::string first = util::printable(msg.substr(0, msg.find('\n')));
    if (first.size() > kMax) first = first.substr(0, kMax) + "...";
    return first;
  };
  try {
    return body();
  } catch (const UsageError& e) {
    std::cerr << program << ": " << line(e.what()) << " (see " << program << " --help)" << std::endl;
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << program << ": " << line(e.what_without_backtrace()) << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << program << ": " << line(e.what()) << std::endl;
    return 1;
  }
}

}  // namespace seqtorch::apps
