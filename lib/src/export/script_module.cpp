#include <seqtorch/export/script_module.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/torch.h>

namespace seqtorch::exporting {

namespace {
torch::jit::Module mirror(const torch::nn::Module& m, const std::string& name,
                          const std::shared_ptr<torch::jit::CompilationUnit>& cu) {
  torch::jit::Module jm(c10::QualifiedName("__torch__.seqtorch." + name), cu, /*shouldMangle=*/true);
  for (const auto& p : m.named_parameters(/*recurse=*/false))
    jm.register_parameter(p.key(), p.value(), /*is_buffer=*/false);
  for (const auto& b : m.named_buffers(/*recurse=*/false)) jm.register_buffer(b.key(), b.value());
  jm.register_attribute("training", c10::BoolType::get(), false);
  for (const auto& c : m.named_children())
    jm.register_module(c.key(), mirror(*c.value(), name + "_" + c.key(), cu));
  return jm;
}
}  // namespace

torch::jit::Module mirror_module(const torch::nn::Module& module, const std::string& name) {
  return mirror(module, name, std::make_shared<torch::jit::CompilationUnit>());
}

void add_traced_method(torch::jit::Module& target, const std::string& name,
                       const std::vector<std::string>& arg_names,
                       const std::vector<torch::Tensor>& examples, const TensorFunction& fn) {
  TORCH_CHECK(arg_names.size() == examples.size(), "export: ", arg_names.size(),
              " argument names for ", examples.size(), " example inputs");
  torch::NoGradGuard no_grad;
  torch::jit::Stack inputs(examples.begin(), examples.end());
  auto traced = [&](torch::jit::Stack in) -> torch::jit::Stack {
    std::vector<torch::Tensor> tensors;
    for (auto& v : in) tensors.push_back(v.toTensor());
    std::vector<torch::Tensor> outs = fn(tensors);
    if (outs.size() == 1) return {outs[0]};
    return {c10::ivalue::Tuple::create(std::vector<c10::IValue>(outs.begin(), outs.end()))};
  };
  auto result = torch::jit::tracer::trace(
      std::move(inputs), traced, [](const torch::autograd::Variable&) { return std::string(); },
      /*strict=*/true, /*force_outplace=*/false, &target, arg_names);
  auto* function = target._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*target.type()->name(), name), result.first->graph);
  target.type()->addMethod(function);
}

void define_utf8_decoder(torch::jit::Module& target) {
  target.define(R"(
def code_points(self, text: str) -> Tuple[List[int], List[str]]:
    cps: List[int] = []
    pieces: List[str] = []
    piece = ""
    cp = 0
    need = 0
    for ch in text:
        b = ord(ch)
        if need > 0:
            piece += ch
            cp = cp * 64 + (b & 63)
            need -= 1
            if need > 0:
                continue
        else:
            piece = ch
            if b >= 240:
                cp = b & 7
                need = 3
                continue
            elif b >= 224:
                cp = b & 15
                need = 2
                continue
            elif b >= 192:
                cp = b & 31
                need = 1
                continue
            else:
                cp = b
        cps.append(cp)
        pieces.append(piece)
    return cps, pieces
)");
}

void save_module(const torch::jit::Module& module, const std::string& path) {
  util::write_atomically(path, [&](std::ostream& out) { module.save(out); });
}

torch::jit::Module load_export(const std::string& path, torch::Device device) {
  TORCH_CHECK(util::path_exists(path), "export ", path, ": no such file");
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, device);
  } catch (const c10::Error& e) {
    const std::string why = e.what_without_backtrace();
    TORCH_CHECK(false, "export ", path, ": cannot be loaded (not a TorchScript archive?): ",
                why.substr(0, why.find('\n')));
  }
  module.eval();
  return module;
}

}  // namespace seqtorch::exporting
