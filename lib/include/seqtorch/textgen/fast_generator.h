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
#include <seqtorch/util/aligned_vector.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace seqtorch::textgen {

/// How the generator stores the weight matrices (W_ih, W_hh of every layer, the output layer):
///   f32   as trained
///   bf16  bfloat16 (rounded to nearest even): half the bytes streamed per token; products in
///         float32 (each weight widened exactly)
///   int8  8-bit integers with one float32 scale per output row (row max / 127): a quarter of
///         the bytes; products in float32, scaled once per row
/// The embedding rows and biases stay float32 (a tied embedding is the output layer's rounded
/// matrix). round_weights gives a model the same rounded weights, for scoring a text.
enum class WeightFormat { f32, bf16, int8 };
std::string to_string(WeightFormat w);
/// f32 | bf16 | int8.
WeightFormat parse_weight_format(const std::string& name);
/// `w` [N, K] as the generator stores it in `format`, back in float32 (int8: per row).
torch::Tensor rounded_weights(const torch::Tensor& w, WeightFormat format);
/// Rounds the model's weight matrices as FastGenerator stores them in `format` (in place).
void round_weights(CharModel& model, WeightFormat format);

class FastGenerator {
 public:
  /// Whether `model` can use this path (an LSTM on the CPU in float32).
  static bool supports(const CharModel& model);
  /// Packs the weights of `model` (a copy: later training does not show here), stored in
  /// `weights`' format: the logits are round_weights' model's within float rounding.
  explicit FastGenerator(const CharModel& model, WeightFormat weights = WeightFormat::f32);
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

  /// Bits per token of `tokens` read one after the other from a zero state (the first token is
  /// not scored): what the stored weights cost in likelihood.
  double bits_per_token(const std::vector<int64_t>& tokens);
  /// Bytes of weight matrices read per token.
  int64_t weight_bytes() const;

  /// A weight matrix W [N, K] stored transposed, K rows of N, in the generator's format.
  struct Packed {
    int64_t K = 0, N = 0;
    // On cache lines (util::AlignedVector): the matrix-vector stream reads them in 64-byte loads.
    util::AlignedVector<float> f32;       // [K, N]
    util::AlignedVector<uint32_t> bf16;   // [ceil(K / 2), N]: rows 2p (low half) and 2p + 1 (high half)
    util::AlignedVector<int8_t> q;        // [K, N]
    std::vector<float> scale;     // [N]
  };

 private:
  WeightFormat format_;
  int64_t layers_, hidden_, vocab_;
  torch::Tensor embedding_;                       // [V, E]
  std::vector<Packed> packed_;                    // [W_ih | W_hh] per layer, [4H, I_l + H]
  std::vector<torch::Tensor> bias_;               // [4H]
  std::vector<torch::Tensor> xh_, gates_, c_;     // [I_l + H], [4H], [H]
  Packed head_;                                   // [V, H]
  torch::Tensor head_bias_, logits_;              // [V], [V]
  util::AlignedVector<float> partial_;            // other threads' partial products
  std::vector<float> head_input_;                 // the top h, padded to even length
};

}  // namespace seqtorch::textgen
