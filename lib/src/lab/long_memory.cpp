#include <seqtorch/lab/long_memory.h>

#include <seqtorch/nn/gradients.h>
#include <seqtorch/nn/recurrent.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/train/schedule.h>
#include <seqtorch/train/trainer.h>

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>

namespace seqtorch::lab {

std::string to_string(MemoryCell cell) {
  switch (cell) {
    case MemoryCell::rnn: return "rnn";
    case MemoryCell::irnn: return "irnn";
    case MemoryCell::lstm: return "lstm";
    case MemoryCell::gru: return "gru";
  }
  return "?";
}

MemoryCell parse_memory_cell(const std::string& name) {
  for (MemoryCell c : {MemoryCell::rnn, MemoryCell::irnn, MemoryCell::lstm, MemoryCell::gru})
    if (name == to_string(c)) return c;
  TORCH_CHECK(false, "cell: expected rnn, irnn, lstm or gru, got '", name, "'");
}

bool valid_lstm_init(const std::string& text) {
  if (text == "chrono") return true;
  size_t used = 0;
  try {
    const double v = std::stod(text, &used);
    return used == text.size() && std::isfinite(v);
  } catch (const std::exception&) {
    return false;
  }
}

namespace {

// SplitMix64: independent seeds for the training batches, validation and test sets.
uint64_t mix(uint64_t seed, uint64_t stream) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
constexpr uint64_t kValStream = 1ULL << 62, kTestStream = (1ULL << 62) + 1;

// A recurrent layer and a linear head on its outputs.
struct MemoryNetImpl : torch::nn::Module {
  MemoryNetImpl(const LongMemoryOptions& o, const data::MemoryTaskShape& shape)
      : rnn(nn::RecurrentOptions(shape.input_size, o.hidden_size)
                .cell(o.cell == MemoryCell::lstm  ? nn::CellKind::lstm
                      : o.cell == MemoryCell::gru ? nn::CellKind::gru
                                                  : nn::CellKind::rnn)
                .nonlinearity(o.cell == MemoryCell::irnn ? nn::Nonlinearity::relu
                                                         : nn::Nonlinearity::tanh)),
        head(o.hidden_size, shape.output_size) {
    register_module("rnn", rnn);
    register_module("head", head);
    if (o.cell == MemoryCell::lstm) {
      torch::NoGradGuard no_grad;
      auto p = rnn->layer_parameters(0, 0);  // biases [4H]: gates i, f, g, o
      const int64_t H = o.hidden_size;
      torch::Tensor input = p[2].narrow(0, 0, H), forget = p[2].narrow(0, H, H);
      p[3].narrow(0, H, H).zero_();
      if (o.lstm_init == "chrono") {
        // log(U(1, T - 1)): forget gates sigma(b) = 1 - 1/u keep memory ~u steps, u up to T.
        forget.uniform_(1.0, static_cast<double>(std::max<int64_t>(2, shape.steps - 1))).log_();
        input.copy_(-forget);
        p[3].narrow(0, 0, H).zero_();
      } else {
        forget.fill_(std::stod(o.lstm_init));
      }
    }
    if (o.cell == MemoryCell::irnn) {
      torch::NoGradGuard no_grad;
      auto p = rnn->layer_parameters(0, 0);  // w_ih [H, I], w_hh [H, H], b_ih, b_hh
      p[0].normal_(0.0, 1e-3);
      p[1].copy_(torch::eye(o.hidden_size));
      p[2].zero_();
      p[3].zero_();
    }
  }
  nn::Recurrent rnn;
  torch::nn::Linear head;
};
TORCH_MODULE(MemoryNet);

struct TaskLoss {
  torch::Tensor loss;     // scalar
  torch::Tensor correct;  // 0-d count of correct predictions (classification), else undefined
  int64_t scored = 0;     // predictions the count is over
};

// The loss of `batch` from the layer's outputs [steps, B, H]: MSE or cross-entropy of the head
// at the last step, or (copy) at every step. Accuracy: copy counts its copied symbols only.
TaskLoss task_loss(MemoryNetImpl& net, const data::MemoryTaskShape& shape,
                   const data::MemoryBatch& batch, const torch::Tensor& outputs) {
  TaskLoss r;
  if (!shape.classification) {
    r.loss = torch::mse_loss(net.head(outputs[-1]).squeeze(1), batch.targets);
    return r;
  }
  if (shape.every_step) {
    torch::Tensor logits = net.head(outputs);  // [T, B, O]
    r.loss = torch::cross_entropy_loss(logits.reshape({-1, shape.output_size}),
                                       batch.targets.reshape({-1}));
    constexpr int64_t kCopied = 10;
    const int64_t T = logits.size(0);
    r.correct = (logits.narrow(0, T - kCopied, kCopied).argmax(2) ==
                 batch.targets.narrow(0, T - kCopied, kCopied)).sum();
    r.scored = kCopied * logits.size(1);
    return r;
  }
  torch::Tensor logits = net.head(outputs[-1]);  // [B, O]
  r.loss = torch::cross_entropy_loss(logits, batch.targets);
  r.correct = (logits.argmax(1) == batch.targets).sum();
  r.scored = logits.size(0);
  return r;
}

class MemoryTrainTask : public train::TrainTask {
 public:
  MemoryTrainTask(MemoryNet net, const LongMemoryOptions& o, const data::MemoryTaskShape& shape,
                  std::vector<LossPoint>& curve)
      : net_(std::move(net)), o_(o), shape_(shape), curve_(curve),
        val_(data::make_memory_batch(o.task, o.length, o.val_size, mix(o.seed, kValStream))) {}

  torch::nn::Module& model() override { return *net_; }
  int64_t batches_per_epoch() override { return o_.eval_every; }
  train::StepLoss train_loss(int64_t epoch, int64_t index) override {
    const auto step = static_cast<uint64_t>(epoch * o_.eval_every + index);
    auto batch = data::make_memory_batch(o_.task, o_.length, o_.batch_size, mix(o_.seed, step));
    torch::Tensor loss = task_loss(*net_, shape_, batch, net_->rnn(batch.inputs).output).loss;
    running_ = running_.defined() ? running_ + loss.detach() : loss.detach();
    ++since_eval_;
    last_step_ = static_cast<int64_t>(step) + 1;
    return {loss, o_.batch_size};
  }
  std::map<std::string, double> evaluate() override {
    const double val = task_loss(*net_, shape_, val_, net_->rnn(val_.inputs).output).loss.item<double>();
    const double train = since_eval_ > 0 ? running_.item<double>() / static_cast<double>(since_eval_)
                                         : std::numeric_limits<double>::quiet_NaN();
    curve_.push_back({last_step_, train, val});
    running_ = torch::Tensor();
    since_eval_ = 0;
    return {{"loss", val}};
  }

 private:
  MemoryNet net_;
  LongMemoryOptions o_;
  data::MemoryTaskShape shape_;
  std::vector<LossPoint>& curve_;
  data::MemoryBatch val_;
  torch::Tensor running_;
  int64_t since_eval_ = 0, last_step_ = 0;
};

void check_options(const LongMemoryOptions& o) {
  auto positive = [](int64_t v, const char* name) {
    TORCH_CHECK(v >= 1, "long-memory: ", name, ": expected >= 1, got ", v);
  };
  positive(o.hidden_size, "hidden_size");
  positive(o.batch_size, "batch_size");
  positive(o.max_steps, "max_steps");
  positive(o.eval_every, "eval_every");
  positive(o.val_size, "val_size");
  positive(o.test_size, "test_size");
  positive(o.gradient_batch, "gradient_batch");
  TORCH_CHECK(std::isfinite(o.lr) && o.lr > 0, "long-memory: lr: expected > 0, got ", o.lr);
  TORCH_CHECK(std::isfinite(o.clip_grad) && o.clip_grad >= 0,
              "long-memory: clip_grad: expected >= 0 (0: off), got ", o.clip_grad);
  TORCH_CHECK(valid_lstm_init(o.lstm_init),
              "long-memory: lstm_init: expected chrono or a number, got '", o.lstm_init, "'");
  TORCH_CHECK(o.solved_fraction > 0 && o.solved_fraction < 1,
              "long-memory: solved_fraction: expected in (0, 1), got ", o.solved_fraction);
}

}  // namespace

LongMemoryResult run_long_memory(const LongMemoryOptions& o) {
  check_options(o);
  const data::MemoryTaskShape shape = data::memory_task_shape(o.task, o.length);
  const auto t0 = std::chrono::steady_clock::now();
  LongMemoryResult r;
  r.options = o;
  r.baseline_loss = shape.baseline_loss;

  MemoryNet net = nullptr;
  {
    // Initial weights come from torch's global generator: runs on other threads must not draw
    // from it in between, so that a run is the same alone or beside others.
    static std::mutex init_mutex;
    std::lock_guard<std::mutex> lock(init_mutex);
    torch::manual_seed(o.seed);
    net = MemoryNet(o, shape);
  }
  for (const auto& p : net->parameters()) r.parameters += p.numel();

  {
    // ||dL/dh(t)|| at initialisation, through the reference implementation's graph nodes, in
    // float64: in float32 the vanishing gradient underflows to 0 below 1e-45 within a few
    // hundred steps, which would hide how fast it falls. (float -> double -> float is exact.)
    net->rnn->options.implementation(nn::Implementation::reference);
    net->to(torch::kDouble);
    auto batch = data::make_memory_batch(o.task, o.length, o.gradient_batch, mix(o.seed, kTestStream + 1));
    batch.inputs = batch.inputs.to(torch::kDouble);
    if (!shape.classification) batch.targets = batch.targets.to(torch::kDouble);
    auto out = net->rnn(batch.inputs);
    torch::Tensor norms = nn::hidden_gradient_norms(task_loss(*net, shape, batch, out.output).loss, out.steps);
    r.gradient_norms.assign(norms.data_ptr<double>(), norms.data_ptr<double>() + norms.numel());
    net->zero_grad(/*set_to_none=*/true);  // float64 gradients must not reach the optimiser
    net->to(torch::kFloat32);
    net->rnn->options.implementation(nn::Implementation::automatic);
  }

  MemoryTrainTask task(net, o, shape, r.curve);
  train::OptimizerOptions opt;
  opt.lr = o.lr;
  auto optimizer = train::make_optimizer(net->parameters(), opt);
  train::LrSchedule schedule(o.lr, train::ScheduleOptions{});
  train::TrainerOptions t;
  t.epochs = (o.max_steps + o.eval_every - 1) / o.eval_every;
  t.max_steps = o.max_steps;
  t.eval_every = o.eval_every;
  t.clip_grad_norm = o.clip_grad;
  t.max_bad_steps = std::numeric_limits<int64_t>::max();  // a diverging run is a result here
  t.quiet = true;
  if (o.stop_when_solved) t.stop_at = o.solved_fraction * shape.baseline_loss;
  const train::TrainResult tr = train::train(task, *optimizer, schedule, t);
  r.steps = tr.steps;
  r.skipped_steps = tr.skipped_steps;
  for (const LossPoint& p : r.curve) {
    if (p.val_loss < o.solved_fraction * shape.baseline_loss) {
      r.steps_to_solve = p.step;
      break;
    }
  }

  net->eval();
  torch::NoGradGuard no_grad;
  auto test = data::make_memory_batch(o.task, o.length, o.test_size, mix(o.seed, kTestStream));
  TaskLoss tl = task_loss(*net, shape, test, net->rnn(test.inputs).output);
  r.test_loss = tl.loss.item<double>();
  r.test_accuracy = tl.correct.defined()
                        ? tl.correct.item<double>() / static_cast<double>(tl.scored)
                        : std::numeric_limits<double>::quiet_NaN();
  r.solved = r.test_loss < o.solved_fraction * shape.baseline_loss;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace seqtorch::lab


#include <nlohmann/json.hpp>

#include <cstdio>
#include <exception>
#include <thread>

namespace seqtorch::lab {

std::vector<LongMemoryResult> run_long_memory_all(
    const std::vector<LongMemoryOptions>& runs, int jobs,
    const std::function<void(const LongMemoryResult&)>& on_done) {
  TORCH_CHECK(jobs >= 1, "long-memory: jobs: expected >= 1, got ", jobs);
  std::vector<LongMemoryResult> results(runs.size());
  std::mutex mutex;  // guards next, failure and on_done
  size_t next = 0;
  std::exception_ptr failure;
  auto worker = [&] {
    for (;;) {
      size_t i = 0;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (failure || next >= runs.size()) return;
        i = next++;
      }
      try {
        results[i] = run_long_memory(runs[i]);
        std::lock_guard<std::mutex> lock(mutex);
        if (on_done) on_done(results[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  const size_t n = std::min(runs.size(), static_cast<size_t>(jobs));
  for (size_t t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
  return results;
}

namespace {
nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
}  // namespace

std::string long_memory_json(const std::vector<LongMemoryResult>& results, bool details) {
  nlohmann::json rows = nlohmann::json::array();
  for (const LongMemoryResult& r : results) {
    const LongMemoryOptions& o = r.options;
    nlohmann::json row = {{"task", data::to_string(o.task)},
                          {"cell", to_string(o.cell)},
                          {"length", o.length},
                          {"clip_grad", o.clip_grad},
                          {"seed", o.seed},
                          {"hidden_size", o.hidden_size},
                          {"parameters", r.parameters},
                          {"baseline_loss", r.baseline_loss},
                          {"test_loss", number_or_null(r.test_loss)},
                          {"test_accuracy", number_or_null(r.test_accuracy)},
                          {"solved", r.solved},
                          {"steps_to_solve", r.steps_to_solve >= 0 ? nlohmann::json(r.steps_to_solve) : nlohmann::json()},
                          {"steps", r.steps},
                          {"skipped_steps", r.skipped_steps},
                          {"seconds", r.seconds}};
    if (details) {
      nlohmann::json curve = nlohmann::json::array();
      for (const LossPoint& p : r.curve)
        curve.push_back({{"step", p.step}, {"train_loss", number_or_null(p.train_loss)},
                         {"val_loss", number_or_null(p.val_loss)}});
      row["curve"] = curve;
      nlohmann::json norms = nlohmann::json::array();
      for (double v : r.gradient_norms) norms.push_back(number_or_null(v));
      row["gradient_norms"] = norms;
    }
    rows.push_back(row);
  }
  return rows.dump();
}

std::string long_memory_table(const std::vector<LongMemoryResult>& results) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-15s %-5s %6s %5s %12s %12s %8s %7s %9s %12s %8s\n", "task", "cell",
                "T", "clip", "test_loss", "baseline", "ratio", "solved", "solved_at", "grad_0/grad_T", "seconds");
  out += line;
  for (const LongMemoryResult& r : results) {
    const auto& g = r.gradient_norms;
    const double decay = g.size() >= 2 && g.back() > 0 ? g.front() / g.back() : std::nan("");
    const std::string solved_at = r.steps_to_solve >= 0 ? std::to_string(r.steps_to_solve) : "-";
    std::snprintf(line, sizeof line, "%-15s %-5s %6lld %5g %12.5g %12.5g %8.4f %7s %9s %12.3g %8.1f\n",
                  data::to_string(r.options.task).c_str(), to_string(r.options.cell).c_str(),
                  static_cast<long long>(r.options.length), r.options.clip_grad, r.test_loss,
                  r.baseline_loss, r.test_loss / r.baseline_loss, r.solved ? "yes" : "no",
                  solved_at.c_str(), decay, r.seconds);
    out += line;
  }
  return out;
}

}  // namespace seqtorch::lab
