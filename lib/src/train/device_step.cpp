#include <seqtorch/train/device_step.h>

#include "../util/torch_compat.h"

#include <torch/torch.h>

#include <limits>

namespace seqtorch::train {

namespace {
// Adam's and AdamW's options and states have the same fields in different classes.
template <class Options, class State>
void step_group(torch::optim::OptimizerParamGroup& group, torch::optim::Optimizer& optimizer,
                std::map<const void*, torch::Tensor>& steps, const torch::Tensor& skip,
                bool decoupled, const torch::Tensor& lr) {
  const auto& o = static_cast<const Options&>(group.options());
  auto& states = optimizer.state();
  std::vector<torch::Tensor> ps, gs, m, v, vmax, counts;
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    auto it = states.find(compat::optimizer_state_key(p));
    if (it == states.end()) {  // as torch::optim creates it at a parameter's first step
      auto s = std::make_unique<State>();
      s->step(0);
      s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      if (o.amsgrad()) s->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      it = states.emplace(compat::optimizer_state_key(p), std::move(s)).first;
    }
    auto& s = static_cast<State&>(*it->second);
    torch::Tensor& count = steps[p.unsafeGetTensorImpl()];
    if (!count.defined())
      count = torch::full({}, static_cast<double>(s.step()), p.options().dtype(torch::kFloat));
    ps.push_back(p);
    gs.push_back(p.grad());
    m.push_back(s.exp_avg());
    v.push_back(s.exp_avg_sq());
    if (o.amsgrad()) vmax.push_back(s.max_exp_avg_sq());
    counts.push_back(count);
  }
  if (ps.empty()) return;
#if SEQTORCH_HAVE_FUSED_ADAM
  // The kernel reads the count already advanced; a skipped step advances it by 0.
  torch::_foreach_add_(counts, std::vector<torch::Tensor>(counts.size(), 1 - skip));
  const auto [beta1, beta2] = o.betas();
#if SEQTORCH_HAVE_FUSED_ADAM_TENSOR_LR
  if (lr.defined()) {
    if (decoupled)
      at::_fused_adamw_(ps, gs, m, v, vmax, counts, lr, beta1, beta2, o.weight_decay(), o.eps(),
                        o.amsgrad(), /*maximize=*/false, /*grad_scale=*/{}, /*found_inf=*/skip);
    else
      at::_fused_adam_(ps, gs, m, v, vmax, counts, lr, beta1, beta2, o.weight_decay(), o.eps(),
                       o.amsgrad(), /*maximize=*/false, /*grad_scale=*/{}, /*found_inf=*/skip);
    return;
  }
#else
  TORCH_CHECK(!lr.defined(), "DeviceStep: this LibTorch's fused Adam takes no tensor learning rate");
#endif
  if (decoupled)
    at::_fused_adamw_(ps, gs, m, v, vmax, counts, o.lr(), beta1, beta2, o.weight_decay(), o.eps(),
                      o.amsgrad(), /*maximize=*/false, /*grad_scale=*/{}, /*found_inf=*/skip);
  else
    at::_fused_adam_(ps, gs, m, v, vmax, counts, o.lr(), beta1, beta2, o.weight_decay(), o.eps(),
                     o.amsgrad(), /*maximize=*/false, /*grad_scale=*/{}, /*found_inf=*/skip);
#else
  (void)decoupled;
  (void)skip;
  (void)lr;
  TORCH_CHECK(false, "DeviceStep: this LibTorch has no fused Adam kernels");
#endif
}
}  // namespace

bool DeviceStep::supports(const torch::optim::Optimizer& optimizer) {
#if SEQTORCH_HAVE_FUSED_ADAM
  if (!dynamic_cast<const torch::optim::Adam*>(&optimizer) &&
      !dynamic_cast<const torch::optim::AdamW*>(&optimizer))
    return false;
  const torch::Tensor* first = nullptr;
  for (const auto& group : optimizer.param_groups())
    for (const auto& p : group.params()) {
      if (first == nullptr) first = &p;
      if (p.device() != first->device() || p.scalar_type() != first->scalar_type()) return false;
    }
  return first != nullptr && first->is_cuda() && first->is_floating_point();
#else
  (void)optimizer;
  return false;
#endif
}

DeviceStep::DeviceStep(torch::optim::Optimizer& optimizer)
    : optimizer_(optimizer),
      decoupled_(dynamic_cast<const torch::optim::AdamW*>(&optimizer) != nullptr) {
  TORCH_CHECK(supports(optimizer), "DeviceStep: needs Adam or AdamW over parameters on one CUDA "
                                   "device, and a LibTorch with fused Adam kernels (2.0 or later)");
}

void DeviceStep::step(const torch::Tensor& skip_in) {
  torch::NoGradGuard no_grad;
  const torch::Tensor skip = skip_in.to(torch::kFloat);
  auto& groups = optimizer_.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const torch::Tensor lr = g < lrs_.size() ? lrs_[g] : torch::Tensor();
    if (decoupled_)
      step_group<torch::optim::AdamWOptions, torch::optim::AdamWParamState>(
          groups[g], optimizer_, steps_, skip, true, lr);
    else
      step_group<torch::optim::AdamOptions, torch::optim::AdamParamState>(
          groups[g], optimizer_, steps_, skip, false, lr);
  }
}

void DeviceStep::use_device_learning_rates() {
  TORCH_CHECK(SEQTORCH_HAVE_FUSED_ADAM_TENSOR_LR,
              "DeviceStep: learning rates on the device need LibTorch 2.3 or later");
  lrs_.clear();
  loaded_lrs_.clear();
  for (auto& group : optimizer_.param_groups()) {
    const auto& params = group.params();
    lrs_.push_back(params.empty() ? torch::Tensor()
                                  : torch::zeros({}, params[0].options().dtype(torch::kFloat)));
    loaded_lrs_.push_back(std::numeric_limits<double>::quiet_NaN());
  }
  load_learning_rates();
}

void DeviceStep::load_learning_rates() {
  auto& groups = optimizer_.param_groups();
  for (size_t g = 0; g < lrs_.size() && g < groups.size(); ++g) {
    const double lr = groups[g].options().get_lr();
    if (!lrs_[g].defined() || lr == loaded_lrs_[g]) continue;
    lrs_[g].fill_(lr);
    loaded_lrs_[g] = lr;
  }
}

void DeviceStep::write_back() {
  auto& states = optimizer_.state();
  for (auto& group : optimizer_.param_groups())
    for (auto& p : group.params()) {
      auto count = steps_.find(p.unsafeGetTensorImpl());
      if (count == steps_.end()) continue;
      auto it = states.find(compat::optimizer_state_key(p));
      if (it == states.end()) continue;
      const auto n = static_cast<int64_t>(count->second.item<float>());
      if (decoupled_)
        static_cast<torch::optim::AdamWParamState&>(*it->second).step(n);
      else
        static_cast<torch::optim::AdamParamState&>(*it->second).step(n);
    }
}

}  // namespace seqtorch::train
