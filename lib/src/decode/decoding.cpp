#include <seqtorch/decode/decoding.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace seqtorch::decode {

StepResult StepModel::run(const torch::Tensor& tokens, const nn::RecurrentState& state) {
  TORCH_CHECK(tokens.dim() == 2 && tokens.size(0) >= 1, "run: tokens: expected [T >= 1, B], got ",
              tokens.sizes());
  StepResult r{torch::Tensor(), state};
  for (int64_t t = 0; t < tokens.size(0); ++t) r = step(tokens[t], r.state);
  return r;
}

nn::RecurrentState StepModel::select(const nn::RecurrentState& s, const torch::Tensor& index) {
  return {s.h.defined() ? s.h.index_select(1, index) : torch::Tensor(),
          s.c.defined() ? s.c.index_select(1, index) : torch::Tensor()};
}

void check(const SamplingOptions& o) {
  TORCH_CHECK(o.temperature >= 0, "temperature: expected >= 0 (0 = greedy), got ", o.temperature);
  TORCH_CHECK(o.top_k >= 0, "top-k: expected >= 0 (0 = off), got ", o.top_k);
  TORCH_CHECK(o.top_p > 0 && o.top_p <= 1, "top-p: expected in (0, 1], got ", o.top_p);
}

torch::Tensor filter_logits(const torch::Tensor& logits, const SamplingOptions& o) {
  check(o);
  torch::Tensor x = o.temperature > 0 ? logits / o.temperature : logits.clone();
  const double ninf = -std::numeric_limits<double>::infinity();
  const int64_t V = x.size(-1);
  if (o.top_k > 0 && o.top_k < V) {
    auto keep = torch::zeros_like(x, torch::kBool).scatter_(-1, std::get<1>(x.topk(o.top_k, -1)), true);
    x = x.masked_fill(keep.logical_not(), ninf);
  }
  if (o.top_p < 1) {
    auto [sorted, order] = x.sort(-1, /*descending=*/true);
    auto probs = torch::softmax(sorted, -1);
    // Keep a token while the mass before it is still below p: the smallest set reaching p.
    auto before = probs.cumsum(-1) - probs;
    auto drop_sorted = before >= o.top_p;
    auto drop = torch::zeros_like(drop_sorted).scatter_(-1, order, drop_sorted);
    x = x.masked_fill(drop, ninf);
  }
  return x;
}

torch::Tensor next_tokens(const torch::Tensor& log_probs, const SamplingOptions& o, at::Generator& gen) {
  check(o);
  if (o.temperature == 0) return log_probs.argmax(-1);
  auto probs = torch::softmax(filter_logits(log_probs.to(torch::kDouble), o), -1);
  return torch::multinomial(probs.cpu(), 1, false, gen).squeeze(-1).to(log_probs.device());
}

std::vector<int64_t> generate(StepModel& model, const std::vector<int64_t>& prime, int64_t length,
                              const SamplingOptions& options, uint64_t seed,
                              const std::function<void(int64_t)>& on_token) {
  check(options);
  TORCH_CHECK(length >= 0, "length: expected >= 0, got ", length);
  TORCH_CHECK(!prime.empty(), "generate: the prime must hold at least one token");
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  auto tokens = torch::tensor(prime, torch::kLong).unsqueeze(1);  // [T, 1]
  StepResult r = model.run(tokens, {});
  std::vector<int64_t> out;
  out.reserve(length);
  for (int64_t i = 0; i < length; ++i) {
    const torch::Tensor next = next_tokens(r.log_probs, options, gen);  // [1]
    const int64_t t = next.item<int64_t>();
    out.push_back(t);
    if (on_token) on_token(t);
    if (i + 1 < length) r = model.step(next, r.state);
  }
  return out;
}

std::vector<Hypothesis> beam_search(StepModel& model, const torch::Tensor& first_log_probs,
                                    const nn::RecurrentState& state, const BeamOptions& o) {
  TORCH_CHECK(o.beam >= 1, "beam: expected >= 1, got ", o.beam);
  TORCH_CHECK(o.max_length >= 1, "max-length: expected >= 1, got ", o.max_length);
  TORCH_CHECK(o.length_penalty >= 0, "length-penalty: expected >= 0, got ", o.length_penalty);
  torch::NoGradGuard no_grad;
  auto score_of = [&](const Hypothesis& h) {
    return h.log_prob / std::pow(static_cast<double>(std::max<size_t>(1, h.tokens.size())), o.length_penalty);
  };
  std::vector<Hypothesis> alive{Hypothesis{}}, finished;
  torch::Tensor log_probs = first_log_probs.to(torch::kCPU, torch::kDouble);  // [k, V]
  nn::RecurrentState s = state;
  for (int64_t len = 1; len <= o.max_length && !alive.empty(); ++len) {
    const int64_t V = log_probs.size(1), k = static_cast<int64_t>(alive.size());
    auto base = torch::empty({k, 1}, torch::kDouble);
    for (int64_t i = 0; i < k; ++i) base[i][0] = alive[i].log_prob;
    auto total = (base + log_probs).flatten();
    auto [values, index] = total.topk(std::min<int64_t>(2 * o.beam, total.numel()));
    std::vector<Hypothesis> next;
    std::vector<int64_t> parents, tokens;
    for (int64_t j = 0; j < values.size(0) && static_cast<int64_t>(next.size()) < o.beam; ++j) {
      const int64_t flat = index[j].item<int64_t>(), parent = flat / V, token = flat % V;
      Hypothesis h = alive[parent];
      h.tokens.push_back(token);
      h.log_prob = values[j].item<double>();
      h.score = score_of(h);
      if (token == o.eos) {
        finished.push_back(h);
      } else {
        next.push_back(h);
        parents.push_back(parent);
        tokens.push_back(token);
      }
    }
    alive = std::move(next);
    if (alive.empty() || len == o.max_length) break;
    auto parent_index = torch::tensor(parents, torch::kLong);
    auto step_state = StepModel::select(s, parent_index.to(s.h.defined() ? s.h.device() : torch::kCPU));
    StepResult r = model.step(torch::tensor(tokens, torch::kLong), step_state);
    log_probs = r.log_probs.to(torch::kCPU, torch::kDouble);
    s = r.state;
  }
  finished.insert(finished.end(), alive.begin(), alive.end());
  std::stable_sort(finished.begin(), finished.end(),
                   [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
  return finished;
}

}  // namespace seqtorch::decode
