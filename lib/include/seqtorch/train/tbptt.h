#pragma once
// Truncated backpropagation through time over long streams.
//   - The char-rnn / word_language_model scheme: cut the stream into chunks, carry the hidden
//     state from one chunk to the next with detach_state (values continue, gradients stop).
//   - The general TBPTT(k1, k2) of Williams and Peng: every k1 steps, backpropagate the loss of
//     those k1 steps through the last k2 steps (k2 >= k1; k1 == k2 is the chunked scheme).
#include <seqtorch/nn/recurrent.h>

#include <cstdint>
#include <functional>

namespace seqtorch::train {

/// A copy of `state` cut from the autograd graph (same values, no history).
nn::RecurrentState detach_state(const nn::RecurrentState& state);

/// Runs the model over part of a stream: x [t, B, ...] from `state` -> outputs [t, B, ...] and
/// the state after the last step.
using StreamForward =
    std::function<std::pair<torch::Tensor, nn::RecurrentState>(const torch::Tensor& x,
                                                                const nn::RecurrentState& state)>;
/// Loss of the steps [first, first + outputs.size(0)) of the stream given their outputs.
using StreamLoss = std::function<torch::Tensor(const torch::Tensor& outputs, int64_t first)>;
/// Called after each backward with the loss just backpropagated and the stream step it ends at
/// (the place for the optimiser step).
using AfterBackward = std::function<void(const torch::Tensor& loss, int64_t end)>;

/// TBPTT(k1, k2) over x [T, B, ...] from `state`. For each end e = k1, 2 k1, ... (and T): runs
/// the model with gradients over [max(0, e - k2), e), backpropagates the loss of [e - k1, e),
/// calls after_backward. States at window starts come from earlier windows, detached (a start
/// between two ends is reached by a no-grad run). Returns the final state, detached.
nn::RecurrentState tbptt(const torch::Tensor& x, const nn::RecurrentState& state, int64_t k1,
                         int64_t k2, const StreamForward& forward, const StreamLoss& loss,
                         const AfterBackward& after_backward);

}  // namespace seqtorch::train
