#pragma once
// Device, threads and seed: passed in by the caller, never held in globals of ours.
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace seqtorch::util {

/// "auto" (the current CUDA device when CUDA is present, else the CPU), "cpu", "cuda" (device
/// 0) or "cuda:N". Throws naming the valid forms, or the number of GPUs when N is out of range
/// or CUDA is absent.
torch::Device parse_device(const std::string& name);

/// Makes `device` the current CUDA device of the calling thread when it is a CUDA device (a
/// no-op for the CPU), so that work which names only "cuda" (torch::kCUDA without an index,
/// .cuda(), CUDA streams and generators) lands on that card too. Returns `device`.
torch::Device use_device(torch::Device device);

/// Sets torch's intra-op threads; 0 means all cores. Returns the number set.
int set_threads(int threads);

/// Flushes subnormal floating-point numbers to zero (`on`: FTZ and DAZ, as PyTorch's
/// torch.set_flush_denormal) or stops doing so, on the calling thread and on every thread of its
/// OpenMP pool (torch's CPU operators and OpenBLAS run there); threads started later inherit the
/// setting from the thread that starts them. Subnormals (below 1.2e-38 in float32) cost the FMA
/// units about a hundred cycles each: vanishing gradients make them. Returns false (and changes
/// nothing) where the CPU lacks the switch (x86 without SSE3).
bool set_flush_denormal(bool on);

/// Seeds every random source torch uses (CPU and all CUDA devices).
void seed_everything(uint64_t seed);

}  // namespace seqtorch::util
