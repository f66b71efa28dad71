#pragma once
// Device, threads and seed: passed in by the caller, never held in globals of ours.
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace seqtorch::util {

/// "auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N". Throws naming the valid
/// forms, or the number of GPUs when N is out of range or CUDA is absent.
torch::Device parse_device(const std::string& name);

/// Sets torch's intra-op threads; 0 means all cores. Returns the number set.
int set_threads(int threads);

/// Seeds every random source torch uses (CPU and all CUDA devices).
void seed_everything(uint64_t seed);

}  // namespace seqtorch::util
