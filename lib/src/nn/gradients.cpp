#include <seqtorch/nn/gradients.h>

#include <torch/torch.h>

#include <cmath>

namespace seqtorch::nn {

double clip_grad_norm_(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters)
    if (p.grad().defined()) norms.push_back(p.grad().detach().to(torch::kDouble).norm());
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).norm().item<double>();
  if (!std::isfinite(total) || max_norm <= 0 || total <= max_norm) return total;
  const double scale = max_norm / (total + 1e-6);
  torch::NoGradGuard no_grad;
  for (const auto& p : parameters)
    if (p.grad().defined()) p.grad().mul_(scale);
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
