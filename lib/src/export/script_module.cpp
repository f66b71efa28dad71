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

void define_beam_search(torch::jit::Module& target) {
  target.define(R"(
def penalty(self, length: int) -> float:
    if self.length_penalty == 0.0:
        return 1.0
    return ((5.0 + float(length)) / 6.0) ** self.length_penalty

def search(self, lp, h, c, feed, values, keys, mask, beam: int, max_len: int) -> List[int]:
    if beam == 1:
        tokens: List[int] = []
        for length in range(max_len):
            nxt = int(torch.argmax(lp[0]))
            tokens.append(nxt)
            if nxt == 3 or length + 1 >= max_len:
                break
            out = self.decode_step(torch.tensor([nxt]), h, c, feed, values, keys, mask)
            lp = out[0]
            h = out[1]
            c = out[2]
            feed = out[3]
        return tokens
    K = beam
    V = lp.size(1)
    rows = torch.zeros([K]).long()
    h = h.index_select(1, rows)
    c = c.index_select(1, rows)
    feed = feed.index_select(0, rows)
    values = values.index_select(0, rows)
    keys = keys.index_select(0, rows)
    mask = mask.index_select(0, rows)
    lp = lp.index_select(0, rows)
    neg_inf = float("-inf")
    cum: List[float] = [0.0]
    for k in range(1, K):
        cum.append(neg_inf)
    history: List[List[int]] = []
    for k in range(K):
        empty: List[int] = []
        history.append(empty)
    best: List[int] = []
    best_score = neg_inf
    ended = 0
    for length in range(1, max_len + 1):
        base = lp.new_zeros([K]).double()
        for k in range(K):
            base[k] = cum[k]
        total = (base.unsqueeze(1) + lp.double()).view(-1)
        C = 2 * K
        if C > K * V:
            C = K * V
        top = total.topk(C)
        parents: List[int] = []
        tokens: List[int] = []
        next_cum: List[float] = []
        for j in range(C):
            v = float(top[0][j])
            if v == neg_inf:
                break
            flat = int(top[1][j])
            row = flat // V
            tok = flat % V
            if tok == 3:
                if j < K:
                    ended += 1
                    score = v / self.penalty(length)
                    if score > best_score:
                        best_score = score
                        best = history[row] + [tok]
            elif len(parents) < K:
                parents.append(row)
                tokens.append(tok)
                next_cum.append(v)
        picked = len(parents)
        if length >= max_len:
            for k in range(picked):
                score = next_cum[k] / self.penalty(length)
                if score > best_score:
                    best_score = score
                    best = history[parents[k]] + [tokens[k]]
            break
        if picked == 0:
            break
        if ended >= 1 and next_cum[0] / self.penalty(length) <= best_score:
            break
        while len(parents) < K:
            parents.append(0)
            tokens.append(0)
            next_cum.append(neg_inf)
        new_history: List[List[int]] = []
        for k in range(K):
            new_history.append(history[parents[k]] + [tokens[k]])
        history = new_history
        cum = next_cum
        index = torch.tensor(parents)
        out = self.decode_step(torch.tensor(tokens), h.index_select(1, index),
                               c.index_select(1, index), feed.index_select(0, index), values, keys, mask)
        lp = out[0]
        h = out[1]
        c = out[2]
        feed = out[3]
    return best
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
