#include <seqtorch/train/optimizer.h>

#include "../util/torch_compat.h"
#include "fused_step.h"

#include <torch/torch.h>

#include <cmath>

namespace seqtorch::train {

namespace {
// Adam or AdamW whose step runs seqtorch's one-pass loop (train/fused_step.h) where every
// parameter with a gradient is a contiguous float32 CPU tensor (its gradient too) and amsgrad is
// off; otherwise, or with a closure, torch::optim's own step. The state (AdamParamState or
// AdamWParamState, keyed as torch::optim keys it) and its serialisation are the base class's, so
// checkpoints move freely between the two.
template <class Base, class Options, class State>
class FusedAdam : public Base {
 public:
  FusedAdam(std::vector<torch::Tensor> params, const Options& options) : Base(std::move(params), options) {}

  torch::Tensor step(torch::optim::Optimizer::LossClosure closure = nullptr) override {
    if (closure != nullptr) return Base::step(std::move(closure));
    // One pass gathers each parameter with a gradient and its state (created as torch::optim
    // creates it at a parameter's first step, so that torch::optim's step finds the same state
    // when it runs instead); torch::optim's step unless all of them are flat float32 CPU tensors.
    struct Item {
      torch::Tensor* p;
      State* state;
      const Options* options;
    };
    std::vector<Item> items;
    auto flat = [](const torch::Tensor& t) {
      return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.is_contiguous() &&
             t.layout() == torch::kStrided;
    };
    auto& states = this->state();
    for (torch::optim::OptimizerParamGroup& group : this->param_groups()) {
      const auto& o = static_cast<const Options&>(group.options());
      if (o.amsgrad()) return Base::step();
      for (torch::Tensor& p : group.params()) {
        if (!p.grad().defined()) continue;
        const torch::Tensor& g = p.grad();
        if (!flat(p) || !flat(g) || g.sizes() != p.sizes()) return Base::step();
        const auto key = compat::optimizer_state_key(p);
        auto it = states.find(key);
        if (it == states.end()) {
          auto fresh = std::make_unique<State>();
          fresh->step(0);
          fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          it = states.emplace(key, std::move(fresh)).first;
        }
        auto& s = static_cast<State&>(*it->second);
        if (!flat(s.exp_avg()) || !flat(s.exp_avg_sq()) || s.exp_avg().sizes() != p.sizes() ||
            s.exp_avg_sq().sizes() != p.sizes())
          return Base::step();
        items.push_back({&p, &s, &o});
      }
    }
    torch::NoGradGuard no_grad;
    constexpr bool decoupled = std::is_same_v<Options, torch::optim::AdamWOptions>;
    for (const Item& item : items) {
      const Options& o = *item.options;
      State& s = *item.state;
      const auto [beta1, beta2] = o.betas();
      s.step(s.step() + 1);
      const double t = static_cast<double>(s.step());
      fused::AdamStep a;
      a.beta1 = static_cast<float>(beta1);
      a.beta2 = static_cast<float>(beta2);
      a.one_minus_beta1 = static_cast<float>(1 - beta1);
      a.one_minus_beta2 = static_cast<float>(1 - beta2);
      a.step_size = static_cast<float>(o.lr() / (1 - std::pow(beta1, t)));
      a.sqrt_bias2 = static_cast<float>(std::sqrt(1 - std::pow(beta2, t)));
      a.eps = static_cast<float>(o.eps());
      if (decoupled)
        a.decay = static_cast<float>(1 - o.lr() * o.weight_decay());
      else
        a.l2 = static_cast<float>(o.weight_decay());
      torch::Tensor& p = *item.p;
      float* pp = p.data_ptr<float>();
      const float* g = p.grad().data_ptr<float>();
      float* m = s.exp_avg().template data_ptr<float>();
      float* v = s.exp_avg_sq().template data_ptr<float>();
      // Large parameters split over the threads (ranges of whole cache lines); small ones in one
      // call, where a parallel region would cost more than the loop.
      const int64_t n = p.numel();
      if (n < (int64_t{1} << 15)) {
        fused::adam_update(a, pp, g, m, v, n);
      } else {
        at::parallel_for(0, (n + 15) / 16, 1024, [&](int64_t b, int64_t e) {
          const int64_t i0 = b * 16, i1 = std::min(n, e * 16);
          fused::adam_update(a, pp + i0, g + i0, m + i0, v + i0, i1 - i0);
        });
      }
    }
    return {};
  }
};

// Adam or AdamW (Base, its Options and State) with `o`'s settings: FusedAdam, or torch::optim's
// class itself when o.fused is off.
template <class Base, class Options, class State>
std::unique_ptr<torch::optim::Optimizer> adam(std::vector<torch::Tensor> parameters, const OptimizerOptions& o) {
  const auto options = Options(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay);
  if (o.fused) return std::make_unique<FusedAdam<Base, Options, State>>(std::move(parameters), options);
  return std::make_unique<Base>(std::move(parameters), options);
}
}  // namespace

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
        return adam<torch::optim::Adam, torch::optim::AdamOptions, torch::optim::AdamParamState>(
            std::move(parameters), o);
      return adam<torch::optim::AdamW, torch::optim::AdamWOptions, torch::optim::AdamWParamState>(
          std::move(parameters), o);
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
