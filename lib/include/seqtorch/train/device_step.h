#pragma once
// Optimiser steps on a GPU that the host does not wait for. The trainer skips a step whose loss
// or gradient is not finite; deciding that on the host means reading the loss and the gradient
// norm back at every step, and each such read leaves the GPU idle while the host launches the
// next kernels (measured: 12-19% of textgen's training time on an H100). DeviceStep makes the
// skip a device-side decision: Adam and AdamW run as PyTorch's fused kernel, which leaves
// parameters and moments untouched when the `skip` flag on the device is 1, and the step counts
// advance by 1 - skip. The state stays torch::optim's own (AdamParamState), so checkpoints,
// resume and the optimiser's own step() work as before.
#include <torch/optim/optimizer.h>

#include <map>
#include <vector>

namespace seqtorch::train {

class DeviceStep {
 public:
  /// Whether `optimizer` can step this way: Adam or AdamW, every parameter on one CUDA device in
  /// one floating dtype, and a LibTorch with the fused kernels (2.0 and later).
  static bool supports(const torch::optim::Optimizer& optimizer);
  /// Throws unless supports(optimizer). Reads the step counts from the optimiser's state.
  explicit DeviceStep(torch::optim::Optimizer& optimizer);

  /// One step over the parameters that have a gradient, with each group's current options
  /// (learning rate included). `skip`: a 0-d float32 tensor on the parameters' device, 1 to
  /// leave everything as it is, 0 to step. Queues kernels only: nothing is waited for.
  void step(const torch::Tensor& skip);

  /// Copies the step counts into the optimiser's state (waits for the device); call before the
  /// optimiser is saved or stepped by other means.
  void write_back();

  /// From now on step() reads each group's learning rate from a tensor on the device (what a
  /// step captured in a CUDA graph needs: a number would be frozen into the graph), which
  /// load_learning_rates() sets from the groups' options. Throws where the LibTorch's fused
  /// kernels lack that form (before 2.3).
  void use_device_learning_rates();
  /// Copies each group's current learning rate into its device tensor (queued; only when it
  /// changed since the last call). Call before each step once use_device_learning_rates().
  void load_learning_rates();

 private:
  torch::optim::Optimizer& optimizer_;
  bool decoupled_;                        // AdamW: decoupled weight decay
  std::map<const void*, torch::Tensor> steps_;  // per parameter: float32 step count on its device
  std::vector<torch::Tensor> lrs_;        // per group: float32 learning rate on the device, or none
  std::vector<double> loaded_lrs_;        // what lrs_ hold
};

}  // namespace seqtorch::train
