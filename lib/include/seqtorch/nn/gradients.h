#pragma once
// Gradient tools: clipping, and the seed note's vanishing/exploding-gradient picture (§6) made
// measurable.
#include <torch/types.h>

#include <vector>

namespace seqtorch::nn {

/// Scales all gradients so that their global L2 norm is at most max_norm (no-op if it already
/// is, or if max_norm <= 0). Parameters without a gradient are skipped. Returns the norm before
/// clipping, which is +inf or NaN when a gradient is not finite (gradients then left untouched).
double clip_grad_norm_(const std::vector<torch::Tensor>& parameters, double max_norm);

/// clip_grad_norm_ without waiting for the device: the scale factor min(1, max_norm / norm) is
/// computed and applied where the gradients are (1 when the norm is not finite or max_norm <= 0),
/// and the norm before clipping comes back as a 0-d float64 tensor on the gradients' device
/// (a 0-d CPU zero without gradients). On CUDA the per-tensor norms are taken in one kernel in
/// the gradients' dtype, as PyTorch's clip_grad_norm_ does; on the CPU in float64.
torch::Tensor clip_grad_norm_tensor_(const std::vector<torch::Tensor>& parameters,
                                     double max_norm);

/// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<torch::Tensor>& parameters, double clip_value);

/// The norm of dLoss/dh(t) for every t: `steps` are the hidden states h(0..T-1) [B, H] as they
/// sit in the autograd graph (ElmanOutput::steps, or RecurrentOutput::steps of the `reference`
/// implementation), so each gradient is the total one, through o(t) and through all later steps.
/// Returns [T] (float64, on the CPU); a step the loss does not depend on gets 0. Keeps the graph.
torch::Tensor hidden_gradient_norms(const torch::Tensor& loss,
                                    const std::vector<torch::Tensor>& steps);

}  // namespace seqtorch::nn
