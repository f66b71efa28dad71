#pragma once
// Helpers shared by the tests: tolerance checks that report where two tensors differ, parameter
// copying by name, devices to run on.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
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

/// Tolerance of the parity tests: float64 1e-10, float32 1e-5.
inline double parity_tolerance(torch::Dtype dtype) { return dtype == torch::kDouble ? 1e-10 : 1e-5; }

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
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("seqtorch-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  static int& counter() { static int n = 0; return n; }
  std::filesystem::path path;
};

}  // namespace seqtorch::test
