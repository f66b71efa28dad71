#include <seqtorch/nn/attention.h>

#include <torch/torch.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace seqtorch::nn {

std::string to_string(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::additive: return "additive";
    case AttentionKind::dot: return "dot";
    case AttentionKind::general: return "general";
  }
  return "?";
}

AttentionKind parse_attention(const std::string& name) {
  if (name == "additive" || name == "bahdanau") return AttentionKind::additive;
  if (name == "dot") return AttentionKind::dot;
  if (name == "general") return AttentionKind::general;
  TORCH_CHECK(false, "attention: expected additive, dot or general, got '", name, "'");
}

namespace {

using torch::Tensor;

// Batch rows per task: at least about 16K multiply-adds each.
int64_t grain(int64_t per_row) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, per_row)); }

template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// out[n] = sum_s c[s] rows[s][n] for rows [S, N] (row-major).
template <typename T>
void weighted_sum(const T* c, const T* rows, int64_t S, int64_t N, T* out) {
  for (int64_t n = 0; n < N; ++n) out[n] = 0;
  for (int64_t s = 0; s < S; ++s) {
    const T w = c[s];
    const T* r = rows + s * N;
    for (int64_t n = 0; n < N; ++n) out[n] += w * r[n];
  }
}

// out[s][n] = c[s] v[n]: [S, N] (row-major).
template <typename T>
void outer(const T* c, const T* v, int64_t S, int64_t N, T* out) {
  for (int64_t s = 0; s < S; ++s) {
    const T w = c[s];
    T* o = out + s * N;
    for (int64_t n = 0; n < N; ++n) o[n] = w * v[n];
  }
}

// Shapes as OneStepAttention's; mask null when absent.
template <typename T>
void attend_rows(const T* q, const T* keys, const T* values, const bool* mask, T* context,
                 T* weights, int64_t B, int64_t S, int64_t K, int64_t M) {
  at::parallel_for(0, B, grain(S * (K + M)), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* wb = weights + b * S;
      T top = -std::numeric_limits<T>::infinity();
      for (int64_t s = 0; s < S; ++s) {
        T e = dot(q + b * K, keys + (b * S + s) * K, K);
        if (mask != nullptr && !mask[b * S + s]) e = -std::numeric_limits<T>::infinity();
        wb[s] = e;
        top = std::max(top, e);
      }
      // As softmax: exp(x - max) / sum; every position masked gives NaN, as there.
      T sum = 0;
      for (int64_t s = 0; s < S; ++s) sum += (wb[s] = std::exp(wb[s] - top));
      for (int64_t s = 0; s < S; ++s) wb[s] /= sum;
      weighted_sum(wb, values + b * S * M, S, M, context + b * M);
    }
  });
}

// The gradients of attend_rows: dq, dkeys, dvalues (each null when not asked for) from
// dcontext [B, M] and dweights [B, S].
template <typename T>
void attend_rows_backward(const T* q, const T* keys, const T* values, const T* weights,
                          const T* dcontext, const T* dweights, T* dq, T* dkeys, T* dvalues,
                          int64_t B, int64_t S, int64_t K, int64_t M) {
  at::parallel_for(0, B, grain(S * (2 * K + 2 * M)), [&](int64_t b0, int64_t b1) {
    std::vector<T> ds(static_cast<size_t>(S));
    for (int64_t b = b0; b < b1; ++b) {
      const T* wb = weights + b * S;
      const T* dcb = dcontext + b * M;
      // dLoss/dweight(s) = dcontext . values(s) + the weights' own gradient; then the
      // softmax's: ds(s) = w(s) (dw(s) - sum_s' w(s') dw(s')).
      T mean = 0;
      for (int64_t s = 0; s < S; ++s) {
        ds[s] = dot(dcb, values + (b * S + s) * M, M) + dweights[b * S + s];
        mean += wb[s] * ds[s];
      }
      for (int64_t s = 0; s < S; ++s) ds[s] = wb[s] * (ds[s] - mean);
      if (dq != nullptr) weighted_sum(ds.data(), keys + b * S * K, S, K, dq + b * K);
      if (dkeys != nullptr) outer(ds.data(), q + b * K, S, K, dkeys + b * S * K);
      if (dvalues != nullptr) outer(wb, dcb, S, M, dvalues + b * S * M);
    }
  });
}

// One query a row against its keys and values, dot or general (keys already projected), on the
// CPU: the scores, the masked softmax and the context of each batch row in one pass, the rows
// split over the threads. The same as bmm, masked_fill, softmax and bmm (which ran 64
// single-row products a step one after the other, on the calling thread, in OpenBLAS's
// small-matrix kernels), with a backward of the same shape (itself not differentiable: no double
// backward, as the recurrent kernel's node). q [B, K], keys [B, S, K],
// values [B, S, M], mask [B, S] bool or empty; returns context [B, M] and weights [B, S].
struct OneStepAttention : public torch::autograd::Function<OneStepAttention> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, Tensor q,
                                                Tensor keys, Tensor values, Tensor mask) {
    q = q.contiguous();
    keys = keys.contiguous();
    values = values.contiguous();
    const int64_t B = keys.size(0), S = keys.size(1), K = keys.size(2), M = values.size(2);
    Tensor context = at::empty({B, M}, values.options());
    Tensor weights = at::empty({B, S}, values.options());
    const bool* mp = mask.numel() > 0 ? mask.data_ptr<bool>() : nullptr;
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "seqtorch_attention_step", [&] {
      attend_rows(q.data_ptr<scalar_t>(), keys.data_ptr<scalar_t>(), values.data_ptr<scalar_t>(),
                  mp, context.data_ptr<scalar_t>(), weights.data_ptr<scalar_t>(), B, S, K, M);
    });
    ctx->save_for_backward({q, keys, values, weights});
    return {context, weights};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &q = saved[0], &keys = saved[1], &values = saved[2], &weights = saved[3];
    const int64_t B = keys.size(0), S = keys.size(1), K = keys.size(2), M = values.size(2);
    const Tensor dcontext = grads[0].contiguous(), dweights = grads[1].contiguous();
    Tensor dq = ctx->needs_input_grad(0) ? at::empty_like(q) : Tensor();
    Tensor dkeys = ctx->needs_input_grad(1) ? at::empty_like(keys) : Tensor();
    Tensor dvalues = ctx->needs_input_grad(2) ? at::empty_like(values) : Tensor();
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "seqtorch_attention_step_backward", [&] {
      auto ptr = [](Tensor& t) { return t.defined() ? t.data_ptr<scalar_t>() : nullptr; };
      attend_rows_backward(q.data_ptr<scalar_t>(), keys.data_ptr<scalar_t>(),
                           values.data_ptr<scalar_t>(), weights.data_ptr<scalar_t>(),
                           dcontext.data_ptr<scalar_t>(), dweights.data_ptr<scalar_t>(), ptr(dq),
                           ptr(dkeys), ptr(dvalues), B, S, K, M);
    });
    return {dq, dkeys, dvalues, Tensor()};
  }
};

// Whether a one-step query takes OneStepAttention: dot or general, CPU tensors of one floating
// dtype, not while tracing (an export records the operators, not this node).
bool one_step_fused(AttentionKind kind, const Tensor& q, const AttentionMemory& m) {
  if (kind == AttentionKind::additive || torch::jit::tracer::isTracing()) return false;
  for (const Tensor* t : {&q, &m.keys, &m.values})
    if (!t->device().is_cpu() || t->scalar_type() != q.scalar_type() ||
        (q.scalar_type() != torch::kFloat && q.scalar_type() != torch::kDouble))
      return false;
  return !m.mask.defined() || (m.mask.device().is_cpu() && m.mask.scalar_type() == torch::kBool);
}

}  // namespace

AttentionImpl::AttentionImpl(const AttentionOptions& o) : options(o) {
  TORCH_CHECK(o.query_size() >= 1 && o.memory_size() >= 1, "attention: sizes must be >= 1, got query ",
              o.query_size(), ", memory ", o.memory_size());
  const int64_t A = o.attention_size() > 0 ? o.attention_size() : o.query_size();
  switch (o.kind()) {
    case AttentionKind::additive:
      query_layer = register_module("query_layer", torch::nn::Linear(o.query_size(), A));
      key_layer = register_module("key_layer", torch::nn::Linear(torch::nn::LinearOptions(o.memory_size(), A).bias(false)));
      score_layer = register_module("score_layer", torch::nn::Linear(torch::nn::LinearOptions(A, 1).bias(false)));
      break;
    case AttentionKind::general:
      key_layer = register_module("key_layer", torch::nn::Linear(torch::nn::LinearOptions(o.memory_size(), o.query_size()).bias(false)));
      break;
    case AttentionKind::dot:
      TORCH_CHECK(o.query_size() == o.memory_size(), "dot attention: query width ", o.query_size(),
                  " must equal memory width ", o.memory_size(), " (use general or additive)");
      break;
  }
}

AttentionMemory AttentionImpl::prepare(const torch::Tensor& memory, const torch::Tensor& mask) {
  TORCH_CHECK(memory.dim() == 3 && memory.size(2) == options.memory_size(),
              "attention memory: expected [S, B, ", options.memory_size(), "], got ", memory.sizes());
  AttentionMemory m;
  m.values = memory.transpose(0, 1).contiguous();  // [B, S, M]
  m.keys = key_layer ? key_layer->forward(m.values) : m.values;
  if (mask.defined()) {
    TORCH_CHECK(mask.dim() == 2 && mask.size(0) == memory.size(1) && mask.size(1) == memory.size(0),
                "attention mask: expected [B, S] = [", memory.size(1), ", ", memory.size(0), "], got ", mask.sizes());
    m.mask = mask.to(torch::kBool);
  }
  return m;
}

AttentionOutput AttentionImpl::forward(const torch::Tensor& query, const AttentionMemory& m) {
  TORCH_CHECK((query.dim() == 2 || query.dim() == 3) && query.size(-1) == options.query_size(),
              "attention query: expected [B, ", options.query_size(), "] or [B, T, ", options.query_size(),
              "], got ", query.sizes());
  const bool one_step = query.dim() == 2;
  if (one_step && one_step_fused(options.kind(), query, m)) {
    TORCH_CHECK(query.size(0) == m.keys.size(0), "attention query: batch ", query.size(0),
                " does not match the memory's ", m.keys.size(0));
    const Tensor mask = m.mask.defined() ? m.mask.contiguous() : at::empty({0}, torch::kBool);
    auto out = OneStepAttention::apply(query, m.keys, m.values, mask);
    return {out[0], out[1]};
  }
  const torch::Tensor q = one_step ? query.unsqueeze(1) : query;  // [B, T, Q]
  torch::Tensor scores;                                           // [B, T, S]
  if (options.kind() == AttentionKind::additive) {
    auto hidden = torch::tanh(query_layer->forward(q).unsqueeze(2) + m.keys.unsqueeze(1));  // [B, T, S, A]
    scores = score_layer->forward(hidden).squeeze(-1);
  } else {
    scores = torch::bmm(q, m.keys.transpose(1, 2));
  }
  if (m.mask.defined())
    scores = scores.masked_fill(m.mask.unsqueeze(1).logical_not(), -std::numeric_limits<double>::infinity());
  auto weights = torch::softmax(scores, -1);
  auto context = torch::bmm(weights, m.values);  // [B, T, M]
  if (one_step) return {context.squeeze(1), weights.squeeze(1)};
  return {context, weights};
}

}  // namespace seqtorch::nn
