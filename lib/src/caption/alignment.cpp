#include <seqtorch/caption/alignment.h>
#include <seqtorch/nn/alignment.h>

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace seqtorch::caption {

std::pair<torch::Tensor, torch::Tensor> pad_sentences(const std::vector<std::vector<int64_t>>& sentences) {
  const auto B = static_cast<int64_t>(sentences.size());
  int64_t T = 1;
  for (const auto& s : sentences) T = std::max<int64_t>(T, static_cast<int64_t>(s.size()));
  auto ids = torch::zeros({T, B}, torch::kLong);
  auto lengths = torch::empty({B}, torch::kLong);
  auto a = ids.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = sentences[static_cast<size_t>(b)];
    for (size_t t = 0; t < s.size(); ++t) a[static_cast<int64_t>(t)][b] = s[t];
    if (s.empty()) a[0][b] = data::TokenVocabulary::unk;  // a sentence of unknown words still has one
    lengths[b] = std::max<int64_t>(1, static_cast<int64_t>(s.size()));
  }
  return {ids, lengths};
}

Embedded embed(CaptionModel& model, const torch::Tensor& images, const std::vector<std::vector<int64_t>>& sentences,
               torch::Device device, int64_t batch_size) {
  TORCH_CHECK(model->aligner, "this model is a captioner, not an alignment model (train it with --decoder align)");
  torch::NoGradGuard no_grad;
  model->to(device);
  auto& a = model->aligner;
  Embedded e;
  std::vector<torch::Tensor> regions;
  for (int64_t at = 0; at < images.size(0); at += batch_size)
    regions.push_back(a->regions(images.slice(0, at, std::min(images.size(0), at + batch_size)).to(device)));
  e.regions = torch::cat(regions);
  for (size_t at = 0; at < sentences.size(); at += static_cast<size_t>(batch_size)) {
    const std::vector<std::vector<int64_t>> part(sentences.begin() + static_cast<std::ptrdiff_t>(at),
                                                 sentences.begin() + static_cast<std::ptrdiff_t>(std::min(sentences.size(), at + static_cast<size_t>(batch_size))));
    auto [ids, lengths] = pad_sentences(part);
    e.words.push_back(a->words(ids.to(device), lengths));
    e.lengths.push_back(lengths);
  }
  return e;
}

torch::Tensor all_scores(const Embedded& e) {
  std::vector<torch::Tensor> columns;
  for (size_t k = 0; k < e.words.size(); ++k) {
    std::vector<torch::Tensor> rows;
    for (int64_t at = 0; at < e.regions.size(0); at += 64)
      rows.push_back(nn::AlignerImpl::scores(e.regions.slice(0, at, std::min(e.regions.size(0), at + 64)), e.words[k], e.lengths[k]));
    columns.push_back(torch::cat(rows, 0));
  }
  return torch::cat(columns, 1);
}

std::map<std::string, double> retrieval_recall(CaptionModel& model, const torch::Tensor& images,
                                               const std::vector<std::vector<std::string>>& captions, torch::Device device) {
  TORCH_CHECK(images.size(0) == static_cast<int64_t>(captions.size()), "retrieval: ", images.size(0), " images for ",
              captions.size(), " caption sets");
  std::vector<std::vector<int64_t>> sentences;
  std::vector<int64_t> owner;
  for (size_t i = 0; i < captions.size(); ++i)
    for (const auto& c : captions[i]) {
      sentences.push_back(model->encode_caption(c));
      owner.push_back(static_cast<int64_t>(i));
    }
  const auto s = all_scores(embed(model, images, sentences, device)).to(torch::kCPU, torch::kDouble);  // [I, C]
  const auto I = s.size(0), C = s.size(1);
  const auto owners = torch::tensor(owner, torch::kLong);
  // image -> text: rank of the best own caption = number of other images' captions scoring higher.
  const auto own = owners.unsqueeze(0).eq(torch::arange(I, torch::kLong).unsqueeze(1));  // [I, C]
  const auto best_own = std::get<0>(s.masked_fill(own.logical_not(), -1e300).max(1));     // [I]
  const auto i2t_rank = s.gt(best_own.unsqueeze(1)).logical_and(own.logical_not()).sum(1);  // 0-based
  // text -> image: rank of the caption's image among all images.
  const auto true_score = s.gather(0, owners.unsqueeze(0)).squeeze(0);  // [C]
  const auto t2i_rank = s.gt(true_score.unsqueeze(0)).sum(0);
  std::map<std::string, double> m;
  double rsum = 0;
  for (int k : {1, 5, 10}) {
    const double i2t = 100.0 * i2t_rank.lt(k).to(torch::kDouble).mean().item<double>();
    const double t2i = 100.0 * t2i_rank.lt(k).to(torch::kDouble).mean().item<double>();
    m["i2t_r" + std::to_string(k)] = i2t;
    m["t2i_r" + std::to_string(k)] = t2i;
    rsum += i2t + t2i;
  }
  m["rsum"] = rsum;
  m["images"] = static_cast<double>(I);
  m["captions"] = static_cast<double>(C);
  return m;
}

namespace {

std::vector<std::vector<int64_t>> encode_captions(const CaptionModel& model, const std::vector<std::string>& captions) {
  std::vector<std::vector<int64_t>> ids;
  for (const auto& c : captions) ids.push_back(model->encode_caption(c));
  return ids;
}

// The best k of each row of scores [Q, C] (read on the host once).
std::vector<std::vector<Ranked>> top_of_rows(const torch::Tensor& scores, int64_t k) {
  const auto s = scores.to(torch::kCPU, torch::kDouble);
  const auto best = s.topk(std::min<int64_t>(k, s.size(1)), 1);
  const auto values = std::get<0>(best).contiguous(), indices = std::get<1>(best).contiguous();
  const auto v = values.accessor<double, 2>();
  const auto i = indices.accessor<int64_t, 2>();
  std::vector<std::vector<Ranked>> out(static_cast<size_t>(s.size(0)));
  for (int64_t q = 0; q < values.size(0); ++q)
    for (int64_t r = 0; r < values.size(1); ++r) out[static_cast<size_t>(q)].push_back({i[q][r], v[q][r]});
  return out;
}

}  // namespace

std::vector<std::vector<Ranked>> rank_captions(CaptionModel& model, const torch::Tensor& query_images,
                                               const std::vector<std::string>& captions, int64_t k, torch::Device device) {
  TORCH_CHECK(k >= 1, "top: expected >= 1, got ", k);
  if (query_images.size(0) == 0 || captions.empty()) return std::vector<std::vector<Ranked>>(static_cast<size_t>(query_images.size(0)));
  return top_of_rows(all_scores(embed(model, query_images, encode_captions(model, captions), device)), k);
}

std::vector<std::vector<Ranked>> rank_images(CaptionModel& model, const torch::Tensor& images,
                                             const std::vector<std::string>& query_captions, int64_t k, torch::Device device) {
  TORCH_CHECK(k >= 1, "top: expected >= 1, got ", k);
  if (query_captions.empty() || images.size(0) == 0) return std::vector<std::vector<Ranked>>(query_captions.size());
  return top_of_rows(all_scores(embed(model, images, encode_captions(model, query_captions), device)).t(), k);
}

AlignmentTask::AlignmentTask(CaptionModel model, torch::Tensor train_images, std::vector<std::vector<std::string>> train_captions,
                             torch::Tensor valid_images, std::vector<std::vector<std::string>> valid_captions,
                             const AlignmentOptions& options, torch::Device device)
    : model_(std::move(model)), train_images_(std::move(train_images)), valid_images_(std::move(valid_images)),
      valid_captions_(std::move(valid_captions)), options_(options), device_(device),
      order_(train_captions.size(), options.batch_size, options.seed) {
  TORCH_CHECK(model_->aligner, "alignment task: the model is not an alignment model");
  TORCH_CHECK(options.batch_size >= 2, "batch-size: the ranking loss needs >= 2 images a batch, got ", options.batch_size);
  TORCH_CHECK(options.margin > 0, "margin: expected > 0, got ", options.margin);
  for (const auto& captions : train_captions) {
    std::vector<std::vector<int64_t>> ids;
    for (const auto& c : captions) ids.push_back(model_->encode_caption(c));
    train_.push_back(std::move(ids));
  }
  TORCH_CHECK(train_.size() >= 2, "alignment: at least 2 training images are needed");
  TORCH_CHECK(!valid_captions_.empty() && valid_images_.size(0) == static_cast<int64_t>(valid_captions_.size()),
              "alignment: validation images and captions do not match");
  start_epoch(0);
}

void AlignmentTask::start_epoch(int64_t epoch) {
  model_->aligner->encoder->set_frozen(options_.finetune_from < 0 || epoch < options_.finetune_from);
}

torch::Tensor AlignmentTask::loss_of(const torch::Tensor& images, const std::vector<std::vector<int64_t>>& sentences,
                                     const std::vector<int64_t>& image_ids) {
  auto& a = model_->aligner;
  auto [ids, lengths] = pad_sentences(sentences);
  const auto s = nn::AlignerImpl::scores(a->regions(images), a->words(ids.to(device_), lengths), lengths);
  const auto owners = torch::tensor(image_ids, torch::kLong);
  return nn::AlignerImpl::ranking_loss(s, options_.margin, owners.unsqueeze(0).eq(owners.unsqueeze(1)));
}

train::StepLoss AlignmentTask::train_loss(int64_t epoch, int64_t index) {
  auto idx = order_.batch(epoch, index);
  if (idx.size() < 2) idx.push_back(idx.front() == 0 ? 1 : 0);  // a lone last image gets a negative
  std::vector<std::vector<int64_t>> sentences;
  for (int64_t i : idx) {
    const auto& caps = train_[static_cast<size_t>(i)];
    // Each epoch takes another of the image's captions: a function of (epoch, image) only.
    sentences.push_back(caps[static_cast<size_t>((epoch + i) % static_cast<int64_t>(caps.size()))]);
  }
  const auto images = train_images_.index_select(0, torch::tensor(idx, torch::kLong)).to(device_);
  return {loss_of(images, sentences, idx), static_cast<int64_t>(idx.size())};
}

std::map<std::string, double> AlignmentTask::evaluate() {
  torch::NoGradGuard no_grad;
  const int64_t n = std::min<int64_t>(options_.eval_images, valid_images_.size(0));
  const std::vector<std::vector<std::string>> caps(valid_captions_.begin(), valid_captions_.begin() + n);
  auto m = retrieval_recall(model_, valid_images_.slice(0, 0, n), caps, device_);
  // The loss over validation batches of (image, first caption).
  auto total = torch::zeros({}, torch::TensorOptions(torch::kDouble).device(device_));  // read once
  int64_t batches = 0;
  for (int64_t at = 0; at + 1 < n; at += options_.batch_size) {
    const int64_t end = std::min(n, at + options_.batch_size);
    std::vector<std::vector<int64_t>> sentences;
    std::vector<int64_t> ids;
    for (int64_t i = at; i < end; ++i) {
      sentences.push_back(model_->encode_caption(caps[static_cast<size_t>(i)].front()));
      ids.push_back(i);
    }
    total += loss_of(valid_images_.slice(0, at, end).to(device_), sentences, ids).to(torch::kDouble);
    ++batches;
  }
  m["loss"] = batches ? total.cpu().item<double>() / static_cast<double>(batches) : 0.0;
  m.erase("images");
  m.erase("captions");
  return m;
}

}  // namespace seqtorch::caption
