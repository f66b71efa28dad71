#include <seqtorch/lab/image_classifier.h>

#include <seqtorch/train/optimizer.h>
#include <seqtorch/train/schedule.h>
#include <seqtorch/train/trainer.h>

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>

namespace seqtorch::lab {

namespace {

class ImageTrainTask : public train::TrainTask {
 public:
  ImageTrainTask(nn::RCNN model, const data::LabelledImages& train, const ImageTrainingOptions& o)
      : model_(std::move(model)), train_(train), o_(o) {}

  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() override {
    return (train_.labels.size(0) + o_.batch_size - 1) / o_.batch_size;
  }
  void start_epoch(int64_t epoch) override {
    auto gen = at::detail::createCPUGenerator(o_.seed * 1000003 + static_cast<uint64_t>(epoch));
    order_ = torch::randperm(train_.labels.size(0), gen, torch::kLong);
    shifts_ = torch::randint(-o_.shift, o_.shift + 1, {train_.labels.size(0), 2}, gen, torch::kLong);
    loss_sum_ = torch::Tensor();
    batches_ = 0;
  }
  train::StepLoss train_loss(int64_t /*epoch*/, int64_t index) override {
    const int64_t n = train_.labels.size(0);
    const int64_t start = index * o_.batch_size, count = std::min(o_.batch_size, n - start);
    torch::Tensor idx = order_.narrow(0, start, count);
    torch::Tensor images = train_.images.index_select(0, idx);  // [B, C, H, W]
    if (o_.shift > 0) images = shifted(images, shifts_.index_select(0, idx));
    torch::Tensor loss = torch::cross_entropy_loss(model_->forward(images), train_.labels.index_select(0, idx));
    loss_sum_ = loss_sum_.defined() ? loss_sum_ + loss.detach() : loss.detach();
    ++batches_;
    return {loss, count};
  }
  std::map<std::string, double> evaluate() override {
    last_loss_ = batches_ > 0 ? loss_sum_.item<double>() / static_cast<double>(batches_)
                              : std::numeric_limits<double>::quiet_NaN();
    return {{"loss", last_loss_}};
  }
  double last_loss() const { return last_loss_; }

 private:
  // Each image moved by its (dy, dx) pixels, zeros shifted in.
  torch::Tensor shifted(const torch::Tensor& images, const torch::Tensor& shifts) const {
    const int64_t s = o_.shift, H = images.size(2), W = images.size(3);
    torch::Tensor padded = torch::constant_pad_nd(images, {s, s, s, s});
    auto acc = shifts.accessor<int64_t, 2>();
    std::vector<torch::Tensor> out;
    out.reserve(static_cast<size_t>(images.size(0)));
    for (int64_t i = 0; i < images.size(0); ++i)
      out.push_back(padded[i].narrow(1, s + acc[i][0], H).narrow(2, s + acc[i][1], W));
    return torch::stack(out);
  }

  nn::RCNN model_;
  const data::LabelledImages& train_;
  ImageTrainingOptions o_;
  torch::Tensor order_, shifts_, loss_sum_;
  int64_t batches_ = 0;
  double last_loss_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace

double classification_accuracy(nn::RCNN& model, const data::LabelledImages& images, int64_t batch_size) {
  TORCH_CHECK(batch_size >= 1, "classification_accuracy: batch_size: expected >= 1, got ", batch_size);
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t n = images.labels.size(0);
  torch::Tensor correct = torch::zeros({}, torch::kLong);
  for (int64_t s = 0; s < n; s += batch_size) {
    const int64_t c = std::min(batch_size, n - s);
    correct += (model->forward(images.images.narrow(0, s, c)).argmax(1) == images.labels.narrow(0, s, c)).sum();
  }
  model->train(was_training);
  return n == 0 ? 0.0 : correct.item<double>() / static_cast<double>(n);
}

ImageRunResult run_image_classifier(const nn::RCNNOptions& options, const data::LabelledSplit& split,
                                    const ImageTrainingOptions& o) {
  TORCH_CHECK(o.epochs >= 1, "image classifier: epochs: expected >= 1, got ", o.epochs);
  TORCH_CHECK(o.batch_size >= 1, "image classifier: batch_size: expected >= 1, got ", o.batch_size);
  TORCH_CHECK(o.shift >= 0, "image classifier: shift: expected >= 0, got ", o.shift);
  TORCH_CHECK(split.train.images.defined() && split.train.labels.size(0) >= 1,
              "image classifier: no training images");
  TORCH_CHECK(split.train.images.size(1) == options.in_channels(), "image classifier: images have ",
              split.train.images.size(1), " channels, the model expects ", options.in_channels());
  const auto t0 = std::chrono::steady_clock::now();
  torch::manual_seed(o.seed);
  nn::RCNN model(options);
  ImageRunResult r;
  for (const auto& p : model->parameters()) r.parameters += p.numel();

  ImageTrainTask task(model, split.train, o);
  train::OptimizerOptions opt;
  opt.kind = train::OptimizerKind::adamw;
  opt.lr = o.lr;
  opt.weight_decay = o.weight_decay;
  auto optimizer = train::make_optimizer(model->parameters(), opt);
  train::ScheduleOptions sched;
  sched.kind = train::ScheduleKind::cosine;
  const int64_t total = o.epochs * task.batches_per_epoch();
  sched.total_steps = total;
  train::LrSchedule schedule(o.lr, sched);
  train::TrainerOptions t;
  t.epochs = o.epochs;
  t.clip_grad_norm = 5.0;
  t.quiet = true;
  const train::TrainResult tr = train::train(task, *optimizer, schedule, t);
  r.train_loss = task.last_loss();
  r.images_per_s = tr.step_seconds > 0 ? static_cast<double>(tr.items) / tr.step_seconds : 0.0;
  r.test_accuracy = classification_accuracy(model, split.test);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace seqtorch::lab

#include <seqtorch/util/file_system.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <numeric>

namespace seqtorch::lab {

std::vector<std::string> image_benchmark_names() { return {"digits", "fashion-mnist"}; }

namespace {

// The first of `candidates` that exists; throws listing them all otherwise.
std::string first_existing(const std::vector<std::string>& candidates, const std::string& what) {
  for (const auto& c : candidates)
    if (util::path_exists(c)) return c;
  std::string list;
  for (const auto& c : candidates) list += (list.empty() ? "" : ", ") + c;
  TORCH_CHECK(false, what, ": none of ", list, " exists (scripts/data/lab_data.sh fetches it)");
}

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};
Stats stats_of(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

}  // namespace

ImageBenchmark load_image_benchmark(const std::string& name, const std::string& dir,
                                    int64_t train_limit, int64_t test_limit, uint64_t split_seed) {
  ImageBenchmark b;
  b.name = name;
  if (name == "digits") {
    const std::string path = first_existing(
        {util::join_path(dir, "digits.csv.gz"), util::join_path(dir, "digits.csv"),
         "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"},
        "digits");
    b.split = data::split_images(data::read_digits_csv(path), 0.25, split_seed);
    b.model = nn::RCNNOptions(1, 10).stem_kernel(3).stem_pool(false);
    b.training.epochs = 20;
  } else if (name == "fashion-mnist") {
    auto find = [&](const std::string& stem) {
      std::vector<std::string> c;
      for (const std::string& d : {util::join_path(dir, "fashion-mnist"), std::string("/usr/share/datasets/fashion-mnist")})
        for (const char* ext : {".gz", ""}) c.push_back(util::join_path(d, stem + ext));
      return first_existing(c, "fashion-mnist");
    };
    b.split.train = data::read_idx(find("train-images-idx3-ubyte"), find("train-labels-idx1-ubyte"));
    b.split.test = data::read_idx(find("t10k-images-idx3-ubyte"), find("t10k-labels-idx1-ubyte"));
    b.model = nn::RCNNOptions(1, 10).stem_kernel(5).stem_pool(true);
    b.training.epochs = 5;
  } else {
    TORCH_CHECK(false, "image data set: expected digits or fashion-mnist, got '", name, "'");
  }
  b.split.train = data::subset_images(b.split.train, train_limit, split_seed + 1);
  b.split.test = data::subset_images(b.split.test, test_limit, split_seed + 2);
  b.model.classes(std::max(b.split.train.classes, b.split.test.classes));
  return b;
}

std::vector<ImageComparisonRow> compare_rcnn_and_cnn(
    const ImageBenchmark& bench, const std::vector<uint64_t>& seeds,
    const std::function<void(const std::string&, uint64_t, const ImageRunResult&)>& on_run) {
  TORCH_CHECK(!seeds.empty(), "compare_rcnn_and_cnn: expected at least one seed");
  std::vector<ImageComparisonRow> rows;
  for (bool recurrent : {true, false}) {
    ImageComparisonRow row;
    row.dataset = bench.name;
    row.model = recurrent ? "rcnn" : "cnn";
    nn::RCNNOptions model = bench.model;
    model.recurrent(recurrent);
    double seconds = 0;
    for (uint64_t seed : seeds) {
      ImageTrainingOptions training = bench.training;
      training.seed = seed;
      const ImageRunResult r = run_image_classifier(model, bench.split, training);
      row.parameters = r.parameters;
      row.seeds.push_back(seed);
      row.accuracies.push_back(r.test_accuracy);
      seconds += r.seconds;
      if (on_run) on_run(row.model, seed, r);
    }
    row.seconds = seconds / static_cast<double>(seeds.size());
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string image_comparison_table(const std::vector<ImageComparisonRow>& rows) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-14s %-6s %10s %9s %8s %8s %8s %5s %9s\n", "dataset", "model",
                "parameters", "accuracy", "std", "min", "max", "runs", "s/run");
  out += line;
  for (const auto& r : rows) {
    const Stats s = stats_of(r.accuracies);
    std::snprintf(line, sizeof line, "%-14s %-6s %10lld %9.4f %8.4f %8.4f %8.4f %5zu %9.1f\n",
                  r.dataset.c_str(), r.model.c_str(), static_cast<long long>(r.parameters), s.mean,
                  s.std, s.min, s.max, r.accuracies.size(), r.seconds);
    out += line;
  }
  return out;
}

std::string image_comparison_json(const std::vector<ImageComparisonRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    const Stats s = stats_of(r.accuracies);
    out.push_back({{"dataset", r.dataset}, {"model", r.model}, {"parameters", r.parameters},
                   {"seeds", r.seeds}, {"accuracies", r.accuracies}, {"mean", s.mean},
                   {"std", s.std}, {"min", s.min}, {"max", s.max}, {"seconds", r.seconds}});
  }
  return out.dump();
}

}  // namespace seqtorch::lab
