#include <seqtorch/decode/decoding.h>
#include <seqtorch/nn/cpu_kernel.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace seqtorch::decode {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double length_penalty(int64_t length, double alpha) {
  return alpha == 0 ? 1.0 : std::pow((5.0 + static_cast<double>(length)) / 6.0, alpha);
}

std::vector<int64_t> max_lengths_for(const std::vector<int64_t>& max_lengths, int64_t B) {
  TORCH_CHECK(max_lengths.size() == 1 || static_cast<int64_t>(max_lengths.size()) == B,
              "search: expected one maximum length or one per input (", B, "), got ", max_lengths.size());
  std::vector<int64_t> out(B, max_lengths[0]);
  if (max_lengths.size() > 1) out = max_lengths;
  for (int64_t m : out) TORCH_CHECK(m >= 1, "maximum length: expected >= 1, got ", m);
  return out;
}

// beam 1: greedy or sampled, row by row; on_token(row, token) sees tokens as they come.
std::vector<std::vector<Hypothesis>> sample_rows(StepModel& model, const StepResult& start,
                                                 const std::vector<int64_t>& max_len,
                                                 const SearchOptions& o, const SamplingOptions& sampling,
                                                 uint64_t seed,
                                                 const std::function<void(int64_t, int64_t)>& on_token) {
  const int64_t B = start.log_probs.size(0);
  Sampler sampler(seed);
  std::vector<Hypothesis> hyps(B);
  std::vector<std::vector<torch::Tensor>> attention(B);
  std::vector<bool> ended(B, false);
  const int64_t longest = *std::max_element(max_len.begin(), max_len.end());
  torch::Tensor log_probs = start.log_probs, att = start.attention;
  StepState state = start.state;
  nn::cpu_kernel::PackingScope packing;  // recurrent weights packed once for all steps (CPU)
  for (int64_t len = 1; len <= longest; ++len) {
    auto next = next_tokens(log_probs, sampling, sampler);  // [B]
    auto picked = log_probs.gather(1, next.unsqueeze(1)).squeeze(1);
    const auto next_cpu = next.to(torch::kCPU), picked_cpu = picked.to(torch::kCPU, torch::kDouble);
    const auto* tok = next_cpu.data_ptr<int64_t>();
    const auto* lp = picked_cpu.data_ptr<double>();
    torch::Tensor att_cpu = o.keep_attention && att.defined() ? att.to(torch::kCPU, torch::kFloat) : torch::Tensor();
    bool all_ended = true;
    std::vector<int64_t> feed(B);
    for (int64_t b = 0; b < B; ++b) {
      feed[b] = tok[b];
      if (ended[b]) {
        feed[b] = o.eos >= 0 ? o.eos : 0;
        continue;
      }
      hyps[b].tokens.push_back(tok[b]);
      hyps[b].log_prob += lp[b];
      if (att_cpu.defined()) attention[b].push_back(att_cpu[b]);
      if (on_token) on_token(b, tok[b]);
      if (tok[b] == o.eos || len >= max_len[b]) ended[b] = true;
      all_ended = all_ended && ended[b];
    }
    if (all_ended) break;
    StepResult r = model.step(torch::tensor(feed, torch::kLong).to(log_probs.device()), state);
    log_probs = r.log_probs;
    state = std::move(r.state);
    att = r.attention;
  }
  std::vector<std::vector<Hypothesis>> out(B);
  for (int64_t b = 0; b < B; ++b) {
    hyps[b].score = hyps[b].log_prob / length_penalty(static_cast<int64_t>(hyps[b].tokens.size()), o.length_penalty);
    if (!attention[b].empty()) hyps[b].attention = torch::stack(attention[b]);
    out[b].push_back(std::move(hyps[b]));
  }
  return out;
}

std::vector<std::vector<Hypothesis>> beam_rows(StepModel& model, const StepResult& start,
                                               const std::vector<int64_t>& max_len, const SearchOptions& o) {
  const int64_t B = start.log_probs.size(0), K = o.beam, V = start.log_probs.size(1);
  const auto device = start.log_probs.device();
  // Every input's K rows start as copies of its one row; only beam 0 may extend at first.
  const auto expand = torch::arange(B, torch::kLong).repeat_interleave(K);
  StepState state = start.state.select(expand);
  torch::Tensor log_probs = start.log_probs.index_select(0, expand.to(device));
  torch::Tensor att = start.attention.defined() ? start.attention.index_select(0, expand.to(device)) : torch::Tensor();
  std::vector<double> cum(B * K, kNegInf);
  for (int64_t b = 0; b < B; ++b) cum[b * K] = 0;
  torch::Tensor history = torch::empty({B * K, 0}, torch::kLong);  // tokens so far per row
  torch::Tensor att_history;                                       // [B*K, len, S]
  std::vector<std::vector<Hypothesis>> finished(B);
  std::vector<bool> done(B, false);
  const int64_t longest = *std::max_element(max_len.begin(), max_len.end());
  auto make = [&](int64_t row, int64_t token, double log_prob, int64_t len, const torch::Tensor& step_att) {
    Hypothesis h;
    const auto* past = history[row].data_ptr<int64_t>();
    h.tokens.assign(past, past + history.size(1));
    h.tokens.push_back(token);
    h.log_prob = log_prob;
    h.score = log_prob / length_penalty(len, o.length_penalty);
    if (step_att.defined()) {
      auto now = step_att[row].unsqueeze(0);
      h.attention = att_history.defined() ? torch::cat({att_history[row], now}) : now;
    }
    return h;
  };
  nn::cpu_kernel::PackingScope packing;  // recurrent weights packed once for all steps (CPU)
  for (int64_t len = 1; len <= longest; ++len) {
    auto base = torch::tensor(cum, torch::kDouble).to(device).view({B, K, 1});
    auto total = (base + log_probs.to(torch::kDouble).view({B, K, V})).view({B, K * V});
    auto [values, index] = total.topk(std::min<int64_t>(2 * K, K * V), 1);
    const auto values_cpu = values.to(torch::kCPU).contiguous(), index_cpu = index.to(torch::kCPU).contiguous();
    const int64_t C = values_cpu.size(1);
    const auto* val = values_cpu.data_ptr<double>();
    const auto* idx = index_cpu.data_ptr<int64_t>();
    const torch::Tensor att_cpu = o.keep_attention && att.defined() ? att.to(torch::kCPU, torch::kFloat) : torch::Tensor();
    std::vector<int64_t> parent(B * K), token(B * K);
    std::vector<double> next_cum(B * K, kNegInf);
    for (int64_t b = 0; b < B; ++b) {
      int64_t picked = 0;
      for (int64_t j = 0; j < C && !done[b]; ++j) {
        const double v = val[b * C + j];
        if (!std::isfinite(v)) break;
        const int64_t row = b * K + idx[b * C + j] / V, tok = idx[b * C + j] % V;
        if (tok == o.eos) {
          // An ended hypothesis counts when it ranks among the best K candidates of the step.
          if (j < K) finished[b].push_back(make(row, tok, v, len, att_cpu));
        } else if (picked < K) {
          parent[b * K + picked] = row;
          token[b * K + picked] = tok;
          next_cum[b * K + picked] = v;
          ++picked;
        }
      }
      for (int64_t k = picked; k < K; ++k) {  // unused rows: continue from row b*K, never win
        parent[b * K + k] = b * K;
        token[b * K + k] = 0;
      }
      if (done[b]) continue;
      if (len >= max_len[b]) {
        for (int64_t k = 0; k < picked; ++k)
          finished[b].push_back(make(parent[b * K + k], token[b * K + k], next_cum[b * K + k], len, att_cpu));
        done[b] = true;
      } else if (picked == 0) {
        done[b] = true;
      } else if (static_cast<int64_t>(finished[b].size()) >= o.n_best) {
        // Done once the best live hypothesis, scored at today's length, no longer beats the
        // n-th best ended one (exact without a length penalty, as log P only falls; with one, the
        // usual heuristic: stopping at the first n ended hypotheses instead lets poor short ones
        // win, and running to the maximum length wastes steps).
        std::vector<double> scores;
        for (const auto& h : finished[b]) scores.push_back(h.score);
        std::sort(scores.begin(), scores.end(), std::greater<double>());
        if (next_cum[b * K] / length_penalty(len, o.length_penalty) <= scores[o.n_best - 1]) done[b] = true;
      }
      if (done[b])
        for (int64_t k = 0; k < K; ++k) next_cum[b * K + k] = kNegInf;
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    const auto parent_index = torch::tensor(parent, torch::kLong);
    const auto tokens = torch::tensor(token, torch::kLong);
    history = torch::cat({history.index_select(0, parent_index), tokens.unsqueeze(1)}, 1);
    if (att_cpu.defined()) {
      auto now = att_cpu.index_select(0, parent_index).unsqueeze(1);
      att_history = att_history.defined() ? torch::cat({att_history.index_select(0, parent_index), now}, 1) : now;
    }
    cum = std::move(next_cum);
    StepResult r = model.step(tokens.to(device), state.select(parent_index));
    log_probs = r.log_probs;
    state = std::move(r.state);
    att = r.attention;
  }
  for (auto& list : finished)
    std::stable_sort(list.begin(), list.end(), [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
  return finished;
}

}  // namespace

void StepState::add(const torch::Tensor& tensor, int64_t batch_dim) {
  tensors.push_back(tensor);
  batch_dims.push_back(batch_dim);
}

StepState StepState::select(const torch::Tensor& index) const {
  TORCH_CHECK(tensors.size() == batch_dims.size(), "step state: ", tensors.size(), " tensors but ",
              batch_dims.size(), " batch dimensions");
  StepState out;
  out.batch_dims = batch_dims;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    out.tensors.push_back(t.defined() ? t.index_select(batch_dims[i], index.to(t.device())) : t);
  }
  return out;
}

StepResult StepModel::run(const torch::Tensor& tokens, const StepState& state) {
  TORCH_CHECK(tokens.dim() == 2 && tokens.size(0) >= 1, "run: tokens: expected [T >= 1, N], got ",
              tokens.sizes());
  StepResult r{torch::Tensor(), state, torch::Tensor()};
  nn::cpu_kernel::PackingScope packing;
  for (int64_t t = 0; t < tokens.size(0); ++t) r = step(tokens[t], r.state);
  return r;
}

void check(const SamplingOptions& o) {
  TORCH_CHECK(o.temperature >= 0, "temperature: expected >= 0 (0 = greedy), got ", o.temperature);
  TORCH_CHECK(o.top_k >= 0, "top-k: expected >= 0 (0 = off), got ", o.top_k);
  TORCH_CHECK(o.top_p > 0 && o.top_p <= 1, "top-p: expected in (0, 1], got ", o.top_p);
}

void check_search(const SearchOptions& o) {
  TORCH_CHECK(o.beam >= 1, "beam: expected >= 1, got ", o.beam);
  TORCH_CHECK(o.n_best >= 1 && o.n_best <= o.beam, "n-best: expected in [1, beam = ", o.beam, "], got ", o.n_best);
  TORCH_CHECK(o.length_penalty >= 0, "length-penalty: expected >= 0, got ", o.length_penalty);
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

Sampler::Sampler(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL) {}

double Sampler::uniform() {
  state_ += 0x9E3779B97F4A7C15ULL;  // splitmix64
  uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

int64_t Sampler::draw(const float* logits, int64_t V, const SamplingOptions& o) { return draw_from(logits, V, o); }
int64_t Sampler::draw(const double* logits, int64_t V, const SamplingOptions& o) { return draw_from(logits, V, o); }

template <class T>
int64_t Sampler::draw_from(const T* logits, int64_t V, const SamplingOptions& o) {
  if (o.temperature == 0) return std::max_element(logits, logits + V) - logits;  // first maximum
  std::vector<double>& x = weights_;
  std::vector<int64_t>& kept = kept_;
  x.resize(V);
  kept.resize(V);
  for (int64_t v = 0; v < V; ++v) x[v] = static_cast<double>(logits[v]) / o.temperature;
  std::iota(kept.begin(), kept.end(), 0);
  if ((o.top_k > 0 && o.top_k < V) || o.top_p < 1) {
    std::stable_sort(kept.begin(), kept.end(), [&](int64_t a, int64_t b) { return x[a] > x[b]; });
    if (o.top_k > 0 && o.top_k < V) kept.resize(o.top_k);
    if (o.top_p < 1) {
      double total = 0;
      for (int64_t v : kept) total += std::exp(x[v] - x[kept[0]]);
      double before = 0;
      size_t n = 0;
      while (n < kept.size() && before / total < o.top_p) before += std::exp(x[kept[n++]] - x[kept[0]]);
      kept.resize(std::max<size_t>(n, 1));
    }
  }
  double top = -std::numeric_limits<double>::infinity();
  for (int64_t v : kept) top = std::max(top, x[v]);
  double total = 0;
  for (int64_t v : kept) total += (x[v] = std::exp(x[v] - top));  // x now holds the weights
  const double u = uniform() * total;
  double acc = 0;
  for (int64_t v : kept) {
    acc += x[v];
    if (u < acc) return v;
  }
  return kept.back();
}

torch::Tensor next_tokens(const torch::Tensor& log_probs, const SamplingOptions& o, Sampler& sampler) {
  check(o);
  if (o.temperature == 0) return log_probs.argmax(-1);
  const auto rows = log_probs.to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t N = rows.size(0), V = rows.size(1);
  auto out = torch::empty({N}, torch::kLong);
  const double* p = rows.data_ptr<double>();
  for (int64_t n = 0; n < N; ++n) out[n] = sampler.draw(p + n * V, V, o);
  return out.to(log_probs.device());
}

std::vector<std::vector<Hypothesis>> search(StepModel& model, const StepResult& start,
                                            const std::vector<int64_t>& max_lengths,
                                            const SearchOptions& options, const SamplingOptions& sampling,
                                            uint64_t seed) {
  check_search(options);
  check(sampling);
  TORCH_CHECK(start.log_probs.dim() == 2 && start.log_probs.size(0) >= 1,
              "search: start log-probabilities: expected [B >= 1, V], got ", start.log_probs.sizes());
  TORCH_CHECK(options.beam == 1 || sampling.temperature == 0,
              "beam search does not sample: use beam 1 with a temperature, or temperature 0");
  const auto max_len = max_lengths_for(max_lengths, start.log_probs.size(0));
  torch::NoGradGuard no_grad;
  if (options.beam == 1) return sample_rows(model, start, max_len, options, sampling, seed, {});
  auto out = beam_rows(model, start, max_len, options);
  for (auto& list : out)
    if (static_cast<int64_t>(list.size()) > options.n_best) list.resize(options.n_best);
  return out;
}

std::vector<int64_t> generate(StepModel& model, const std::vector<int64_t>& prime, int64_t length,
                              const SamplingOptions& options, uint64_t seed,
                              const std::function<void(int64_t)>& on_token) {
  check(options);
  TORCH_CHECK(length >= 0, "length: expected >= 0, got ", length);
  TORCH_CHECK(!prime.empty(), "generate: the prime must hold at least one token");
  if (length == 0) return {};
  torch::NoGradGuard no_grad;
  const StepResult start = model.run(torch::tensor(prime, torch::kLong).unsqueeze(1), {});
  auto out = sample_rows(model, start, {length}, SearchOptions{}, options, seed,
                         [&](int64_t, int64_t t) { if (on_token) on_token(t); });
  return out[0][0].tokens;
}

}  // namespace seqtorch::decode
