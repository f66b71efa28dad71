#pragma once
// Helpers shared by the tests: tolerance checks that report where two tensors differ, parameter
// copying by name, devices to run on.
#include <seqtorch/util/file_system.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <string>
#include <vector>

namespace seqtorch::test {

/// Largest |a - b| / max(1, max|b|): absolute for small values, relative for large ones.
inline double scaled_max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  auto ad = a.detach().to(torch::kCPU, torch::kDouble), bd = b.detach().to(torch::kCPU, torch::kDouble);
  if (ad.numel() == 0 && bd.numel() == 0) return 0.0;
  const double scale = std::max(1.0, bd.abs().max().item<double>());
  return (ad - bd).abs().max().item<double>() / scale;
}

/// Asserts same shape and scaled_max_diff <= tol, naming `what` on failure.
inline ::testing::AssertionResult all_close(const torch::Tensor& a, const torch::Tensor& b,
                                            double tol, const std::string& what = "") {
  if (!a.defined() || !b.defined())
    return ::testing::AssertionFailure() << what << ": undefined tensor";
  if (a.sizes() != b.sizes())
    return ::testing::AssertionFailure() << what << ": shape " << a.sizes() << " vs " << b.sizes();
  const double d = scaled_max_diff(a, b);
  if (d <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": max scaled difference " << d << " > " << tol;
}

/// Copies every parameter of `from` into the parameter of the same name in `to`.
inline void copy_parameters(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto dst = to.named_parameters();
  for (const auto& p : from.named_parameters()) {
    auto* t = dst.find(p.key());
    ASSERT_NE(t, nullptr) << "no parameter named " << p.key();
    t->copy_(p.value());
  }
}

/// Tolerance of the parity tests: float64 1e-10, float32 1e-5; float32 on CUDA 1e-4. On CUDA the
/// fused layer and torch.nn run cuDNN's recurrent kernels (identical calls, identical results)
/// while `reference` runs cuBLAS products and ATen's pointwise kernels: two summation orders,
/// each off by float32 rounding (6e-8 relative) per operation, over T steps of H-wide sums and,
/// for gradients, sums over T x B. TF32 is turned off in those tests (with it, cuDNN and cuBLAS
/// round products to 10-bit mantissas and results move by ~1e-3).
inline double parity_tolerance(torch::Dtype dtype, torch::Device device = torch::kCPU) {
  if (dtype == torch::kDouble) return 1e-10;
  return device.is_cuda() ? 1e-4 : 1e-5;
}

/// Runs `body` and checks it throws a c10::Error whose message contains every one of `parts`.
template <class F>
::testing::AssertionResult throws_with(F&& body, const std::vector<std::string>& parts) {
  try {
    body();
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    for (const auto& p : parts)
      if (msg.find(p) == std::string::npos)
        return ::testing::AssertionFailure() << "message '" << msg << "' lacks '" << p << "'";
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no c10::Error thrown";
}

/// A fresh temporary folder, removed by the destructor.
struct TempDir {
  TempDir()
      : path(util::join_path(util::temp_directory(), "seqtorch-test-" + std::to_string(::getpid()) +
                                                         "-" + std::to_string(counter()++))) {
    util::create_directories(path);
  }
  ~TempDir() {
    try {
      util::remove_all(path);
    } catch (...) {  // a leftover temporary folder is no reason to fail a test
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// PATH/name (name may hold '/').
  std::string file(const std::string& name) const { return util::join_path(path, name); }
  static int& counter() { static int n = 0; return n; }
  const std::string path;
};

}  // namespace seqtorch::test
