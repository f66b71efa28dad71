#pragma once
// The one place where seqtorch's code depends on the LibTorch version. seqtorch builds against
// Debian 12's LibTorch 1.13, Debian 13's 2.6 and the LibTorch inside current PyTorch wheels
// (2.x with CUDA); everything else uses APIs present in all of them. Known differences:
//   - torch::linalg:: (namespace) is gone since 2.6: use torch::linalg_* (both have it).
//   - Optimizer::state() is keyed by std::string (1.13) or by the TensorImpl pointer (2.x):
//     optimizer_state_key below.
//   - _fused_adamw_ and _foreach_mul_(tensors, scalar tensor) exist from 2.0 / 2.1 on; the
//     fused kernels' learning rate as a device tensor (what a CUDA graph needs) from 2.3 on.
//   - LibTorch 2.x bundles fmt headers (apps use fmt header-only, see CMakeLists.txt) and the
//     wheels export std::filesystem (seqtorch/util/file_system.h).
#include <torch/optim/optimizer.h>
#include <torch/version.h>

#include <sstream>
#include <string>
#include <type_traits>

#define SEQTORCH_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||           \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// Fused Adam and AdamW kernels that take a found_inf flag (CUDA): PyTorch 2.0 on.
#define SEQTORCH_HAVE_FUSED_ADAM SEQTORCH_TORCH_AT_LEAST(2, 0)
// _foreach_mul_(TensorList, const Tensor&): PyTorch 2.1 on.
#define SEQTORCH_HAVE_FOREACH_MUL_TENSOR SEQTORCH_TORCH_AT_LEAST(2, 1)
// _fused_adam_ / _fused_adamw_ with the learning rate as a tensor: 2.3 on (to be safe).
#define SEQTORCH_HAVE_FUSED_ADAM_TENSOR_LR SEQTORCH_TORCH_AT_LEAST(2, 3)

namespace seqtorch::compat {

/// The key under which torch::optim keeps the state of parameter `p` (a template only so that
/// the branch of the other LibTorch is discarded).
template <class Tensor = torch::Tensor>
auto optimizer_state_key(const Tensor& p) {
  using Map = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;  // what torch::optim does in 1.13: c10::guts::to_string(impl)
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

}  // namespace seqtorch::compat
