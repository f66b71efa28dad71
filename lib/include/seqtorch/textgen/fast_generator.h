#pragma once
// Batch-1 generation for LSTM character models on the CPU, without the framework: no autograd,
// no tensor operation per step. Each layer's [W_ih | W_hh] is packed once, transposed, into one
// matrix (one matrix-vector product per layer and step, written as a vectorised stream over the
// weights, split over threads by blocks of weight rows for large layers), buffers are preallocated, the gate math of a
// step is one vectorised pass (AVX2 where the CPU has it), and the next token is drawn by
// decode::Sampler, the sampler decode::generate uses. Same logits as the model within float
// rounding: greedy decoding gives the same tokens as decode::generate, and sampling with the same
// seed the same tokens too, but where a draw falls within rounding of a boundary between two
// tokens (the same seed gives the same text every time).
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
  /// Deterministic for a given seed.
  std::vector<int64_t> generate(const std::vector<int64_t>& prime, int64_t length,
                                const decode::SamplingOptions& options, uint64_t seed,
                                const std::function<void(int64_t)>& on_token = {});

 private:
  int64_t layers_, hidden_, vocab_;
  torch::Tensor embedding_;                       // [V, E]
  std::vector<torch::Tensor> packed_, bias_;      // [I_l + H, 4H] ([W_ih | W_hh]^T), [4H]
  std::vector<torch::Tensor> xh_, gates_, c_;     // [I_l + H], [4H], [H]
  torch::Tensor head_weight_, head_bias_, logits_;  // [H, V] (transposed), [V], [V]
  std::vector<float> partial_;                      // other threads' partial products
};

}  // namespace seqtorch::textgen
