#include <seqtorch/train/optimizer.h>

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

}  // namespace seqtorch::train
