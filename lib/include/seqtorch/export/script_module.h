#pragma once
// Building TorchScript modules from C++ torch::nn modules (LibTorch has no C++ torch.jit.script;
// see ../shared/notes/torchscript-export.md). Three pieces:
//   mirror_module      a torch::jit::Module with the SAME parameter and buffer tensors as the
//                      C++ module (the tracer maps tensors by identity)
//   add_traced_method  traces a C++ function of tensors into a method of that module
//   Module::define     (torch's own) adds methods written as TorchScript source
// and save_module, which writes the archive atomically. Archives load in Python's
// torch.jit.load and C++'s torch::jit::load.
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/nn/module.h>
#include <torch/script.h>

#include <functional>
#include <string>
#include <vector>

namespace seqtorch::exporting {

/// A function of tensors to trace; several results become a tuple.
using TensorFunction = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;

/// A TorchScript module mirroring `module`'s tree (class `__torch__.seqtorch.<name>...`,
/// parameters, buffers and submodules by the same names, plus a `training` attribute, false).
torch::jit::Module mirror_module(const torch::nn::Module& module, const std::string& name);

/// Traces `fn` on `examples` (in eval mode, without gradients) and adds the graph to `target`
/// as method `name(arg_names...) -> Tensor` (or a tuple of tensors). `fn` must compute with the mirrored module's own
/// parameter tensors; sizes read in C++ become constants, so it should use negative indices,
/// -1 in views and states built from the input (as seqtorch's modules do) to stay shape-generic.
void add_traced_method(torch::jit::Module& target, const std::string& name,
                       const std::vector<std::string>& arg_names,
                       const std::vector<torch::Tensor>& examples, const TensorFunction& fn);

/// Adds `code_points(text: str) -> Tuple[List[int], List[str]]` to `target`: the code points of
/// a UTF-8 string and each one's own UTF-8 text. TorchScript iterates a str by bytes, so the
/// exports that read text (textgen, translate) group the bytes back here, in one place.
void define_utf8_decoder(torch::jit::Module& target);

/// Adds seqtorch's decoding of one input in TorchScript, as decode::search runs it (greedy at beam
/// 1, else beam search with the GNMT length penalty; </s> = 3 ends a hypothesis):
///   search(lp, h, c, feed, values, keys, mask, beam: int, max_len: int) -> List[int]
/// from the log-probabilities lp [1, V] of the first token and the state after reading <s>. It
/// calls the target's `decode_step(tokens [N], h, c, feed, values, keys, mask) -> (log_probs
/// [N, V], h, c, feed, attention)` with rows on dim 1 of h and c and dim 0 of the rest, and reads
/// its `length_penalty` attribute (float). The translate and caption exports share it.
void define_beam_search(torch::jit::Module& target);

/// Writes `module` to `path` atomically.
void save_module(const torch::jit::Module& module, const std::string& path);

/// Loads a seqtorch export (any TorchScript archive) onto `device`, in eval mode. Run it inside
/// an InferenceGuard.
torch::jit::Module load_export(const std::string& path, torch::Device device = torch::kCPU);

/// The scope in which to run an exported module from C++: no gradients, and TorchScript's graph
/// optimiser off for this thread (restored at the end of the scope). The optimiser profiles each
/// new input shape and, on a LibTorch whose tensor-expression fuser runs on the CPU (Debian 13's
/// 2.6, built with LLVM), compiles fused kernels with LLVM for it: seconds to minutes per shape
/// for the traced recurrences of an export (measured: the forecaster's test at 9 shapes did not
/// finish in 300 s). Without it the graph runs as traced, op by op: the same numbers, no compile
/// step. Python's torch.jit.load needs nothing (its CPU fusion is off by default).
class InferenceGuard {
 public:
  InferenceGuard() : optimizer_(false) {}

 private:
  torch::NoGradGuard no_grad_;
  torch::jit::GraphOptimizerEnabledGuard optimizer_;
};

}  // namespace seqtorch::exporting
