#include <seqtorch/util/device.h>

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <thread>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace seqtorch::util {

torch::Device parse_device(const std::string& name) {
  const bool cuda = torch::cuda::is_available();
  if (name == "auto") {
    if (!cuda) return torch::kCPU;
    return c10::impl::getDeviceGuardImpl(torch::kCUDA)->getDevice();  // the current one
  }
  if (name == "cpu") return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    int64_t index = 0;
    if (name.size() > 4) {
      TORCH_CHECK(name[4] == ':' && name.size() > 5 &&
                      name.find_first_not_of("0123456789", 5) == std::string::npos,
                  "device: expected auto, cpu, cuda or cuda:N, got '", name, "'");
      index = std::stoll(name.substr(5));
    }
    TORCH_CHECK(cuda, "device: '", name, "' asked for, but this machine has no CUDA device ",
                "(or this LibTorch was built without CUDA); use --device cpu or auto");
    const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    TORCH_CHECK(index < count, "device: '", name, "': expected an index below ", count,
                " (the number of CUDA devices), got ", index);
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  TORCH_CHECK(false, "device: expected auto, cpu, cuda or cuda:N, got '", name, "'");
}

torch::Device use_device(torch::Device device) {
  if (device.is_cuda()) {
    TORCH_CHECK(device.has_index(), "use_device: expected a CUDA device with an index, got ",
                device);
    c10::impl::getDeviceGuardImpl(torch::kCUDA)->setDevice(device);
  }
  return device;
}

int set_threads(int threads) {
  TORCH_CHECK(threads >= 0, "threads: expected >= 0 (0 = all cores), got ", threads);
  const int n = threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
  return n;
}

bool set_flush_denormal(bool on) {
  // Whether this function ever switched flushing on: until then no pool thread flushes, and
  // switching it off (the apps' default, at every start) need not start a team of threads.
  static std::atomic<bool> ever_on{false};
  if (!at::globalContext().setFlushDenormal(on)) return false;
  if (on) ever_on = true;
  if (!on && !ever_on) return true;
#if defined(_OPENMP)
  // Every thread of the pool, however large a team OpenBLAS or torch asks for later: a team this
  // size reuses the pool's threads (MXCSR is per thread) and starts the missing ones from here.
  const int team = std::max(omp_get_max_threads(), static_cast<int>(std::thread::hardware_concurrency()));
#pragma omp parallel num_threads(team)
  at::globalContext().setFlushDenormal(on);
#endif
  return true;
}

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);  // also seeds every CUDA device when CUDA is present
}

}  // namespace seqtorch::util
