#include <seqtorch/caption/describer.h>
#include <seqtorch/data/images.h>
#include <seqtorch/metrics/captioning.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace seqtorch::caption {

void check(const DescribeOptions& o) {
  TORCH_CHECK(o.beam >= 1, "beam: expected >= 1, got ", o.beam);
  TORCH_CHECK(o.max_length >= 1, "max-length: expected >= 1, got ", o.max_length);
  TORCH_CHECK(o.length_penalty >= 0, "length-penalty: expected >= 0, got ", o.length_penalty);
  TORCH_CHECK(o.batch_size >= 1, "batch-size: expected >= 1, got ", o.batch_size);
}

decode::StepResult CaptionStepModel::start(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const auto features = model_->encode(model_->normalize(images));
  const auto init = model_->initial_state(features);
  const auto memory = model_->memory(features);
  decode::StepState state;
  state.add(init.rnn.h, 1);
  state.add(init.rnn.c, 1);
  state.add(memory.values, 0);
  state.add(memory.keys, 0);
  const auto bos = torch::full({images.size(0)}, data::TokenVocabulary::bos,
                               torch::TensorOptions(torch::kLong).device(features.device()));
  return step(bos, state);
}

decode::StepResult CaptionStepModel::step(const torch::Tensor& tokens, const decode::StepState& state) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(state.tensors.size() == 4, "caption step: expected the state of start(), got ", state.tensors.size(), " tensors");
  const auto& t = state.tensors;
  auto out = model_->step(tokens, nn::CaptionState{{t[0], t[1]}}, nn::AttentionMemory{t[2], t[3], torch::Tensor()});
  decode::StepResult r;
  r.log_probs = torch::log_softmax(out.logits, -1);
  r.state.add(out.state.rnn.h, 1);
  r.state.add(out.state.rnn.c, 1);
  r.state.add(t[2], 0);
  r.state.add(t[3], 0);
  r.attention = out.attention;
  return r;
}

std::vector<Description> describe(CaptionModel& model, const torch::Tensor& images, const DescribeOptions& o,
                                  torch::Device device) {
  check(o);
  TORCH_CHECK(model->captioner, "this model is the alignment model (--decoder align): it ranks, it does not caption "
              "(use retrieve or evaluate)");
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  model->to(device);
  CaptionStepModel steps(model->captioner);
  decode::SearchOptions search;
  search.beam = o.beam;
  search.eos = data::TokenVocabulary::eos;
  search.length_penalty = o.length_penalty;
  search.keep_attention = o.keep_attention;
  const int64_t N = images.size(0);
  std::vector<Description> out(static_cast<size_t>(N));
  for (int64_t at = 0; at < N; at += o.batch_size) {
    const int64_t B = std::min(o.batch_size, N - at);
    auto start = steps.start(images.slice(0, at, at + B).to(device));
    auto found = decode::search(steps, start, {o.max_length + 1}, search);
    for (int64_t b = 0; b < B; ++b) {
      const auto& best = found[static_cast<size_t>(b)].at(0);
      Description& d = out[static_cast<size_t>(at + b)];
      d.words = model->vocab.decode(best.tokens);
      d.text = model->decode_caption(best.tokens);
      d.score = best.score;
      d.attention = best.attention;
    }
  }
  if (was_training) model->train();
  return out;
}

torch::Tensor load_images(const std::vector<std::string>& paths, int64_t size, int threads) {
  return data::read_images(paths, size, threads);
}

torch::Tensor load_dataset_images(const data::CaptionDataset& data, const std::string& image_dir, int64_t size, int threads) {
  std::vector<std::string> paths;
  for (const auto& image : data.images) paths.push_back(data::image_path(image_dir, image));
  return data::read_images(paths, size, threads);
}

std::map<std::string, double> score_descriptions(const std::vector<Description>& descriptions,
                                                 const std::vector<std::vector<std::string>>& references) {
  std::vector<std::string> hypotheses;
  for (const auto& d : descriptions) hypotheses.push_back(d.text);
  const auto s = metrics::score_captions(hypotheses, references);
  return {{"bleu1", s.bleu[0]}, {"bleu2", s.bleu[1]}, {"bleu3", s.bleu[2]}, {"bleu4", s.bleu[3]},
          {"cider", s.cider}, {"images", static_cast<double>(descriptions.size())}};
}

namespace {

int64_t grid_side(const torch::Tensor& weights) {
  const auto side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(weights.numel()))));
  TORCH_CHECK(side * side == weights.numel(), "attention: ", weights.numel(), " regions do not form a square grid");
  return side;
}

// The weights spread over the image's pixels: [S, S], each grid cell's weight shared evenly by
// its pixels (nearest cell).
torch::Tensor weight_map(const torch::Tensor& weights, int64_t size) {
  const int64_t g = grid_side(weights);
  auto grid = weights.to(torch::kCPU, torch::kDouble).reshape({1, 1, g, g});
  auto map = torch::nn::functional::interpolate(
      grid, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kNearest));
  return map.reshape({size, size});
}

}  // namespace

torch::Tensor attention_picture(const torch::Tensor& image, const torch::Tensor& weights, int64_t scale) {
  TORCH_CHECK(image.dim() == 3 && image.size(0) == 3 && image.size(1) == image.size(2),
              "attention picture: expected a square image [3, S, S], got ", image.sizes());
  const int64_t S = image.size(1) * scale;
  const auto g = grid_side(weights);
  auto w = weights.to(torch::kCPU, torch::kFloat).reshape({1, 1, g, g});
  w = w / w.max().clamp_min(1e-12);
  auto up = torch::nn::functional::interpolate(
      w, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{S, S}).mode(torch::kBilinear).align_corners(false));
  auto img = torch::nn::functional::interpolate(
      image.to(torch::kCPU, torch::kFloat).unsqueeze(0),
      torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{S, S}).mode(torch::kNearest));
  auto shown = img * (0.15 + 0.85 * up);  // attended regions bright, the rest dark
  return shown.squeeze(0).round().clamp(0, 255).to(torch::kUInt8);
}

double attention_in_box(const torch::Tensor& weights, int64_t image_size, int64_t x, int64_t y, int64_t w, int64_t h) {
  auto map = weight_map(weights, image_size);
  // Each cell's weight spread over its pixels (nearest upsampling repeats it): normalise.
  map = map / map.sum().clamp_min(1e-300);
  const int64_t x0 = std::clamp<int64_t>(x, 0, image_size), y0 = std::clamp<int64_t>(y, 0, image_size);
  const int64_t x1 = std::clamp<int64_t>(x + w, 0, image_size), y1 = std::clamp<int64_t>(y + h, 0, image_size);
  if (x1 <= x0 || y1 <= y0) return 0.0;
  return map.slice(0, y0, y1).slice(1, x0, x1).sum().item<double>();
}

namespace {

// Whether cell (column cx, row cy) of a g x g grid over an S x S image overlaps the box; cell i
// covers pixels [ceil(i S / g), ceil((i + 1) S / g)) as nearest upsampling assigns them.
bool cell_overlaps(int64_t g, int64_t S, int64_t cx, int64_t cy, int64_t x, int64_t y, int64_t w, int64_t h) {
  const auto edge = [&](int64_t i) { return (i * S + g - 1) / g; };
  return edge(cx) < x + w && x < edge(cx + 1) && edge(cy) < y + h && y < edge(cy + 1);
}

}  // namespace

bool attention_peak_in_box(const torch::Tensor& weights, int64_t image_size, int64_t x, int64_t y, int64_t w, int64_t h) {
  const int64_t g = grid_side(weights);
  const int64_t cell = weights.to(torch::kCPU).argmax().item<int64_t>();
  return cell_overlaps(g, image_size, cell % g, cell / g, x, y, w, h);
}

double cells_overlapping_box(int64_t grid, int64_t image_size, int64_t x, int64_t y, int64_t w, int64_t h) {
  int64_t n = 0;
  for (int64_t cy = 0; cy < grid; ++cy)
    for (int64_t cx = 0; cx < grid; ++cx) n += cell_overlaps(grid, image_size, cx, cy, x, y, w, h);
  return static_cast<double>(n) / static_cast<double>(grid * grid);
}

std::map<std::string, double> attention_on_objects(const data::CaptionDataset& data, const std::vector<Description>& ds,
                                                   int64_t size) {
  double on = 0, area = 0, peak = 0, peak_chance = 0;
  int64_t words = 0;
  for (size_t i = 0; i < ds.size(); ++i) {
    if (!ds[i].attention.defined()) continue;
    for (size_t w = 0; w < ds[i].words.size() && w < static_cast<size_t>(ds[i].attention.size(0)); ++w) {
      const data::SceneObject* match = nullptr;
      int matches = 0;
      for (const auto& o : data.images[i].objects)
        if (o.shape == ds[i].words[w]) {
          match = &o;
          ++matches;
        }
      if (matches != 1) continue;
      const auto weights = ds[i].attention[static_cast<int64_t>(w)];
      on += attention_in_box(weights, size, match->x, match->y, match->width, match->height);
      peak += attention_peak_in_box(weights, size, match->x, match->y, match->width, match->height);
      area += static_cast<double>(match->width * match->height) / static_cast<double>(size * size);
      const auto grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(weights.numel()))));
      peak_chance += cells_overlapping_box(grid, size, match->x, match->y, match->width, match->height);
      ++words;
    }
  }
  if (words == 0) return {};
  return {{"attention_on_object", on / words}, {"attention_peak_on_object", peak / words},
          {"object_area_share", area / words}, {"object_cell_share", peak_chance / words},
          {"shape_words", static_cast<double>(words)}};
}

}  // namespace seqtorch::caption
