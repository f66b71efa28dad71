// Compiled with USE_C10D_GLOO where the build found Gloo's headers (SEQTORCH_HAVE_GLOO) and
// USE_C10D_NCCL where it found NCCL (SEQTORCH_HAVE_NCCL): torch's c10d headers hide their process
// groups without those (see lib/CMakeLists.txt).
#include <seqtorch/train/distributed.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#ifdef SEQTORCH_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#ifdef SEQTORCH_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/torch.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

namespace seqtorch::train {

namespace {

using Clock = std::chrono::steady_clock;
using WorkPtr = c10::intrusive_ptr<c10d::Work>;

int parse_int(const std::function<const char*(const char*)>& get, const char* name, int min, int max) {
  const char* text = get(name);
  if (text == nullptr || *text == '\0')
    throw std::runtime_error(std::string("data-parallel launch: ") + name +
                             " is not set (WORLD_SIZE is; launch with torchrun, or set RANK, "
                             "WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)");
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || value < min || value > max)
    throw std::runtime_error(std::string("data-parallel launch: ") + name + ": expected an integer in [" +
                             std::to_string(min) + ", " + std::to_string(max) + "], got '" + text + "'");
  return static_cast<int>(value);
}

// The first line of an error (c10d's messages carry backtraces and source locations).
std::string first_line(const std::exception& e) {
  std::string m;
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) m = c->what_without_backtrace();
  else m = e.what();
  return m.substr(0, m.find('\n'));
}

// TCPStore's libuv server (the default since LibTorch 2.4) is missing from builds without libuv
// (Debian's 2.6): use the classic one, enough for any number of ranks seqtorch would see, where
// the option exists (a no-op for 1.13).
template <class Options>
auto classic_store(Options& o, int) -> decltype(o.useLibUV = false, void()) {
  o.useLibUV = false;
}
template <class Options>
void classic_store(Options&, long) {}

std::string seconds_text(std::chrono::milliseconds t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(t.count()) / 1000.0);
  return buf;
}

}  // namespace

std::optional<LaunchEnvironment> read_launch_environment(const std::function<const char*(const char*)>& get) {
  const char* world = get("WORLD_SIZE");
  if (world == nullptr || *world == '\0') return std::nullopt;
  LaunchEnvironment env;
  env.world_size = parse_int(get, "WORLD_SIZE", 1, 1 << 20);
  env.rank = parse_int(get, "RANK", 0, env.world_size - 1);
  const char* local = get("LOCAL_RANK");
  env.local_rank = local != nullptr && *local != '\0' ? parse_int(get, "LOCAL_RANK", 0, env.world_size - 1) : 0;
  const char* addr = get("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0')
    throw std::runtime_error("data-parallel launch: MASTER_ADDR is not set (WORLD_SIZE is; launch with torchrun)");
  env.master_addr = addr;
  env.master_port = parse_int(get, "MASTER_PORT", 1, 65535);
  const char* agent = get("TORCHELASTIC_USE_AGENT_STORE");
  env.agent_store = agent != nullptr && std::string(agent) == "True";
  const char* restarts = get("TORCHELASTIC_RESTART_COUNT");
  env.restart_count = restarts != nullptr && *restarts != '\0'
                          ? parse_int(get, "TORCHELASTIC_RESTART_COUNT", 0, 1 << 20) : 0;
  if (const char* ifname = get("GLOO_SOCKET_IFNAME")) env.gloo_interface = ifname;
  return env;
}

bool gloo_available() {
#ifdef SEQTORCH_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

bool nccl_available() {
#ifdef SEQTORCH_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

// The process group, whichever backend, behind three calls.
struct DataParallel::Impl {
  int rank = 0, world = 1;
  std::string backend;
  torch::Device comm{torch::kCPU};    // where the collectives' tensors must be
  DataParallelOptions options;
  std::function<WorkPtr(std::vector<at::Tensor>&, const c10d::AllreduceOptions&)> allreduce;
  std::function<WorkPtr(std::vector<at::Tensor>&, const c10d::BroadcastOptions&)> broadcast;
  double comm_ms = 0;

  template <class Group>
  void bind(const c10::intrusive_ptr<Group>& group) {
    allreduce = [group](std::vector<at::Tensor>& t, const c10d::AllreduceOptions& o) { return group->allreduce(t, o); };
    broadcast = [group](std::vector<at::Tensor>& t, const c10d::BroadcastOptions& o) { return group->broadcast(t, o); };
  }

  // Waits for `works`; a failure (a rank died, or stopped answering within the timeout) becomes
  // one line that says so.
  void wait(std::vector<WorkPtr>& works, const char* what) {
    try {
      for (auto& w : works) w->wait();
    } catch (const std::exception& e) {
      throw std::runtime_error("data-parallel rank " + std::to_string(rank) + " of " + std::to_string(world) +
                               ": " + what + " failed: another process died or did not answer within " +
                               seconds_text(options.timeout) + " s (" + first_line(e) + ")");
    }
  }
};

DataParallel::DataParallel(const LaunchEnvironment& env, torch::Device device, const DataParallelOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  TORCH_CHECK(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size,
              "data-parallel: expected 0 <= rank < world size, got rank ", env.rank, " of ", env.world_size);
  TORCH_CHECK(options.timeout.count() > 0, "data-parallel: timeout: expected > 0 ms, got ", options.timeout.count());
  TORCH_CHECK(options.bucket_bytes >= 1, "data-parallel: bucket bytes: expected >= 1, got ", options.bucket_bytes);
  TORCH_CHECK(options.backend == "auto" || options.backend == "gloo" || options.backend == "nccl",
              "data-parallel: backend: expected auto, gloo or nccl, got '", options.backend, "'");
  m.rank = env.rank;
  m.world = env.world_size;
  m.options = options;
  std::string backend = options.backend;
  if (backend == "auto") backend = device.is_cuda() && nccl_available() ? "nccl" : "gloo";
  TORCH_CHECK(backend != "nccl" || nccl_available(),
              "data-parallel: backend nccl: this build of seqtorch has no NCCL (LibTorch without CUDA, or "
              "nccl.h not found at configure time)");
  TORCH_CHECK(backend != "nccl" || device.is_cuda(), "data-parallel: backend nccl needs a CUDA device, got ", device.str());
  TORCH_CHECK(backend != "gloo" || gloo_available(),
              "data-parallel: backend gloo: this build of seqtorch has no Gloo (its LibTorch came without gloo's "
              "headers, as PyTorch's pip wheels do; Debian's libtorch-dev with libgloo-dev has them)",
              device.is_cuda() ? "" : "; training across CPU processes needs it");
  m.backend = backend;

  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env.master_port);
  so.isServer = !env.agent_store && env.rank == 0;
  so.numWorkers = static_cast<size_t>(env.world_size);
  so.timeout = options.timeout;
  so.multiTenant = !env.agent_store;
  classic_store(so, 0);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    store = env.agent_store
                ? c10::intrusive_ptr<c10d::Store>(c10::make_intrusive<c10d::PrefixStore>(
                      "/worker/attempt_" + std::to_string(env.restart_count), tcp))
                : c10::intrusive_ptr<c10d::Store>(tcp);
    store = c10::make_intrusive<c10d::PrefixStore>("seqtorch/", store);
  } catch (const std::exception& e) {
    throw std::runtime_error("data-parallel rank " + std::to_string(env.rank) + ": cannot reach the rendezvous at " +
                             env.master_addr + ":" + std::to_string(env.master_port) + " (" + first_line(e) + ")");
  }
  try {
    if (backend == "gloo") {
#ifdef SEQTORCH_HAVE_GLOO
      auto o = c10d::ProcessGroupGloo::Options::create(options.timeout);
      // GLOO_SOCKET_IFNAME names the interface; a rendezvous on the loopback means every rank is
      // on this machine, so the loopback serves (and the host name need not resolve, which the
      // default device otherwise warns about); else the address the host name resolves to.
      const bool loopback = env.master_addr == "localhost" || env.master_addr == "::1" ||
                            env.master_addr.rfind("127.", 0) == 0;
      o->devices.push_back(!env.gloo_interface.empty()
                               ? c10d::ProcessGroupGloo::createDeviceForInterface(env.gloo_interface)
                           : loopback ? c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr)
                                      : c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 2;
      m.bind(c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, o));
      m.comm = torch::kCPU;
#endif
    } else {
#ifdef SEQTORCH_HAVE_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = options.timeout;
      m.bind(c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, o));
      m.comm = device;
#endif
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("data-parallel rank " + std::to_string(env.rank) + " of " +
                             std::to_string(env.world_size) + ": the " + backend +
                             " process group did not form within the timeout (" + first_line(e) + ")");
  }
}

DataParallel::~DataParallel() = default;

int DataParallel::rank() const { return impl_->rank; }
int DataParallel::world_size() const { return impl_->world; }
std::string DataParallel::backend() const { return impl_->backend; }

void DataParallel::broadcast_from_first(const std::vector<torch::Tensor>& tensors) {
  Impl& m = *impl_;
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    const bool in_place = t.device() == m.comm && t.is_contiguous();
    std::vector<at::Tensor> v{in_place ? t.detach() : t.detach().to(m.comm).contiguous()};
    c10d::BroadcastOptions o;
    o.rootRank = 0;
    std::vector<WorkPtr> works{m.broadcast(v, o)};
    m.wait(works, "the broadcast of the initial parameters");
    if (!in_place) t.detach().copy_(v[0]);
  }
}

void DataParallel::after_backward(const std::vector<torch::Tensor>& params, StepAgreement& step) {
  Impl& m = *impl_;
  const auto start = Clock::now();
  torch::NoGradGuard no_grad;
  const double n = static_cast<double>(step.items);
  std::vector<torch::Tensor> trained;  // the parameters that take gradients
  for (const auto& p : params)
    if (p.requires_grad()) trained.push_back(p);
  // Scalars in float64 (SUM): loss x items, items. Flags (MAX): signal, out of time, and for each
  // parameter whether this process's backward reached it.
  std::vector<at::Tensor> stats{torch::tensor({step.items > 0 ? step.loss * n : 0.0, n}, torch::kDouble).to(m.comm)};
  std::vector<int64_t> flag_values{step.signal, step.out_of_time ? 1 : 0};
  for (const auto& p : trained) flag_values.push_back(p.grad().defined() ? 1 : 0);
  std::vector<at::Tensor> flags{torch::tensor(flag_values, torch::kLong).to(m.comm)};
  std::vector<WorkPtr> works;
  c10d::AllreduceOptions sum;
  sum.reduceOp = c10d::ReduceOp::SUM;
  c10d::AllreduceOptions max;
  max.reduceOp = c10d::ReduceOp::MAX;
  works.push_back(m.allreduce(stats, sum));
  works.push_back(m.allreduce(flags, max));

  // Gradients, weighted by this process's items, in buckets of consecutive same-dtype tensors.
  // A parameter without a gradient here (unused by this process's batch) contributes zeros; one
  // that no process's backward reached is left without a gradient, as one process would leave it.
  struct Bucket {
    std::vector<torch::Tensor> grads;
    std::vector<at::Tensor> flat;  // one tensor, as the collective takes it
  };
  std::vector<Bucket> buckets;
  int64_t bytes = 0;
  for (const auto& p : trained) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    const auto& g = p.grad();
    const int64_t b = g.numel() * static_cast<int64_t>(g.element_size());
    if (buckets.empty() || bytes + b > m.options.bucket_bytes ||
        buckets.back().grads.front().scalar_type() != g.scalar_type()) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().grads.push_back(g);
    bytes += b;
  }
  for (auto& bucket : buckets) {
    std::vector<torch::Tensor> pieces;
    for (const auto& g : bucket.grads) pieces.push_back(g.reshape({-1}));
    bucket.flat.push_back(torch::cat(pieces).mul_(n).to(m.comm));
    works.push_back(m.allreduce(bucket.flat, sum));
  }
  m.wait(works, "the gradient all-reduce");

  const auto s = stats[0].to(torch::kCPU).contiguous();
  const auto f = flags[0].to(torch::kCPU).contiguous();
  const double* sums = s.data_ptr<double>();     // host copies, complete after the waits
  const int64_t* maxima = f.data_ptr<int64_t>();
  const double total = sums[1];
  step.items = static_cast<int64_t>(total);
  step.loss = total > 0 ? sums[0] / total : 0.0;
  step.signal = static_cast<int>(maxima[0]);
  step.out_of_time = maxima[1] != 0;
  for (auto& bucket : buckets) {
    auto flat = bucket.flat[0].to(bucket.grads.front().device());
    if (total > 0) flat.div_(total);
    int64_t offset = 0;
    for (auto& g : bucket.grads) {
      g.copy_(flat.narrow(0, offset, g.numel()).view_as(g));
      offset += g.numel();
    }
  }
  for (size_t i = 0; i < trained.size(); ++i)
    if (maxima[2 + i] == 0) trained[i].mutable_grad() = torch::Tensor();
  m.comm_ms += std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::vector<double> DataParallel::all_sum(const std::vector<double>& values) {
  Impl& m = *impl_;
  if (values.empty()) return {};
  std::vector<at::Tensor> t{torch::tensor(values, torch::kDouble).to(m.comm)};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  std::vector<WorkPtr> works{m.allreduce(t, o)};
  m.wait(works, "a reduction of metrics");
  const auto cpu = t[0].to(torch::kCPU).contiguous();
  return std::vector<double>(cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel());
}

double DataParallel::take_communication_ms() {
  const double ms = impl_->comm_ms;
  impl_->comm_ms = 0;
  return ms;
}

void DataParallel::barrier() { all_sum({0.0}); }

}  // namespace seqtorch::train
