// seqtorch-lab: the seed note's experiments. long-memory (§6-§7: long-term dependencies and
// vanishing gradients) | rcnn (§8.2: recurrent convolutional network against a plain CNN).
// Glue only: options in, library calls out, a table and plots.
#include "common/cli.h"

#include <seqtorch/data/csv.h>
#include <seqtorch/lab/image_classifier.h>
#include <seqtorch/lab/long_memory.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/device.h>
#include <seqtorch/util/file_system.h>

#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

namespace st = seqtorch;
using namespace seqtorch::apps;

namespace {

const char* kProgram = "seqtorch-lab";

// "a,b,c" -> numbers, each checked by `valid`; a UsageError names the option otherwise.
template <typename T>
std::vector<T> number_list(const std::string& text, const std::string& option, const char* expected,
                           const std::function<bool(T)>& valid) {
  std::vector<T> out;
  for (const std::string& item : st::data::split_names(text)) {
    size_t used = 0;
    T v{};
    try {
      if constexpr (std::is_floating_point_v<T>) v = static_cast<T>(std::stod(item, &used));
      else v = static_cast<T>(std::stoll(item, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || !valid(v))
      throw UsageError(fmt::format("--{}: expected a comma-separated list of {}, got '{}'", option, expected, item.substr(0, 40)));
    out.push_back(v);
  }
  if (out.empty()) throw UsageError("--" + option + ": expected at least one value");
  return out;
}

template <typename F>
auto parse_or_usage(const std::string& option, F parse) {
  try {
    return parse();
  } catch (const c10::Error& e) {
    throw UsageError("--" + option + ": " + e.msg());
  }
}

struct LabCli {
  std::string out = "runs/lab", config;
  int threads = 0, jobs = 0;
  bool no_plots = false, quiet = false;
  // On by default here, unlike the apps: the tanh RNN's vanishing gradients make subnormal
  // numbers by design, and they made a long-memory run 2.5x slower on an Intel VM (README).
  bool flush_denormal = true;
  // long-memory
  std::string tasks = "adding", lengths = "50,100,200,400", cells = "rnn,irnn,lstm,gru", clips = "1", seeds = "1";
  std::string lstm_init = "chrono";
  // The library's defaults (lab/long_memory.h), which the README's measurements use.
  int64_t hidden_size = 64, batch_size = 32, steps = 3000, eval_every = 100, test_size = 1000;
  double lr = 3e-3;
  // rcnn
  std::string datasets = "digits,fashion-mnist", data_dir = "data/lab", image_seeds = "1,2,3";
  int64_t channels = 32, rcl_steps = 3, epochs = 0, train_limit = 6000, test_limit = 5000, image_batch = 64;
  double image_lr = 2e-3;

  po::options_description run_options() {
    po::options_description d("Run");
    d.add_options()
        ("out", po::value(&out)->default_value(out), "folder for the results (JSON) and the plots (PNG)")
        ("config", po::value(&config), "INI file of options (name = value), read beneath the command line")
        ("threads", po::value(&threads)->default_value(threads), "CPU threads (0: all cores)")
        ("flush-denormal", po::value(&flush_denormal)->default_value(flush_denormal)->implicit_value(true),
         "flush subnormal numbers to zero on the CPU (torch.set_flush_denormal); false keeps them, as PyTorch does by default")
        ("no-plots", po::value(&no_plots)->default_value(false)->implicit_value(true), "write no PNG (no matplotlib needed)")
        ("quiet", po::value(&quiet)->default_value(false)->implicit_value(true), "no line per finished run on stderr");
    return d;
  }
  std::vector<Command> commands() {
    std::vector<Command> cmds;
    cmds.push_back({"long-memory", "long-term dependencies: which cells bridge T steps, and ||dL/dh(t)|| at the start", po::options_description()});
    po::options_description lm("Experiment");
    lm.add_options()
        ("task", po::value(&tasks)->default_value(tasks), "adding | copy | temporal-order, comma-separated")
        ("lengths", po::value(&lengths)->default_value(lengths), "spans T, comma-separated")
        ("cells", po::value(&cells)->default_value(cells), "rnn (tanh) | irnn (ReLU, identity init) | lstm | gru, comma-separated")
        ("clip", po::value(&clips)->default_value(clips), "gradient-norm clipping values, comma-separated (0: off; \"1,0\" runs both)")
        ("seeds", po::value(&seeds)->default_value(seeds), "seeds, comma-separated (one run per seed)")
        ("hidden-size", po::value(&hidden_size)->default_value(hidden_size), "H")
        ("lstm-init", po::value(&lstm_init)->default_value(lstm_init), "LSTM gate biases: chrono (forget bias log U(1, T-1), Tallec & Ollivier) or a forget bias, e.g. 1")
        ("batch-size", po::value(&batch_size)->default_value(batch_size), "sequences per Adam step")
        ("lr", po::value(&lr)->default_value(lr, short_text(lr)), "Adam learning rate")
        ("steps", po::value(&steps)->default_value(steps), "step budget per run (a run stops early once solved)")
        ("eval-every", po::value(&eval_every)->default_value(eval_every), "steps between points of the loss curve")
        ("test-size", po::value(&test_size)->default_value(test_size), "test sequences")
        ("jobs", po::value(&jobs)->default_value(jobs), "runs at once, one thread each (0: as many as threads)");
    cmds.back().options.add(run_options()).add(lm);
    cmds.push_back({"rcnn", "recurrent convolutional network against a CNN with as many parameters", po::options_description()});
    po::options_description rc("Experiment");
    rc.add_options()
        ("datasets", po::value(&datasets)->default_value(datasets), "digits | fashion-mnist, comma-separated")
        ("data", po::value(&data_dir)->default_value(data_dir), "folder with digits.csv.gz and fashion-mnist/ (scripts/data/lab_data.sh)")
        ("seeds", po::value(&image_seeds)->default_value(image_seeds), "seeds, comma-separated (one run per seed and model)")
        ("channels", po::value(&channels)->default_value(channels), "K: channels of every layer")
        ("rcl-steps", po::value(&rcl_steps)->default_value(rcl_steps), "T: unrolled steps of each recurrent layer")
        ("epochs", po::value(&epochs)->default_value(epochs), "epochs (0: the data set's default: digits 20, fashion-mnist 5)")
        ("batch-size", po::value(&image_batch)->default_value(image_batch), "images per step")
        ("lr", po::value(&image_lr)->default_value(image_lr, short_text(image_lr)), "AdamW learning rate (cosine decay)")
        ("train-limit", po::value(&train_limit)->default_value(train_limit), "training images kept, a random subset (0: all)")
        ("test-limit", po::value(&test_limit)->default_value(test_limit), "test images kept (0: all)");
    cmds.back().options.add(run_options()).add(rc);
    return cmds;
  }
};

// Draws the plots of `json_path` into `out` with plot_lab.py.
void plot(const LabCli& f, const std::string& kind, const std::string& json_path) {
  if (f.no_plots) return;
  run_python_script("plot_lab.py", {kind, json_path, "--out", f.out}, kind);
}

int long_memory(LabCli& f) {
  auto positive = [](int64_t v) { return v >= 1; };
  const auto lengths = number_list<int64_t>(f.lengths, "lengths", "integers >= 10", [](int64_t v) { return v >= 10; });
  const auto clips = number_list<double>(f.clips, "clip", "numbers >= 0", [](double v) { return std::isfinite(v) && v >= 0; });
  const auto seeds = number_list<int64_t>(f.seeds, "seeds", "integers >= 0", [](int64_t v) { return v >= 0; });
  for (auto [name, v] : {std::pair{"hidden-size", f.hidden_size}, {"batch-size", f.batch_size}, {"steps", f.steps},
                         {"eval-every", f.eval_every}, {"test-size", f.test_size}})
    if (!positive(v)) throw UsageError(fmt::format("--{}: expected >= 1, got {}", name, v));
  if (!(std::isfinite(f.lr) && f.lr > 0)) throw UsageError(fmt::format("--lr: expected > 0, got {}", f.lr));
  if (!st::lab::valid_lstm_init(f.lstm_init))
    throw UsageError("--lstm-init: expected chrono or a number, got '" + f.lstm_init.substr(0, 40) + "'");
  if (f.jobs < 0) throw UsageError(fmt::format("--jobs: expected >= 0, got {}", f.jobs));
  std::vector<st::lab::LongMemoryOptions> runs;
  for (const std::string& task : st::data::split_names(f.tasks))
    for (int64_t length : lengths)
      for (const std::string& cell : st::data::split_names(f.cells))
        for (double clip : clips)
          for (int64_t seed : seeds) {
            st::lab::LongMemoryOptions o;
            o.task = parse_or_usage("task", [&] { return st::data::parse_memory_task(task); });
            o.cell = parse_or_usage("cells", [&] { return st::lab::parse_memory_cell(cell); });
            o.length = length;
            o.clip_grad = clip;
            o.seed = static_cast<uint64_t>(seed);
            o.hidden_size = f.hidden_size;
            o.lstm_init = f.lstm_init;
            o.batch_size = f.batch_size;
            o.lr = f.lr;
            o.max_steps = f.steps;
            o.eval_every = f.eval_every;
            o.test_size = f.test_size;
            runs.push_back(o);
          }
  if (runs.empty()) throw UsageError("--task / --cells: nothing to run");
  const int threads = st::util::set_threads(f.threads);
  const int jobs = f.jobs > 0 ? f.jobs : threads;
  if (jobs > 1) st::util::set_threads(1);
  st::util::create_directories(f.out);
  if (!f.quiet)
    std::cerr << fmt::format("long-memory: {} runs, {} at a time\n", runs.size(), std::min<size_t>(runs.size(), jobs));
  const auto results = st::lab::run_long_memory_all(runs, jobs, [&](const st::lab::LongMemoryResult& r) {
    if (f.quiet) return;
    std::cerr << fmt::format("  {} {} T={} clip={} seed={}: test loss {:.4g} (baseline {:.4g}) {} in {:.1f} s\n",
                             st::data::to_string(r.options.task), st::lab::to_string(r.options.cell), r.options.length,
                             r.options.clip_grad, r.options.seed, r.test_loss, r.baseline_loss,
                             r.solved ? "solved at step " + std::to_string(r.steps_to_solve) : std::string("not solved"),
                             r.seconds);
  });
  const std::string json_path = st::util::join_path(f.out, "long-memory.json");
  st::util::write_file_atomically(json_path, st::lab::long_memory_json(results, true) + "\n");
  std::cout << st::lab::long_memory_table(results);
  plot(f, "long-memory", json_path);
  std::cout << st::lab::long_memory_json(results, false) << std::endl;
  return 0;
}

int rcnn(LabCli& f) {
  const auto seeds = number_list<int64_t>(f.image_seeds, "seeds", "integers >= 0", [](int64_t v) { return v >= 0; });
  for (auto [name, v] : {std::pair{"channels", f.channels}, {"batch-size", f.image_batch}})
    if (v < 1) throw UsageError(fmt::format("--{}: expected >= 1, got {}", name, v));
  for (auto [name, v] : {std::pair{"rcl-steps", f.rcl_steps}, {"epochs", f.epochs}, {"train-limit", f.train_limit},
                         {"test-limit", f.test_limit}})
    if (v < 0) throw UsageError(fmt::format("--{}: expected >= 0, got {}", name, v));
  if (!(std::isfinite(f.image_lr) && f.image_lr > 0)) throw UsageError(fmt::format("--lr: expected > 0, got {}", f.image_lr));
  const auto names = st::data::split_names(f.datasets);
  const auto known = st::lab::image_benchmark_names();
  for (const auto& n : names)
    if (std::find(known.begin(), known.end(), n) == known.end())
      throw UsageError(fmt::format("--datasets: expected digits or fashion-mnist, got '{}'", n.substr(0, 40)));
  st::util::set_threads(f.threads);
  std::vector<st::lab::ImageBenchmark> benches;  // all read before anything is written
  for (const std::string& name : names)
    benches.push_back(st::lab::load_image_benchmark(name, f.data_dir, f.train_limit, f.test_limit, /*split_seed=*/0));
  st::util::create_directories(f.out);
  std::vector<st::lab::ImageComparisonRow> rows;
  for (auto& bench : benches) {
    const std::string& name = bench.name;
    bench.model.channels(f.channels).steps(f.rcl_steps);
    bench.training.batch_size = f.image_batch;
    bench.training.lr = f.image_lr;
    if (f.epochs > 0) bench.training.epochs = f.epochs;
    if (!f.quiet)
      std::cerr << fmt::format("rcnn: {}: {} training, {} test images of {}x{}, {} epochs\n", name,
                               bench.split.train.labels.size(0), bench.split.test.labels.size(0),
                               bench.split.train.images.size(2), bench.split.train.images.size(3), bench.training.epochs);
    std::vector<uint64_t> seed_list(seeds.begin(), seeds.end());
    for (auto& row : st::lab::compare_rcnn_and_cnn(bench, seed_list, [&](const std::string& model, uint64_t seed,
                                                                          const st::lab::ImageRunResult& r) {
           if (!f.quiet)
             std::cerr << fmt::format("  {} {} seed {}: test accuracy {:.4f}, {:.0f} images/s, {:.1f} s\n", name, model,
                                      seed, r.test_accuracy, r.images_per_s, r.seconds);
         }))
      rows.push_back(std::move(row));
  }
  const std::string json_path = st::util::join_path(f.out, "rcnn.json");
  const std::string json = st::lab::image_comparison_json(rows);
  st::util::write_file_atomically(json_path, json + "\n");
  std::cout << st::lab::image_comparison_table(rows);
  plot(f, "rcnn", json_path);
  std::cout << json << std::endl;
  return 0;
}

int run(int argc, char** argv) {
  LabCli f;
  auto commands = f.commands();
  auto parsed = parse_command_line(argc, argv, kProgram, commands);
  if (parsed.help) return std::cout << help_text(kProgram, commands, parsed.command), 0;
  if (f.threads < 0) throw UsageError(fmt::format("--threads: expected >= 0, got {}", f.threads));
  st::util::set_flush_denormal(f.flush_denormal);  // before any thread starts: they inherit it
  if (parsed.command == "long-memory") return long_memory(f);
  return rcnn(f);
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(kProgram, argv, [&] { return run(argc, argv); });
}
