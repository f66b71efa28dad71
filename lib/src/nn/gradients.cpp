#include <seqtorch/nn/gradients.h>

#include "../train/fused_step.h"
#include "../util/torch_compat.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace seqtorch::nn {

namespace {
std::vector<torch::Tensor> defined_grads(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad().detach());
  return grads;
}

// Whether the multi-tensor (_foreach) kernels apply: CUDA tensors of one device and dtype.
bool one_cuda_group(const std::vector<torch::Tensor>& grads) {
  const auto& g0 = grads[0];
  return g0.is_cuda() && std::all_of(grads.begin(), grads.end(), [&](const torch::Tensor& g) {
           return g.device() == g0.device() && g.scalar_type() == g0.scalar_type();
         });
}

// Whether every gradient is a contiguous float32 CPU tensor (train/fused_step.h's loops apply).
bool all_flat_cpu_float(const std::vector<torch::Tensor>& grads) {
  return std::all_of(grads.begin(), grads.end(), [](const torch::Tensor& g) {
    return g.device().is_cpu() && g.scalar_type() == torch::kFloat && g.layout() == torch::kStrided &&
           g.is_contiguous();
  });
}

// Runs fn(begin, end) over [0, n) in blocks of 2^16 elements, spread over the threads for large
// n; each block's result lands in its own slot, so a sum over them does not depend on the
// number of threads.
constexpr int64_t kBlock = int64_t{1} << 16;
template <typename Fn>
void over_blocks(int64_t n, const Fn& fn) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks <= 1) {
    fn(0, 0, n);
    return;
  }
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) fn(b, b * kBlock, std::min(n, (b + 1) * kBlock));
  });
}

// The global L2 norm of `grads` as a 0-d float64 tensor on the first one's device.
torch::Tensor global_norm(const std::vector<torch::Tensor>& grads) {
  const auto& g0 = grads[0];
  std::vector<torch::Tensor> norms;
  if (all_flat_cpu_float(grads)) {  // one pass per gradient, no float64 copies, no dispatches
    double total = 0;
    for (const auto& g : grads) {
      const float* x = g.data_ptr<float>();
      std::vector<double> sums(static_cast<size_t>(std::max<int64_t>(1, (g.numel() + kBlock - 1) / kBlock)), 0.0);
      over_blocks(g.numel(), [&](int64_t b, int64_t i0, int64_t i1) {
        sums[static_cast<size_t>(b)] = train::fused::sum_of_squares(x + i0, i1 - i0);
      });
      for (double part : sums) total += part;
    }
    return torch::tensor(std::sqrt(total), torch::kDouble);
  }
  if (one_cuda_group(grads)) {
    norms = torch::_foreach_norm(grads);  // one kernel for every tensor
  } else {
    for (const auto& g : grads) norms.push_back(g.to(torch::kDouble).norm().to(g0.device()));
  }
  return torch::stack(norms).to(torch::kDouble).norm();
}

// grads *= factor (a 0-d tensor on their device).
void scale_(const std::vector<torch::Tensor>& grads, const torch::Tensor& factor) {
  torch::NoGradGuard no_grad;
#if SEQTORCH_HAVE_FOREACH_MUL_TENSOR
  if (one_cuda_group(grads)) {
    std::vector<torch::Tensor> list(grads.begin(), grads.end());
    torch::_foreach_mul_(list, factor.to(grads[0].scalar_type()));
    return;
  }
#endif
  for (const auto& g : grads) g.mul_(factor.to(g.device(), g.scalar_type()));
}

// grads *= factor, a number (clip_grad_norm_ on the host).
void scale_(const std::vector<torch::Tensor>& grads, double factor) {
  torch::NoGradGuard no_grad;
  if (!all_flat_cpu_float(grads)) {
    for (const auto& g : grads) g.mul_(factor);
    return;
  }
  for (const auto& g : grads) {
    float* x = g.data_ptr<float>();
    over_blocks(g.numel(), [&](int64_t, int64_t i0, int64_t i1) {
      train::fused::scale(x + i0, i1 - i0, static_cast<float>(factor));
    });
  }
}
}  // namespace

double clip_grad_norm_(const std::vector<torch::Tensor>& parameters, double max_norm) {
  const auto grads = defined_grads(parameters);
  if (grads.empty()) return 0.0;
  const double total = global_norm(grads).item<double>();
  if (!std::isfinite(total) || max_norm <= 0 || total <= max_norm) return total;
  scale_(grads, max_norm / (total + 1e-6));
  return total;
}

torch::Tensor clip_grad_norm_tensor_(const std::vector<torch::Tensor>& parameters,
                                     double max_norm) {
  const auto grads = defined_grads(parameters);
  if (grads.empty()) return torch::zeros({}, torch::kDouble);
  torch::Tensor total = global_norm(grads);
  if (max_norm > 0) {
    const torch::Tensor factor = (max_norm / (total + 1e-6)).clamp_max(1.0);
    scale_(grads, torch::where(torch::isfinite(total), factor, torch::ones_like(factor)));
  }
  return total;
}

void clip_grad_value_(const std::vector<torch::Tensor>& parameters, double clip_value) {
  TORCH_CHECK(clip_value >= 0, "clip_grad_value_: clip_value: expected >= 0, got ", clip_value);
  torch::NoGradGuard no_grad;
  for (const auto& p : parameters)
    if (p.grad().defined()) p.grad().clamp_(-clip_value, clip_value);
}

torch::Tensor hidden_gradient_norms(const torch::Tensor& loss,
                                    const std::vector<torch::Tensor>& steps) {
  TORCH_CHECK(loss.defined() && loss.numel() == 1,
              "hidden_gradient_norms: loss: expected a scalar, got shape ",
              loss.defined() ? loss.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(loss.requires_grad(), "hidden_gradient_norms: loss does not require grad");
  TORCH_CHECK(!steps.empty(), "hidden_gradient_norms: no hidden states given (the `fused` "
                              "implementation records none: use `reference`)");
  auto grads = torch::autograd::grad({loss}, steps, {}, /*retain_graph=*/true,
                                     /*create_graph=*/false, /*allow_unused=*/true);
  auto norms = torch::zeros({static_cast<int64_t>(steps.size())}, torch::kDouble);
  for (size_t t = 0; t < grads.size(); ++t)
    if (grads[t].defined()) norms[t] = grads[t].to(torch::kDouble).norm().item<double>();
  return norms;
}

}  // namespace seqtorch::nn
