#pragma once
// Private to the library: the loops of a training step on the CPU over float32 arrays. Adam's
// and AdamW's update of one parameter in one pass over its elements (train/optimizer.cpp),
// instead of torch::optim's eight operators, each a pass over memory and, for the small
// parameters of a forecaster, a dispatch that costs more than its arithmetic; and the gradient
// norm's sum of squares and the clipping's scaling (nn/gradients.cpp).
#include <cstdint>

namespace seqtorch::train::fused {

/// One step's constants, as torch::optim::Adam / AdamW compute them for step t:
///   g' = g + l2 p                       (Adam's weight decay; l2 = 0: g itself)
///   p  = p * decay                      (AdamW's weight decay, 1 - lr wd; 1: untouched)
///   m  = beta1 m + (1 - beta1) g'
///   v  = beta2 v + (1 - beta2) g'^2
///   p  = p - step_size m / (sqrt(v) / sqrt_bias2 + eps)
/// with step_size = lr / (1 - beta1^t) and sqrt_bias2 = sqrt(1 - beta2^t).
struct AdamStep {
  float beta1 = 0.9f, beta2 = 0.999f, one_minus_beta1 = 0.1f, one_minus_beta2 = 0.001f;
  float step_size = 0, sqrt_bias2 = 1, eps = 1e-8f;
  float l2 = 0, decay = 1;
};

/// Applies the step to elements [0, n) of a parameter p, its gradient g and its moments m, v
/// (contiguous float32, not overlapping), vectorised for the CPU it runs on (AVX-512, AVX2 or
/// the baseline).
void adam_update(const AdamStep& step, float* p, const float* g, float* m, float* v, int64_t n);

/// The sum of x[i]^2 over [0, n), accumulated in float64.
double sum_of_squares(const float* x, int64_t n);

/// x[i] *= factor over [0, n).
void scale(float* x, int64_t n, float factor);

}  // namespace seqtorch::train::fused
