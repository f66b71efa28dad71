#pragma once
// Attention over an encoder's memory, with a source mask: additive (Bahdanau, Cho and Bengio
// 2015: v^T tanh(W_q q + W_k m)), and multiplicative (Luong, Pham and Manning 2015: dot q^T m,
// general q^T W m). The memory is prepared once per source batch (keys projected, layout made
// batch-major) and then queried at every decoder step, or for all steps at once.
// Shapes: B batch, S source steps, T target steps, Q query width, M memory width, A attention width.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>

namespace seqtorch::nn {

enum class AttentionKind { additive, dot, general };
/// "additive", "dot", "general".
std::string to_string(AttentionKind kind);
/// Parses "additive" | "bahdanau" | "dot" | "general"; throws naming the valid values otherwise.
AttentionKind parse_attention(const std::string& name);

struct AttentionOptions {
  AttentionOptions(int64_t query_size, int64_t memory_size)
      : query_size_(query_size), memory_size_(memory_size) {}
  TORCH_ARG(AttentionKind, kind) = AttentionKind::additive;
  /// Q, the width of the decoder state that asks.
  TORCH_ARG(int64_t, query_size);
  /// M, the width of each memory entry (the encoder's D*H).
  TORCH_ARG(int64_t, memory_size);
  /// A, the width of the additive score's hidden layer (0: Q).
  TORCH_ARG(int64_t, attention_size) = 0;
};

/// The memory as attention reads it, built by AttentionImpl::prepare.
struct AttentionMemory {
  /// values [B, S, M]: what the context averages.
  torch::Tensor values;
  /// keys [B, S, A] (additive), [B, S, Q] (general), = values (dot).
  torch::Tensor keys;
  /// mask [B, S] bool, true at real (not padded) positions; undefined: all real.
  torch::Tensor mask;
};

struct AttentionOutput {
  /// context [B, M] (query [B, Q]) or [B, T, M] (query [B, T, Q]).
  torch::Tensor context;
  /// weights [B, S] or [B, T, S]: softmax over S, zero at masked positions.
  torch::Tensor weights;
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& options);
  void reset() {}
  /// memory [S, B, M] (an encoder's outputs), mask [B, S] bool or undefined.
  AttentionMemory prepare(const torch::Tensor& memory, const torch::Tensor& mask);
  /// query [B, Q] (one step) or [B, T, Q] (T steps at once).
  AttentionOutput forward(const torch::Tensor& query, const AttentionMemory& memory);

  AttentionOptions options;
  /// additive: W_q (with bias), W_k, v; general: W (key_layer, M -> Q). Null where unused.
  torch::nn::Linear query_layer{nullptr}, key_layer{nullptr}, score_layer{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace seqtorch::nn
