#pragma once
// Building TorchScript modules from C++ torch::nn modules (LibTorch has no C++ torch.jit.script;
// see ../shared/notes/torchscript-export.md). Three pieces:
//   mirror_module      a torch::jit::Module with the SAME parameter and buffer tensors as the
//                      C++ module (the tracer maps tensors by identity)
//   add_traced_method  traces a C++ function of tensors into a method of that module
//   Module::define     (torch's own) adds methods written as TorchScript source
// and save_module, which writes the archive atomically. Archives load in Python's
// torch.jit.load and C++'s torch::jit::load.
#include <torch/nn/module.h>
#include <torch/script.h>

#include <filesystem>
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

/// Writes `module` to `path` atomically.
void save_module(const torch::jit::Module& module, const std::filesystem::path& path);

}  // namespace seqtorch::exporting
