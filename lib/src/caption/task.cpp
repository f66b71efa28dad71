#include <seqtorch/caption/task.h>
#include <seqtorch/caption/describer.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace seqtorch::caption {

EpochOrder::EpochOrder(size_t n, int64_t batch_size, uint64_t seed) : n_(n), batch_size_(batch_size), seed_(seed) {
  TORCH_CHECK(batch_size >= 1, "batch-size: expected >= 1, got ", batch_size);
}

std::vector<int64_t> EpochOrder::batch(int64_t epoch, int64_t index) {
  if (epoch != epoch_) {
    epoch_ = epoch;
    std::mt19937_64 rng(seed_ * 1000003ull + static_cast<uint64_t>(epoch));
    order_.resize(n_);
    std::iota(order_.begin(), order_.end(), 0);
    std::shuffle(order_.begin(), order_.end(), rng);
  }
  const size_t at = static_cast<size_t>(index * batch_size_);
  TORCH_CHECK(at < n_, "batch ", index, " is past the epoch's ", batches(), " batches");
  return std::vector<int64_t>(order_.begin() + static_cast<std::ptrdiff_t>(at),
                              order_.begin() + static_cast<std::ptrdiff_t>(std::min(n_, at + static_cast<size_t>(batch_size_))));
}

std::vector<CaptionExample> caption_examples(const CaptionModel& model,
                                             const std::vector<std::vector<std::string>>& captions, int64_t max_words) {
  std::vector<CaptionExample> out;
  for (size_t i = 0; i < captions.size(); ++i)
    for (const auto& c : captions[i]) {
      CaptionExample e{static_cast<int64_t>(i), model->encode_caption(c)};
      if (max_words > 0 && static_cast<int64_t>(e.words.size()) > max_words) e.words.resize(static_cast<size_t>(max_words));
      if (!e.words.empty()) out.push_back(std::move(e));
    }
  return out;
}

CaptionBatch make_batch(const torch::Tensor& images, const std::vector<CaptionExample>& examples,
                        const std::vector<int64_t>& indices, torch::Device device) {
  const auto B = static_cast<int64_t>(indices.size());
  int64_t T = 0;
  for (auto i : indices) T = std::max<int64_t>(T, static_cast<int64_t>(examples[i].words.size()) + 1);
  auto inputs = torch::zeros({T, B}, torch::kLong), targets = torch::zeros({T, B}, torch::kLong);
  auto in = inputs.accessor<int64_t, 2>(), out = targets.accessor<int64_t, 2>();
  std::vector<int64_t> image_rows;
  CaptionBatch batch;
  for (int64_t b = 0; b < B; ++b) {
    const auto& e = examples[indices[b]];
    image_rows.push_back(e.image);
    in[0][b] = data::TokenVocabulary::bos;
    for (size_t t = 0; t < e.words.size(); ++t) {
      in[t + 1][b] = e.words[t];
      out[t][b] = e.words[t];
    }
    out[e.words.size()][b] = data::TokenVocabulary::eos;
    batch.tokens += static_cast<int64_t>(e.words.size()) + 1;
  }
  batch.images = images.index_select(0, torch::tensor(image_rows, torch::kLong)).to(device, /*non_blocking=*/true);
  batch.inputs = inputs.to(device);
  batch.targets = targets.to(device);
  return batch;
}

torch::Tensor caption_loss(CaptionModel& model, const CaptionBatch& batch, double label_smoothing,
                           double attention_regularizer) {
  auto out = model->captioner->forward(batch.images, batch.inputs);
  const auto target = batch.targets.reshape({-1});
  const auto real = target.ne(data::TokenVocabulary::pad);
  const auto rows = real.nonzero().squeeze(1);
  namespace F = torch::nn::functional;
  auto loss = F::cross_entropy(out.logits.reshape({-1, out.logits.size(2)}).index_select(0, rows),
                               target.index_select(0, rows), F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
  if (out.attention.defined() && attention_regularizer > 0) {
    // Xu et al.: every region should get about one unit of attention over the caption's steps.
    const auto mask = real.view({batch.targets.size(0), batch.targets.size(1), 1}).to(out.attention.scalar_type());
    const auto total = (out.attention * mask).sum(0);  // [B, N]
    loss = loss + attention_regularizer * (1 - total).pow(2).mean();
  }
  return loss;
}

CaptionTask::CaptionTask(CaptionModel model, torch::Tensor train_images, std::vector<CaptionExample> train,
                         torch::Tensor valid_images, std::vector<std::vector<std::string>> valid_references,
                         const TaskOptions& options, torch::Device device)
    : model_(std::move(model)), train_images_(std::move(train_images)), valid_images_(std::move(valid_images)),
      train_(std::move(train)), valid_references_(std::move(valid_references)), options_(options), device_(device),
      order_(train_.size(), options.batch_size * options.shard.world_size, options.seed) {
  options.shard.check();
  TORCH_CHECK(model_->captioner, "caption task: the model is the alignment model, not a captioner");
  TORCH_CHECK(options.batch_size >= 1, "batch-size: expected >= 1, got ", options.batch_size);
  TORCH_CHECK(options.label_smoothing >= 0 && options.label_smoothing < 1,
              "label-smoothing: expected in [0, 1), got ", options.label_smoothing);
  TORCH_CHECK(options.attention_regularizer >= 0, "attention-regularizer: expected >= 0, got ", options.attention_regularizer);
  TORCH_CHECK(options.max_length >= 1, "max-length: expected >= 1, got ", options.max_length);
  TORCH_CHECK(options.finetune_from >= -1, "finetune-from: expected >= -1, got ", options.finetune_from);
  TORCH_CHECK(!train_.empty(), "no training captions");
  TORCH_CHECK(valid_images_.size(0) == static_cast<int64_t>(valid_references_.size()) && !valid_references_.empty(),
              "validation: ", valid_images_.size(0), " images for ", valid_references_.size(), " reference sets");
  valid_ = caption_examples(model_, valid_references_, options.max_length);
  TORCH_CHECK(!valid_.empty(), "no validation captions");
  start_epoch(0);
}

void CaptionTask::start_epoch(int64_t epoch) {
  model_->captioner->encoder->set_frozen(options_.finetune_from < 0 || epoch < options_.finetune_from);
}

train::StepLoss CaptionTask::train_loss(int64_t epoch, int64_t index) {
  const auto all = order_.batch(epoch, index);  // the global batch; this process's part of it:
  const auto part = options_.shard.part(static_cast<int64_t>(all.size()));
  if (part.size() == 0) return {torch::Tensor(), 0};
  const std::vector<int64_t> idx(all.begin() + part.begin, all.begin() + part.end);
  const auto batch = make_batch(train_images_, train_, idx, device_);
  return {caption_loss(model_, batch, options_.label_smoothing, options_.attention_regularizer), static_cast<int64_t>(idx.size())};
}

std::map<std::string, double> CaptionTask::evaluate() {
  torch::NoGradGuard no_grad;
  // Sums stay on the model's device; the host reads them once.
  auto nll_sum = torch::zeros({}, torch::TensorOptions(torch::kDouble).device(device_));
  int64_t tokens = 0;
  for (size_t at = 0; at < valid_.size(); at += static_cast<size_t>(options_.batch_size)) {
    std::vector<int64_t> idx(static_cast<size_t>(std::min<int64_t>(options_.batch_size, static_cast<int64_t>(valid_.size() - at))));
    std::iota(idx.begin(), idx.end(), static_cast<int64_t>(at));
    const auto b = make_batch(valid_images_, valid_, idx, device_);
    const auto out = model_->captioner->forward(b.images, b.inputs);
    nll_sum += torch::nn::functional::cross_entropy(
                   out.logits.reshape({-1, out.logits.size(2)}), b.targets.reshape({-1}),
                   torch::nn::functional::CrossEntropyFuncOptions().ignore_index(data::TokenVocabulary::pad).reduction(torch::kSum))
                   .to(torch::kDouble);
    tokens += b.tokens;
  }
  const double nll = nll_sum.cpu().item<double>() / static_cast<double>(tokens);
  std::map<std::string, double> m{{"loss", nll}, {"perplexity", std::exp(nll)}};
  if (options_.decode_images > 0) {
    const int64_t n = std::min<int64_t>(options_.decode_images, valid_images_.size(0));
    DescribeOptions greedy;
    greedy.beam = 1;
    greedy.max_length = options_.max_length;
    greedy.batch_size = std::max<int64_t>(options_.batch_size, 64);
    const auto descriptions = describe(model_, valid_images_.slice(0, 0, n), greedy, device_);
    const std::vector<std::vector<std::string>> refs(valid_references_.begin(), valid_references_.begin() + n);
    for (const auto& [k, v] : score_descriptions(descriptions, refs))
      if (k == "bleu1" || k == "bleu4" || k == "cider") m[k] = v;
  }
  return m;
}

}  // namespace seqtorch::caption
