#include <seqtorch/train/trainer.h>
#include <seqtorch/nn/gradients.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/train/device_step.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/util/file_system.h>
#include <seqtorch/util/json.h>
#include <seqtorch/util/stop_signal.h>

#include "step_graph.h"

#include <c10/core/Event.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

namespace seqtorch::train {

namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto total = static_cast<int64_t>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  return buf;
}

// Progress on stderr: a redrawn bar on a terminal; otherwise a plain line at most every
// `every_s` seconds (logs stay short); evaluation lines always; nothing when quiet.
class Progress {
 public:
  Progress(bool quiet, std::string items_name, double every_s)
      : quiet_(quiet), tty_(::isatty(STDERR_FILENO) != 0), items_(std::move(items_name)),
        every_s_(every_s), last_line_(Clock::now()) {}
  void update(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss,
              double lr, double rate, double eta_s) {
    if (quiet_) return;
    if (!tty_) {
      if (seconds_since(last_line_) < every_s_) return;
      last_line_ = Clock::now();
    }
    const int width = 24;
    const int filled = batches > 0 ? static_cast<int>(width * batch / batches) : 0;
    std::fprintf(stderr, "%sepoch %lld/%lld [%s%s] %lld/%lld loss %.4f lr %.3g %.0f %s/s ETA %s%s",
                 tty_ ? "\r\033[K" : "", static_cast<long long>(epoch + 1),
                 static_cast<long long>(epochs), std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<long long>(batch),
                 static_cast<long long>(batches), loss, lr, rate, items_.c_str(),
                 format_duration(eta_s).c_str(), tty_ ? "" : "\n");
    std::fflush(stderr);
    drawn_ = tty_;
  }
  void message(const std::string& line) {
    if (quiet_) return;
    std::fprintf(stderr, "%s%s\n", drawn_ ? "\r\033[K" : "", line.c_str());
    std::fflush(stderr);
    drawn_ = false;
    last_line_ = Clock::now();
  }
  ~Progress() {
    if (drawn_) std::fprintf(stderr, "\n");
  }

 private:
  bool quiet_, tty_, drawn_ = false;
  std::string items_;
  double every_s_;
  Clock::time_point last_line_;
};

bool improves(double value, double best, bool lower_is_better) {
  if (!std::isfinite(value)) return false;
  if (std::isnan(best)) return true;
  return lower_is_better ? value < best : value > best;
}

// What the host learns of an optimiser step once it is known: its loss, its gradient norm
// before clipping, and whether both were finite (the step was applied) or not (skipped).
struct StepOutcome {
  int64_t epoch = 0, batch = 0, batches = 0;  // where the step ended
  double lr = 0, loss = 0, grad_norm = 0;
  bool applied = false;
};

// A step queued on a GPU whose statistics (loss, norm, skip flag) are on their way to pinned
// host memory; `ready` is recorded on the stream after the copy.
struct PendingStep {
  StepOutcome outcome;
  torch::Tensor host;  // [3] float64: loss, grad_norm, skipped (1) or applied (0)
  std::optional<c10::Event> ready;
};

// Waits for the copy of `p` (not for the work queued after it) and fills in its outcome.
StepOutcome finish(PendingStep& p) {
  while (!p.ready->query()) std::this_thread::yield();
  const double* s = p.host.data_ptr<double>();  // pinned host memory, complete now
  StepOutcome out = p.outcome;
  out.loss = s[0];
  out.grad_norm = s[1];
  out.applied = s[2] == 0.0;
  return out;
}

// The shapes and dtypes of a step's input tensors: steps with the same key can replay one graph.
std::string shape_key(const std::vector<torch::Tensor>& tensors) {
  std::ostringstream key;
  for (const auto& t : tensors) key << t.dtype() << t.sizes() << t.device() << ";";
  return key.str();
}

// The training step captured in a CUDA graph (TrainerOptions::cuda_graph): the shape it was
// captured for, its static inputs and its statistics [loss, norm, skipped], which each replay
// overwrites in place.
struct CapturedStep {
  std::unique_ptr<detail::StepGraph> graph;
  std::string key;                   // the shape seen last (before capture) or captured
  int64_t seen = 0;                  // consecutive steps of that shape before the capture
  bool captured = false, failed = false;
  std::vector<torch::Tensor> inputs;  // static copies the graph reads
  torch::Tensor stats;                // [3] float64 on the device, written by the graph
};
}  // namespace

TrainResult train(TrainTask& task, torch::optim::Optimizer& optimizer, LrSchedule& schedule,
                  const TrainerOptions& o) {
  TORCH_CHECK(o.epochs >= 0, "train: epochs: expected >= 0, got ", o.epochs);
  TORCH_CHECK(o.accumulation >= 1, "train: accumulation: expected >= 1, got ", o.accumulation);
  TORCH_CHECK(o.max_bad_steps >= 1, "train: max_bad_steps: expected >= 1, got ", o.max_bad_steps);
  TORCH_CHECK(o.log_every >= 1, "train: log_every: expected >= 1, got ", o.log_every);
  TORCH_CHECK(!o.resume || !o.out_dir.empty(), "train: resume needs a run folder (out_dir)");
  TORCH_CHECK(o.progress_every_s >= 0, "train: progress_every_s: expected >= 0, got ", o.progress_every_s);
  Parallel* const parallel = o.parallel;
  const bool writes = parallel == nullptr || parallel->rank() == 0;  // only rank 0 writes
  torch::nn::Module& model = task.model();
  const auto params = model.parameters();
  const auto t0 = Clock::now();
  const std::string ckpt_dir = util::join_path(o.out_dir, "checkpoints");
  const std::string last_path = util::join_path(ckpt_dir, "last.pt");
  const std::string best_path = util::join_path(ckpt_dir, "best.pt");

  TrainResult result;
  CheckpointInfo info;
  info.app = o.app;
  info.config = o.config;
  if (o.resume) {
    info = load_checkpoint(last_path, o.app, model, &optimizer, /*restore_rng=*/true);
    schedule.load_state(info.schedule_state);
    info.app = o.app;
    info.config = o.config;
  }
  result.best_metric = info.best_metric;
  result.skipped_steps = info.skipped_steps;
  if (parallel) {
    // Every rank starts from rank 0's weights (after a resume they are equal already; a fresh
    // model may have been initialised from another seed).
    std::vector<torch::Tensor> state = model.parameters();
    for (const auto& b : model.buffers()) state.push_back(b);
    parallel->broadcast_from_first(state);
  }

  // How steps run. On a GPU with Adam or AdamW the optimiser step is queued with a device-side
  // skip flag (DeviceStep) and its outcome is read one step later, when the next step's work is
  // already queued: the GPU never waits for the host. Elsewhere the host reads the loss and the
  // norm and decides (free on the CPU).
  std::optional<DeviceStep> device_step;
  if (!o.synchronous_steps && parallel == nullptr && DeviceStep::supports(optimizer))
    device_step.emplace(optimizer);
  std::optional<PendingStep> pending;
  std::vector<torch::Tensor> pinned;  // two host buffers for the statistics, used in turn
  int64_t launched = 0;
  if (device_step)
    for (int i = 0; i < 2; ++i)
      pinned.push_back(torch::empty({3}, torch::TensorOptions(torch::kDouble).pinned_memory(true)));
  // Captured steps: every step goes through the task's static_loss, the third step of a shape is
  // captured and replayed, and later steps of that shape replay it (see TrainerOptions).
  const bool graph_steps = device_step && o.cuda_graph && o.accumulation == 1 &&
                           task.capturable() && detail::StepGraph::available();
  CapturedStep captured;
  if (graph_steps) device_step->use_device_learning_rates();

  std::ofstream log;
  if (!o.out_dir.empty() && writes) {
    util::create_directories(o.out_dir);
    const auto log_path = util::join_path(o.out_dir, "metrics.jsonl");
    log.open(log_path, o.resume ? std::ios::app : std::ios::trunc);
    TORCH_CHECK(log, "cannot write ", log_path);
  }
  auto write_log = [&](const util::JsonObject& line) {
    if (log.is_open()) log << line.str() << "\n" << std::flush;
  };
  Progress progress(o.quiet || !writes, o.items_name, o.progress_every_s);
  double outside_steps_s = 0;  // evaluation and checkpoints: not training throughput

  auto save = [&](const std::string& path) {
    if (o.out_dir.empty() || !writes) return;
    const auto start = Clock::now();
    if (device_step) device_step->write_back();
    info.schedule_state = schedule.state();
    save_checkpoint(path, info, model, &optimizer);
    outside_steps_s += seconds_since(start);
  };

  // A fresh run's folder holds a loadable last.pt from the start: killed at any moment after
  // this, the run resumes (from here, or from its last epoch's end).
  if (!o.resume) save(last_path);

  int64_t step = info.step;
  int64_t consecutive_bad = 0;
  int64_t window_items = 0;
  int64_t window_steps = 0;
  double window_comm_ms = 0;  // data-parallel: time in the gradient hook's collectives
  int64_t processed = 0;  // micro-batches run by this process, for the ETA
  auto window_start = Clock::now();

  // Evaluates, keeps the best model; returns true when patience is exhausted or stop_at reached.
  auto evaluate = [&](int64_t epoch) {
    const auto start = Clock::now();
    model.eval();
    std::map<std::string, double> metrics;
    {
      torch::NoGradGuard no_grad;
      metrics = task.evaluate();
    }
    if (parallel) metrics = agree_on_metrics(*parallel, metrics);
    model.train();
    auto it = metrics.find(o.metric);
    TORCH_CHECK(it != metrics.end(), "train: the validation metrics lack '", o.metric,
                "', the metric chosen to pick the best model");
    const double value = it->second;
    schedule.observe(value);
    result.last_metrics = metrics;
    const bool better = improves(value, info.best_metric, o.lower_is_better);
    if (better) {
      info.best_metric = value;
      info.evals_without_gain = 0;
      result.best_metrics = metrics;
    } else {
      ++info.evals_without_gain;
    }
    write_log(util::JsonObject()
                  .add("split", "val").add("step", step).add("epoch", epoch)
                  .add_all(metrics).add("best", better)
                  .add("elapsed_s", seconds_since(t0)));
    progress.message("eval step " + std::to_string(step) + ": " + o.metric + " " +
                     std::to_string(value) + (better ? " (best)" : ""));
    outside_steps_s += seconds_since(start);
    if (better) save(best_path);
    window_items = 0;  // the throughput window restarts after the evaluation
    window_steps = 0;
    window_comm_ms = 0;
    window_start = Clock::now();
    if (!std::isnan(o.stop_at) && (o.lower_is_better ? value <= o.stop_at : value >= o.stop_at))
      result.reached_target = true;
    return result.reached_target || (o.patience > 0 && info.evals_without_gain >= o.patience);
  };

  // The host's account of a step, in step order: counts, log lines, progress, and the stop after
  // too many non-finite steps in a row.
  auto conclude = [&](const StepOutcome& s) {
    if (!s.applied) {
      info.skipped_steps = ++result.skipped_steps;
      ++consecutive_bad;
      write_log(util::JsonObject()
                    .add("split", "train").add("step", step).add("epoch", s.epoch)
                    .add("event", "skipped_non_finite").add("loss", s.loss)
                    .add("grad_norm", s.grad_norm).add("skipped_total", result.skipped_steps));
      progress.message("step " + std::to_string(step) + ": non-finite " +
                       (std::isfinite(s.loss) ? "gradient" : "loss") + ", step skipped (" +
                       std::to_string(consecutive_bad) + " in a row)");
      TORCH_CHECK(consecutive_bad < o.max_bad_steps, "train: ", consecutive_bad,
                  " consecutive steps with a non-finite loss or gradient at step ", step,
                  "; stopped (lower the learning rate or clip gradients). The last good "
                  "checkpoint is intact.");
      return;
    }
    consecutive_bad = 0;
    ++step;
    ++window_steps;
    info.step = step;
    const bool log_line = step % o.log_every == 0;
    const double window_s = seconds_since(window_start);
    const double rate = window_s > 0 ? static_cast<double>(window_items) / window_s : 0.0;
    if (log_line) {
      util::JsonObject line;
      line.add("split", "train").add("step", step).add("epoch", s.epoch)
          .add("loss", s.loss).add("lr", s.lr).add("grad_norm", s.grad_norm)
          .add(o.items_name + "_per_s", rate).add("elapsed_s", seconds_since(t0));
      if (parallel)  // items and rate above are this process's; the world's is world_size x
        line.add("world_size", parallel->world_size())
            .add("allreduce_ms_per_step", window_comm_ms / std::max<int64_t>(1, window_steps));
      write_log(line);
    }
    const double batch_rate = static_cast<double>(processed) / std::max(1e-9, seconds_since(t0));
    const double eta =
        batch_rate > 0 ? static_cast<double>((o.epochs - s.epoch) * s.batches - s.batch) / batch_rate
                       : -1;
    progress.update(s.epoch, o.epochs, s.batch, s.batches, s.loss, s.lr, rate, eta);
    if (log_line) {
      window_items = 0;
      window_steps = 0;
      window_comm_ms = 0;
      window_start = Clock::now();
    }
  };
  auto drain = [&] {
    if (!pending) return;
    const StepOutcome s = finish(*pending);
    pending.reset();
    conclude(s);
  };
  // A device-side step's statistics [loss, norm, skipped] (on the device) start their way to
  // pinned host memory; the host reads them at the next drain().
  auto queue_stats = [&](const StepOutcome& outcome, const torch::Tensor& stats) {
    PendingStep p{outcome, pinned[launched++ % 2], std::nullopt};
    p.host.copy_(stats, /*non_blocking=*/true);
    const auto dev = stats.device();
    p.ready.emplace(dev.type());
    p.ready->record(c10::impl::getDeviceGuardImpl(dev.type())->getStream(dev));
    pending = std::move(p);
    // A step on which an evaluation or the step limit may fall is accounted for at once.
    if ((o.eval_every > 0 && (step + 1) % o.eval_every == 0) ||
        (o.max_steps > 0 && step + 1 >= o.max_steps))
      drain();
  };
  // The whole step of a capturable task on `inputs`, as queued work only (so that it can be
  // captured): forward and loss, backward, clipping, the optimiser step with its device-side
  // skip, the carried state. Returns the statistics [loss, norm, skipped] on the device.
  auto step_body = [&](const std::vector<torch::Tensor>& inputs) {
    StaticLoss sl = task.static_loss(inputs);
    TORCH_CHECK(sl.loss.defined() && sl.loss.numel() == 1, "train: the task's loss must be a scalar");
    sl.loss.backward();
    const torch::Tensor loss = sl.loss.detach().reshape({}).to(torch::kDouble);
    const torch::Tensor norm = nn::clip_grad_norm_tensor_(params, o.clip_grad_norm).to(loss.device());
    const torch::Tensor skip = torch::logical_not(torch::isfinite(loss) & torch::isfinite(norm));
    if (o.clip_grad_value > 0) nn::clip_grad_value_(params, o.clip_grad_value);
    device_step->step(skip.to(torch::kFloat));
    torch::NoGradGuard no_grad;
    for (auto& [into, value] : sl.carry) into.copy_(value.detach());
    return torch::stack({loss, norm, skip.to(torch::kDouble)});
  };
  // Gradients unset, so that the next backward writes fresh ones (a captured backward then owns
  // its gradient buffers; accumulating into old ones would be replayed as accumulation).
  auto clear_grads = [&] {
    for (const auto& p : params)
      if (p.grad().defined()) p.mutable_grad().reset();
  };
  // One step of a capturable task (graph_steps): replayed when its shape was captured, otherwise
  // run eagerly; the second step of a new shape runs on the capture stream and the third is
  // captured, then replayed.
  auto run_graph_step = [&](int64_t epoch, int64_t b, int64_t batches) {
    StepInputs in = task.step_inputs(epoch, b);
    TORCH_CHECK(!in.tensors.empty(), "train: a capturable task returned no step inputs");
    window_items += in.items;
    result.items += in.items;
    StepOutcome outcome;
    outcome.epoch = epoch;
    outcome.batch = b + 1;
    outcome.batches = batches;
    drain();  // the previous step: its copy is long done, this step's work is queued
    outcome.lr = schedule.lr(step);
    set_learning_rate(optimizer, outcome.lr);
    device_step->load_learning_rates();
    const std::string key = shape_key(in.tensors);
    torch::Tensor stats;
    if (!captured.captured && !captured.failed) {
      if (key != captured.key) {
        captured.key = key;
        captured.seen = 0;
      }
      ++captured.seen;
      if (captured.seen == 2) {
        if (!captured.graph) captured.graph = std::make_unique<detail::StepGraph>(params[0].device());
        captured.graph->warm_up([&] {
          clear_grads();
          stats = step_body(in.tensors);
        });
      } else if (captured.seen == 3) {
        captured.inputs.clear();
        for (const auto& t : in.tensors) captured.inputs.push_back(t.clone(torch::MemoryFormat::Contiguous));
        try {
          clear_grads();
          captured.graph->capture([&] { captured.stats = step_body(captured.inputs); });
          captured.captured = true;
          write_log(util::JsonObject().add("split", "train").add("step", step).add("epoch", epoch)
                        .add("event", "cuda_graph_captured").add("inputs", key));
          progress.message("step " + std::to_string(step) + ": training step captured in a CUDA graph");
        } catch (const std::exception& e) {
          captured.failed = true;
          captured.inputs.clear();
          std::string what = e.what();
          what = what.substr(0, what.find('\n'));
          write_log(util::JsonObject().add("split", "train").add("step", step).add("epoch", epoch)
                        .add("event", "cuda_graph_failed").add("error", what));
          progress.message("step " + std::to_string(step) + ": the training step could not be "
                           "captured in a CUDA graph (" + what + "); steps run eagerly");
        }
      }
    }
    if (captured.captured && key == captured.key) {
      for (size_t i = 0; i < in.tensors.size(); ++i)
        captured.inputs[i].copy_(in.tensors[i], /*non_blocking=*/true);
      captured.graph->replay();
      stats = captured.stats;
      ++result.graph_steps;
    } else if (!stats.defined()) {
      clear_grads();
      stats = step_body(in.tensors);
    }
    queue_stats(outcome, stats);
  };

  model.train();
  int64_t last_eval_step = step;
  // A run that had stopped early (its patience spent at its last evaluation) stays stopped when
  // resumed: resuming a finished run trains nothing more.
  bool stop = o.resume && o.patience > 0 && info.evals_without_gain >= o.patience;
  result.stopped_early = stop;
  int agreed_signal = 0;
  bool agreed_out_of_time = false;
  int64_t epoch = info.epoch;
  for (; epoch < o.epochs && !stop; ++epoch) {
    task.start_epoch(epoch);
    const int64_t batches = task.batches_per_epoch();
    TORCH_CHECK(batches > 0, "train: the training set yields no batches");
    int64_t b = info.batch_in_epoch;
    info.batch_in_epoch = 0;
    while (b < batches) {
      if (graph_steps) {
        run_graph_step(epoch, b, batches);
        ++b;
        ++processed;
      } else {
        optimizer.zero_grad();
        const int64_t micro = std::min(o.accumulation, batches - b);
        double loss_sum = 0;      // synchronous steps: on the host
        torch::Tensor loss_dev;   // device steps: where the loss is
        int64_t step_items = 0, step_parts = 0;
        for (int64_t m = 0; m < micro; ++m) {
          StepLoss sl = task.train_loss(epoch, b + m);
          window_items += sl.items;
          result.items += sl.items;
          step_items += sl.items;
          // Data-parallel: this process's part of a small last batch may be empty.
          if (parallel && sl.items == 0 && !sl.loss.defined()) continue;
          TORCH_CHECK(sl.loss.defined() && sl.loss.numel() == 1,
                      "train: the task's loss must be a scalar");
          ++step_parts;
          (sl.loss / static_cast<double>(micro)).backward();
          if (device_step) {
            const auto l = sl.loss.detach().reshape({}).to(torch::kDouble);
            loss_dev = loss_dev.defined() ? loss_dev + l : l;
          } else {
            loss_sum += sl.loss.item<double>();
          }
        }
        b += micro;
        processed += micro;
        StepOutcome outcome;
        outcome.epoch = epoch;
        outcome.batch = b;
        outcome.batches = batches;
        if (device_step) {
          drain();  // the previous step: its copy is long done, this step's work is queued
          outcome.lr = schedule.lr(step);
          set_learning_rate(optimizer, outcome.lr);
          const torch::Tensor loss = loss_dev / static_cast<double>(micro);
          const torch::Tensor norm =
              nn::clip_grad_norm_tensor_(params, o.clip_grad_norm).to(loss.device());
          const torch::Tensor skip = torch::logical_not(torch::isfinite(loss) & torch::isfinite(norm));
          if (o.clip_grad_value > 0) nn::clip_grad_value_(params, o.clip_grad_value);
          device_step->step(skip.to(torch::kFloat));
          queue_stats(outcome, torch::stack({loss, norm, skip.to(torch::kDouble)}));
        } else {
          outcome.lr = schedule.lr(step);
          set_learning_rate(optimizer, outcome.lr);
          outcome.loss = loss_sum / static_cast<double>(micro);
          if (parallel) {
            // The hook: gradients averaged over the processes; loss, skip and stop agreed on.
            StepAgreement agreement;
            agreement.loss = step_parts > 0 ? loss_sum / static_cast<double>(step_parts) : 0.0;
            agreement.items = step_items;
            agreement.signal = util::stop_requested();
            agreement.out_of_time = o.time_budget_s > 0 && seconds_since(t0) >= o.time_budget_s;
            parallel->after_backward(params, agreement);
            window_comm_ms += parallel->take_communication_ms();
            outcome.loss = agreement.loss;
            agreed_signal = agreement.signal;
            agreed_out_of_time = agreement.out_of_time;
          }
          outcome.grad_norm = nn::clip_grad_norm_(params, o.clip_grad_norm);
          outcome.applied = std::isfinite(outcome.loss) && std::isfinite(outcome.grad_norm);
          if (outcome.applied) {
            if (o.clip_grad_value > 0) nn::clip_grad_value_(params, o.clip_grad_value);
            optimizer.step();
          } else {
            optimizer.zero_grad();
          }
          conclude(outcome);
        }
      }  // eager steps
      if (o.eval_every > 0 && step % o.eval_every == 0 && step != last_eval_step) {
        last_eval_step = step;
        if (evaluate(epoch)) {
          result.stopped_early = true;
          stop = true;
        }
      }
      // Data-parallel processes stop together, on what they agreed on in the step.
      if (const int sig = parallel ? agreed_signal : util::stop_requested()) {
        result.signal = sig;
        stop = true;
      }
      if (o.max_steps > 0 && step >= o.max_steps) stop = true;
      if (parallel ? agreed_out_of_time : o.time_budget_s > 0 && seconds_since(t0) >= o.time_budget_s) {
        result.out_of_time = true;
        stop = true;
      }
      if (stop) break;
    }
    drain();
    const bool epoch_done = b >= batches;
    if (epoch_done) {
      info.epoch = epoch + 1;
      info.batch_in_epoch = 0;
    } else {
      info.epoch = epoch;
      info.batch_in_epoch = b;
    }
    if (result.signal == 0 && !result.stopped_early &&
        (o.eval_every == 0 || (stop && step % o.eval_every != 0))) {
      if (evaluate(epoch)) result.stopped_early = true;
      if (result.stopped_early) stop = true;
    }
    save(last_path);
    if (!epoch_done) break;
  }
  result.epochs = info.epoch;
  result.steps = step;
  // Items of all processes: items / step_seconds is then the whole job's throughput.
  if (parallel) result.items = static_cast<int64_t>(parallel->all_sum({static_cast<double>(result.items)})[0]);
  result.best_metric = info.best_metric;
  result.elapsed_s = seconds_since(t0);
  result.step_seconds = std::max(0.0, result.elapsed_s - outside_steps_s);
  if (result.signal != 0)
    progress.message("stopped by signal " + std::to_string(result.signal) + "; " +
                     last_path + " written");
  return result;
}

}  // namespace seqtorch::train
