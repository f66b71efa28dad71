#pragma once
// A CUDA graph of one training step, for the trainer (TrainerOptions::cuda_graph). Compiled with
// CUDA graphs only where LibTorch has CUDA and its headers build (lib/CMakeLists.txt); elsewhere
// available() is false and the other members throw.
#include <c10/core/Device.h>

#include <functional>
#include <memory>

namespace seqtorch::train::detail {

class StepGraph {
 public:
  /// Whether this build can capture CUDA graphs.
  static bool available();

  /// A graph for work on `device` (a CUDA device).
  explicit StepGraph(c10::Device device);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  /// Runs `body` eagerly on the stream the capture will use, waiting for the device before and
  /// after, so that what libraries create lazily per stream (cuBLAS workspaces) exists before the
  /// capture.
  void warm_up(const std::function<void()>& body);
  /// Records `body` into the graph on that stream (nothing runs: replay() runs it). If `body` or
  /// the capture fails, the capture is ended, the graph stays empty and the error is rethrown.
  void capture(const std::function<void()>& body);
  /// Runs the recorded graph on the current stream (queued, not waited for).
  void replay();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seqtorch::train::detail
