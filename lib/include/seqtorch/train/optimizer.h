#pragma once
// Optimisers by name, built from one typed options struct: SGD (momentum, Nesterov), Adam, AdamW,
// RMSprop, all with weight decay. They are torch::optim's own classes, so they behave as
// PyTorch's do; Adam's and AdamW's step on float32 CPU parameters runs in one pass (`fused`).
#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

namespace seqtorch::train {

enum class OptimizerKind { sgd, adam, adamw, rmsprop };
/// "sgd", "adam", "adamw", "rmsprop".
std::string to_string(OptimizerKind kind);
/// Parses the names above; throws naming the valid values otherwise.
OptimizerKind parse_optimizer_kind(const std::string& name);

/// Options of every optimiser; each uses the fields that apply to it.
struct OptimizerOptions {
  /// Which optimiser.
  OptimizerKind kind = OptimizerKind::adam;
  /// Learning rate (the schedule's base rate).
  double lr = 1e-3;
  /// L2 penalty (decoupled for AdamW).
  double weight_decay = 0.0;
  /// SGD and RMSprop momentum.
  double momentum = 0.0;
  /// SGD: Nesterov momentum (needs momentum > 0).
  bool nesterov = false;
  /// Adam and AdamW moment decay rates.
  double beta1 = 0.9, beta2 = 0.999;
  /// Adam, AdamW and RMSprop denominator term.
  double eps = 1e-8;
  /// RMSprop smoothing constant.
  double alpha = 0.99;
  /// Adam and AdamW: where every parameter with a gradient is a contiguous float32 CPU tensor
  /// (and amsgrad is off), each step updates a parameter and its moments in one vectorised pass
  /// (the same update as torch::optim's, equal up to float rounding) instead of torch::optim's
  /// eight operators; elsewhere torch::optim's step. The optimiser is still a torch::optim::Adam
  /// (AdamW), its state and checkpoints the same. false: torch::optim's step always.
  bool fused = true;
};

/// A new optimiser over `parameters`. Throws on invalid options (negative lr, Nesterov without
/// momentum, betas outside [0, 1)), naming the option.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> parameters,
                                                        const OptimizerOptions& options);

/// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);
/// The learning rate of the first parameter group.
double learning_rate(const torch::optim::Optimizer& optimizer);

/// Moves each state tensor of `optimizer` (Adam's and AdamW's moments, SGD's and RMSprop's
/// buffers) to the device of its parameter. Checkpoints load onto the CPU; after the model has
/// moved to its device, this makes the optimizer follow. Throws for another optimizer class.
void move_state_to_parameters(torch::optim::Optimizer& optimizer);

}  // namespace seqtorch::train
