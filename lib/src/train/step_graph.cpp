#include "step_graph.h"

#include "../util/torch_compat.h"

#include <c10/util/Exception.h>

// CMake defines SEQTORCH_CUDA_GRAPH_HEADERS where LibTorch has CUDA and its CUDA graph headers
// compile; the learning rate must live on the device (fused Adam's tensor lr) for a graph to
// follow the schedule.
#if defined(SEQTORCH_CUDA_GRAPH_HEADERS) && SEQTORCH_HAVE_FUSED_ADAM_TENSOR_LR
#define SEQTORCH_CUDA_GRAPHS 1
#else
#define SEQTORCH_CUDA_GRAPHS 0
#endif

#if SEQTORCH_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace seqtorch::train::detail {

#if SEQTORCH_CUDA_GRAPHS

struct StepGraph::Impl {
  explicit Impl(c10::Device d)
      : device(d), stream(c10::cuda::getStreamFromPool(false, d.index())) {}
  c10::Device device;
  c10::cuda::CUDAStream stream;  // a side stream: graphs cannot be captured on the default one
  at::cuda::CUDAGraph graph;
};

bool StepGraph::available() { return true; }

StepGraph::StepGraph(c10::Device device) {
  TORCH_CHECK(device.is_cuda() && device.has_index(),
              "StepGraph: expected a CUDA device with an index, got ", device);
  impl_ = std::make_unique<Impl>(device);
}

StepGraph::~StepGraph() = default;

void StepGraph::warm_up(const std::function<void()>& body) {
  c10::cuda::CUDAGuard device_guard(impl_->device);
  c10::cuda::device_synchronize();
  {
    c10::cuda::CUDAStreamGuard stream_guard(impl_->stream);
    body();
  }
  c10::cuda::device_synchronize();
}

void StepGraph::capture(const std::function<void()>& body) {
  c10::cuda::CUDAGuard device_guard(impl_->device);
  c10::cuda::device_synchronize();
  {
    c10::cuda::CUDAStreamGuard stream_guard(impl_->stream);
    impl_->graph.capture_begin();
    try {
      body();
    } catch (...) {
      try {
        impl_->graph.capture_end();  // leaves capture mode; fails on an invalidated capture
      } catch (...) {
      }
      impl_->graph.reset();
      throw;
    }
    impl_->graph.capture_end();
  }
  c10::cuda::device_synchronize();
}

void StepGraph::replay() {
  c10::cuda::CUDAGuard device_guard(impl_->device);
  impl_->graph.replay();
}

#else  // no CUDA graphs in this build

struct StepGraph::Impl {};

bool StepGraph::available() { return false; }

StepGraph::StepGraph(c10::Device) {
  TORCH_CHECK(false, "StepGraph: this build has no CUDA graphs (LibTorch without CUDA or older "
                     "than 2.3)");
}

StepGraph::~StepGraph() = default;

void StepGraph::warm_up(const std::function<void()>&) {}
void StepGraph::capture(const std::function<void()>&) {}
void StepGraph::replay() {}

#endif

}  // namespace seqtorch::train::detail
