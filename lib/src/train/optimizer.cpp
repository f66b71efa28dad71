#include <seqtorch/train/optimizer.h>

#include "../util/torch_compat.h"

#include <torch/torch.h>

namespace seqtorch::train {

std::string to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::sgd: return "sgd";
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::adamw: return "adamw";
    case OptimizerKind::rmsprop: return "rmsprop";
  }
  return "?";
}

OptimizerKind parse_optimizer_kind(const std::string& name) {
  for (auto k : {OptimizerKind::sgd, OptimizerKind::adam, OptimizerKind::adamw, OptimizerKind::rmsprop})
    if (name == to_string(k)) return k;
  TORCH_CHECK(false, "optimizer: expected sgd, adam, adamw or rmsprop, got '", name, "'");
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> parameters,
                                                        const OptimizerOptions& o) {
  TORCH_CHECK(o.lr >= 0, "optimizer: lr: expected >= 0, got ", o.lr);
  TORCH_CHECK(o.weight_decay >= 0, "optimizer: weight_decay: expected >= 0, got ", o.weight_decay);
  TORCH_CHECK(o.momentum >= 0, "optimizer: momentum: expected >= 0, got ", o.momentum);
  TORCH_CHECK(o.eps > 0, "optimizer: eps: expected > 0, got ", o.eps);
  switch (o.kind) {
    case OptimizerKind::sgd:
      TORCH_CHECK(!o.nesterov || o.momentum > 0,
                  "optimizer: nesterov: needs momentum > 0, got momentum ", o.momentum);
      return std::make_unique<torch::optim::SGD>(
          parameters, torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov)
                          .weight_decay(o.weight_decay));
    case OptimizerKind::adam:
    case OptimizerKind::adamw: {
      TORCH_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
                  "optimizer: betas: expected in [0, 1), got (", o.beta1, ", ", o.beta2, ")");
      if (o.kind == OptimizerKind::adam)
        return std::make_unique<torch::optim::Adam>(
            parameters, torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps)
                            .weight_decay(o.weight_decay));
      return std::make_unique<torch::optim::AdamW>(
          parameters, torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps)
                          .weight_decay(o.weight_decay));
    }
    case OptimizerKind::rmsprop:
      TORCH_CHECK(o.alpha >= 0 && o.alpha < 1, "optimizer: alpha: expected in [0, 1), got ",
                  o.alpha);
      return std::make_unique<torch::optim::RMSprop>(
          parameters, torch::optim::RMSpropOptions(o.lr).alpha(o.alpha).eps(o.eps)
                          .momentum(o.momentum).weight_decay(o.weight_decay));
  }
  return nullptr;
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double learning_rate(const torch::optim::Optimizer& optimizer) {
  return optimizer.param_groups().at(0).options().get_lr();
}

void move_state_to_parameters(torch::optim::Optimizer& optimizer) {
  auto& states = optimizer.state();
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      auto it = states.find(compat::optimizer_state_key(p));
      if (it == states.end()) continue;  // no step taken for this parameter yet
      const auto device = p.device();
      auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
      auto* state = it->second.get();
      if (auto* s = dynamic_cast<torch::optim::AdamParamState*>(state)) {
        s->exp_avg(move(s->exp_avg()));
        s->exp_avg_sq(move(s->exp_avg_sq()));
        s->max_exp_avg_sq(move(s->max_exp_avg_sq()));
      } else if (auto* s = dynamic_cast<torch::optim::AdamWParamState*>(state)) {
        s->exp_avg(move(s->exp_avg()));
        s->exp_avg_sq(move(s->exp_avg_sq()));
        s->max_exp_avg_sq(move(s->max_exp_avg_sq()));
      } else if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(state)) {
        s->momentum_buffer(move(s->momentum_buffer()));
      } else if (auto* s = dynamic_cast<torch::optim::RMSpropParamState*>(state)) {
        s->square_avg(move(s->square_avg()));
        s->momentum_buffer(move(s->momentum_buffer()));
        s->grad_avg(move(s->grad_avg()));
      } else {
        TORCH_CHECK(false, "optimizer: cannot move the state of this optimizer class to its "
                           "parameters' device (expected SGD, Adam, AdamW or RMSprop)");
      }
    }
  }
}

}  // namespace seqtorch::train
