#pragma once
// Data-parallel training across processes and machines on PyTorch's own distributed engine
// (c10d): a TCPStore rendezvous at MASTER_ADDR:MASTER_PORT, ProcessGroupGloo for CPU tensors and
// ProcessGroupNCCL for CUDA ones (where this build has NCCL; otherwise Gloo, which moves CUDA
// tensors through the host). Which of them a build has depends on its LibTorch: gloo_available(),
// nccl_available(). Launched by torchrun, which sets the variables read here.
#include <seqtorch/train/parallel.h>

#include <torch/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace seqtorch::train {

/// What torchrun (or any launcher) tells each process.
struct LaunchEnvironment {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;
  int master_port = 0;
  /// TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store, every rank is a client
  /// (keys under /worker/attempt_<TORCHELASTIC_RESTART_COUNT>); otherwise rank 0 hosts it.
  bool agent_store = false;
  int restart_count = 0;
  /// GLOO_SOCKET_IFNAME: the network interface Gloo uses (empty: the one the host name resolves to).
  std::string gloo_interface;
};

/// The launch variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT and torchrun's
/// TORCHELASTIC_*), read through `get` (std::getenv in programs). nullopt when WORLD_SIZE is not
/// set: one process, nothing changes. Throws, naming the variable, when one is missing or
/// malformed.
std::optional<LaunchEnvironment> read_launch_environment(
    const std::function<const char*(const char*)>& get);

/// Whether this build can make a Gloo process group (gloo's headers found: Debian's libgloo-dev;
/// PyTorch's pip wheels ship none).
bool gloo_available();
/// Whether this build can make an NCCL process group (LibTorch with CUDA and NCCL headers).
bool nccl_available();

struct DataParallelOptions {
  /// A rank that dies or stops answering ends every collective (and the rendezvous) with an
  /// error after this long, instead of a hang.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  /// Gradients are all-reduced in buckets of about this many bytes (as DDP's bucket_cap_mb).
  int64_t bucket_bytes = 25 << 20;
  /// "auto" (NCCL for a CUDA device when available, else Gloo), "gloo" or "nccl".
  std::string backend = "auto";
};

/// A process group of `env.world_size` processes training one model on `device` (each process's
/// own: cpu, or cuda:LOCAL_RANK). Blocks in the constructor until every rank has joined (or the
/// timeout passes).
class DataParallel : public Parallel {
 public:
  DataParallel(const LaunchEnvironment& env, torch::Device device, const DataParallelOptions& options);
  ~DataParallel() override;
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const override;
  int world_size() const override;
  /// "gloo" or "nccl".
  std::string backend() const;
  void broadcast_from_first(const std::vector<torch::Tensor>& tensors) override;
  void after_backward(const std::vector<torch::Tensor>& params, StepAgreement& step) override;
  std::vector<double> all_sum(const std::vector<double>& values) override;
  double take_communication_ms() override;
  /// Waits until every rank gets here.
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seqtorch::train
