#pragma once
// App plumbing shared by every seqtorch-<task> executable: subcommands, --help, --config FILE
// (INI) beneath the command line, the shared options, the run folder files, exit codes.
//   exit 0  success
//   exit 1  a runtime failure (one line on stderr)
//   exit 2  a usage error: unknown command or option (with the closest valid one), bad value,
//           missing value
//   exit 128 + signal  training stopped by SIGINT / SIGTERM after writing last.pt
#include <seqtorch/nn/cells.h>
#include <seqtorch/train/distributed.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/train/schedule.h>
#include <seqtorch/train/trainer.h>

#include <boost/program_options.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace seqtorch::util {
class RunLock;
}  // namespace seqtorch::util

namespace seqtorch::apps {

namespace po = boost::program_options;

/// A usage error: main prints it and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The options every app shares (../shared/DESIGN.md), after parsing.
struct CommonOptions {
  std::string out = "runs/latest";
  std::string config;
  std::string device = "auto";
  int threads = 0;
  uint64_t seed = 1;
  bool quiet = false;
  bool flush_denormal = false;
  std::string resume;  // run folder to continue (its config.ini is read beneath the command line)
  // training
  int64_t epochs = 10;
  int64_t batch_size = 32;
  double lr = 1e-3;
  std::string optimizer = "adam";
  double weight_decay = 0;
  double momentum = 0;
  std::string schedule = "constant";
  int64_t warmup_steps = 0;
  double clip_grad = 1.0;
  int64_t patience = 0;
  int64_t eval_every = 0;
  int64_t accumulate = 1;
  double time_budget = 0;
  int64_t max_steps = 0;
  bool sync_steps = false;
  bool cuda_graph = true;
  // data-parallel (under torchrun)
  double dist_timeout = 300;
  std::string dist_backend = "auto";
  // model
  std::string cell = "lstm";
  int64_t hidden_size = 128;
  int64_t num_layers = 1;
  double dropout = 0;
  bool bidirectional = false;
};

/// A double as --help shows its default: the shortest text that reads back (0.2, not
/// 0.20000000000000001).
std::string short_text(double value);

/// Checks of an option's value, attached to its declaration as a notifier: they run while the
/// options are read (po::notify in parse_command_line, store_config_beneath), so a value out of
/// range, from the command line, a config file or a checkpoint's configuration, is a UsageError
/// (exit 2) naming the option, before any work starts. Each option is checked there and nowhere
/// else. Floating-point values must also be finite.
inline std::string value_text(double v) { return short_text(v); }
inline std::string value_text(int64_t v) { return std::to_string(v); }
inline std::string value_text(int v) { return std::to_string(v); }
template <class T>
bool finite_value(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isfinite(v);
  return true;
}
/// value >= min
template <class T>
std::function<void(const T&)> at_least(const std::string& option, T min) {
  return [option, min](const T& v) {
    if (!(v >= min) || !finite_value(v))
      throw UsageError("--" + option + ": expected >= " + value_text(min) + ", got " + value_text(v));
  };
}
/// value > min
template <class T>
std::function<void(const T&)> above(const std::string& option, T min) {
  return [option, min](const T& v) {
    if (!(v > min) || !finite_value(v))
      throw UsageError("--" + option + ": expected > " + value_text(min) + ", got " + value_text(v));
  };
}
/// value in [lo, hi] (brackets "[]", "[)", "(]" or "()" say which ends belong to it)
std::function<void(const double&)> within(const std::string& option, double lo, double hi,
                                          const std::string& brackets = "[]");
/// value is one of `choices` (the message names the closest)
std::function<void(const std::string&)> one_of(const std::string& option,
                                               const std::vector<std::string>& choices);
/// --max-vocab: 0 (no limit) or more than the 4 reserved ids.
std::function<void(const int64_t&)> max_vocab_check();

/// The shared runtime options (--out, --config, --device, --threads, --flush-denormal, --seed,
/// --quiet).
po::options_description runtime_options(CommonOptions& c);
/// Puts the runtime options in force: torch's threads, subnormals flushed or not, every random
/// source seeded.
void apply_runtime_options(const CommonOptions& c);
/// The shared training options (--epochs, --batch-size, --lr, --optimizer, --clip-grad, ...,
/// --resume).
po::options_description training_options(CommonOptions& c);
/// The shared model options (--cell, --hidden-size, --num-layers, --dropout, --bidirectional).
po::options_description model_options(CommonOptions& c);

/// One subcommand: its name, a line of help and its options.
struct Command {
  std::string name;
  std::string summary;
  po::options_description options;
  /// The option that collects positional arguments (e.g. describe's images); empty: none.
  std::string positional = {};
};

/// What parse_command_line found.
struct ParsedCommandLine {
  std::string command;        // empty when only --help was asked for the program
  po::variables_map values;   // command line, then --config, then defaults
  bool help = false;          // --help was given: the caller prints help_text and exits 0
};

/// Parses `seqtorch-<program> <command> [options]`. The config file named by --config is read
/// beneath the command line; with `--resume DIR` and no --config, DIR/config.ini is (so a
/// resumed run keeps its settings), and --out defaults to DIR. Throws UsageError for an unknown or missing command, unknown
/// option (naming the closest valid one), bad or missing value, unreadable config file.
ParsedCommandLine parse_command_line(int argc, const char* const argv[], const std::string& program,
                                     const std::vector<Command>& commands);

/// Stores INI `text` (e.g. the configuration saved in a checkpoint) beneath what `values`
/// already holds, ignoring names `options` does not know, then notifies. `origin` names the
/// text in errors.
void store_config_beneath(const std::string& text, const std::string& origin,
                          const po::options_description& options, po::variables_map& values);

/// For commands that read a trained model: the checkpoint (`checkpoint`, or
/// OUT/checkpoints/best.pt), checked to come from `app`, with its stored configuration put
/// beneath the command line (so model and data settings come from the run that made it).
std::string checkpoint_beneath(const CommonOptions& c, const std::string& checkpoint,
                                         const std::string& app,
                                         const po::options_description& options,
                                         po::variables_map& values);

/// The program's help (no command) or one command's help.
std::string help_text(const std::string& program, const std::vector<Command>& commands,
                      const std::string& command);

/// The effective configuration as INI text (`name = value`, one per line, sorted), which
/// --config reads back to repeat the run. Leaves out --config, --resume and --help.
std::string effective_config(const po::variables_map& values);

/// The closest of `candidates` to `word` by edit distance (empty if none is reasonably close).
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

/// Typed engine options from the shared options.
train::OptimizerOptions optimizer_options(const CommonOptions& c);
train::ScheduleOptions schedule_options(const CommonOptions& c, int64_t total_steps);
train::TrainerOptions trainer_options(const CommonOptions& c, const std::string& app,
                                      const std::string& config);

/// The device of --device (its name checked when read), made the current CUDA device when it is
/// one (util::use_device): one this machine lacks (cuda without a GPU) is a runtime error.
torch::Device resolve_device(const CommonOptions& c);
/// The cell of --cell (checked when read).
nn::CellKind cell_kind(const CommonOptions& c);

/// Writes DIR/config.ini (atomically): the effective configuration, so `--config DIR/config.ini`
/// repeats the run. Returns the text written.
std::string write_run_config(const std::string& out_dir, const po::variables_map& values);

/// The processes of a training run: this one alone, or, under torchrun (WORLD_SIZE and the other
/// launch variables set), a data-parallel group on c10d (train/distributed.h). Only the first
/// (rank 0) writes the run folder and prints; the others train their shard and exit.
class TrainingProcesses {
 public:
  /// Joins the group the launch variables describe (blocks until all ranks have joined, or
  /// --dist-timeout passes); without them, nothing. Under torchrun a CUDA `device` named without
  /// an index (--device auto or cuda) becomes cuda:LOCAL_RANK, made current.
  TrainingProcesses(const CommonOptions& c, torch::Device& device);
  ~TrainingProcesses();
  /// Rank 0, or the only process.
  bool first() const { return !group_ || group_->rank() == 0; }
  train::Shard shard() const { return group_ ? group_->shard() : train::Shard{}; }
  /// For TrainerOptions::parallel (null: one process).
  train::Parallel* parallel() const { return group_.get(); }
  /// After the model is built (from the same seed everywhere; rank 0's weights are broadcast
  /// anyway): gives every rank but 0 its own random stream, so dropout masks differ by rank.
  void seed_streams(uint64_t seed) const;
  /// write_run_config on the first process only; every process gets the text. The first call
  /// locks the run folder first, for as long as this object lives (util/run_lock.h): a second
  /// run on the same folder fails with one line; the lock of a run that was killed is taken over.
  std::string write_run_config(const std::string& out_dir, const po::variables_map& values) const;

 private:
  void lock(const std::string& out_dir, bool quiet) const;
  std::unique_ptr<train::DataParallel> group_;
  mutable std::unique_ptr<util::RunLock> lock_;
};

/// The exit code of a training run: 128 + signal when SIGINT / SIGTERM stopped it (130, 143),
/// else 0.
int train_exit_code(const train::TrainResult& result);

/// Prints the final metrics as one JSON line on stdout and writes it to DIR/metrics.json
/// (atomically).
void report_metrics(const std::string& out_dir, const std::map<std::string, double>& metrics,
                    const std::map<std::string, std::string>& labels = {});

/// PREFIX/share/seqtorch/`relative` for a program installed in PREFIX/bin (cmake --install);
/// empty when the program's own path cannot be read.
std::string installed_data_path(const std::string& relative);

/// Runs the Python script scripts/`script` (the installed copy, else the source tree's) with
/// `args` under $SEQTORCH_PYTHON or /usr/bin/python3; throws naming `what` when it fails.
void run_python_script(const std::string& script, const std::vector<std::string>& args,
                       const std::string& what);

/// Runs `body` as a main: first util::select_blas_core(argv) (may re-execute the program with
/// faster OpenBLAS kernels, see util/blas.h) and glibc told to keep freed memory in the heap
/// (large blocks are not unmapped after each step); then UsageError -> "PROGRAM: message" and 2; other
/// exceptions -> one line and 1 (torch's backtraces cut off).
int run_main(const std::string& program, char** argv, const std::function<int()>& body);

}  // namespace seqtorch::apps
