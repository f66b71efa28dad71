#pragma once
// Batch-1 generation for LSTM character models on the CPU, without the framework's per-step
// overhead: no autograd, each layer's [W_ih | W_hh] packed once into one matrix (one
// matrix-vector product per layer and step), preallocated buffers, and the gate math of a step
// in one pass over the hidden units. Gives the same tokens as decode::generate over
// CharStepModel (same sampling code, same seed) and the same logits within float rounding.
#include <seqtorch/decode/decoding.h>
#include <seqtorch/textgen/char_model.h>

#include <functional>
#include <vector>

namespace seqtorch::textgen {

class FastGenerator {
 public:
  /// Whether `model` can use this path (an LSTM on the CPU in float32).
  static bool supports(const CharModel& model);
  /// Packs the weights of `model` (a copy: later training does not show here).
  explicit FastGenerator(const CharModel& model);
  /// Resets the state to zeros.
  void reset();
  /// Reads one token; returns the logits [V] of the next one (a view of an internal buffer,
  /// valid until the next call).
  const torch::Tensor& step(int64_t token);
  /// As decode::generate: `length` tokens after `prime`, streamed to `on_token`.
  std::vector<int64_t> generate(const std::vector<int64_t>& prime, int64_t length,
                                const decode::SamplingOptions& options, uint64_t seed,
                                const std::function<void(int64_t)>& on_token = {});

 private:
  int64_t layers_, hidden_, vocab_;
  torch::Tensor embedding_;                       // [V, E]
  std::vector<torch::Tensor> packed_, bias_;      // [4H, I_l + H], [4H] (b_ih + b_hh)
  std::vector<torch::Tensor> xh_, gates_, c_;     // [I_l + H], [4H], [H]
  torch::Tensor head_weight_, head_bias_, logits_;  // [V, H], [V], [V]
};

}  // namespace seqtorch::textgen
