#include <seqtorch/export/textgen_export.h>
#include <seqtorch/export/script_module.h>

#include <torch/torch.h>

namespace seqtorch::exporting {

torch::jit::Module script_char_model(textgen::CharModel& model) {
  model->eval();
  const auto& o = model->options;
  auto jm = mirror_module(*model, "CharModel");
  const auto opts = model->head_bias.options();
  // Examples: 3 steps of 2 streams; the graph stays generic in T and B.
  const auto tokens = torch::randint(o.vocab_size(), {3, 2}, torch::kLong);
  const auto h = torch::zeros({o.num_layers(), 2, o.hidden_size()}, opts);
  const bool lstm = o.cell() == nn::CellKind::lstm;
  add_traced_method(jm, "step", {"tokens", "h", "c"}, {tokens, h, h.clone()},
                    [&](const std::vector<torch::Tensor>& in) {
                      auto out = model->forward(in[0], {in[1], lstm ? in[2] : torch::Tensor()});
                      return std::vector<torch::Tensor>{out.logits, out.state.h, lstm ? out.state.c : in[2]};
                    });
  const auto vocab = model->vocabulary();
  const bool bytes = vocab.unit() == data::Vocabulary::Unit::byte;
  c10::List<std::string> symbols;
  c10::Dict<int64_t, int64_t> ids;
  symbols.push_back(bytes ? "?" : "\xEF\xBF\xBD");
  for (int64_t i = 1; i < vocab.size(); ++i) {
    symbols.push_back(vocab.decode({i}));
    ids.insert(vocab.table()[i - 1].item<int64_t>(), i);
  }
  jm.register_attribute("id_to_symbol", c10::ListType::ofStrings(), symbols);
  jm.register_attribute("symbol_to_id", c10::DictType::create(c10::IntType::get(), c10::IntType::get()), ids);
  jm.register_attribute("num_layers", c10::IntType::get(), o.num_layers());
  jm.register_attribute("hidden_size", c10::IntType::get(), o.hidden_size());
  jm.define(R"(
def zero_state(self, tokens: Tensor) -> Tensor:
    return self.head_bias.new_zeros([self.num_layers, tokens.size(1), self.hidden_size])

def forward(self, tokens: Tensor, state: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
    if len(state) == 0:
        z = self.zero_state(tokens)
        state = [z, z]
    if len(state) == 1:
        state = [state[0], state[0]]
    out = self.step(tokens, state[0], state[1])
    return out[0], [out[1], out[2]]

def decode(self, ids: List[int]) -> str:
    text = ""
    for i in ids:
        text += self.id_to_symbol[i]
    return text
)");
  if (bytes) return jm;
  define_utf8_decoder(jm);
  jm.define(R"(
def encode(self, text: str) -> List[int]:
    ids: List[int] = []
    for cp in self.code_points(text)[0]:
        if cp in self.symbol_to_id:
            ids.append(self.symbol_to_id[cp])
        else:
            ids.append(0)
    return ids

def generate(self, prime: str, length: int, temperature: float, seed: int) -> str:
    # decode::Sampler's steps: a splitmix64 stream (64-bit wrapping arithmetic; >> made logical
    # by masking), weights exp(logits / T - max) summed in id order, an inverse-CDF draw.
    ids = self.encode(prime)
    if len(ids) == 0:
        ids = [0]
    out = self.forward(torch.tensor(ids).unsqueeze(1), [])
    logits = out[0][-1, 0]
    state = out[1]
    rng = seed * -7046029254386353131 + 7146057691288625177
    text = ""
    for k in range(length):
        if temperature <= 0.0:
            nxt = int(torch.argmax(logits))
        else:
            x = logits.double() / temperature
            acc = torch.cumsum(torch.exp(x - torch.max(x)), 0)
            rng = rng - 7046029254386353131
            z = rng
            z = (z ^ ((z >> 30) & 17179869183)) * -4658895280553007687
            z = (z ^ ((z >> 27) & 137438953471)) * -7723592293110705685
            z = z ^ ((z >> 31) & 8589934591)
            u = float((z >> 11) & 9007199254740991) * 1.1102230246251565e-16 * float(acc[-1])
            nxt = int((acc <= u).sum())
            if nxt >= acc.size(0):
                nxt = acc.size(0) - 1
        text += self.id_to_symbol[nxt]
        step = self.forward(torch.tensor([[nxt]]), state)
        logits = step[0][0, 0]
        state = step[1]
    return text
)");
  return jm;
}

void export_char_model(textgen::CharModel& model, const std::string& path) {
  save_module(script_char_model(model), path);
}

}  // namespace seqtorch::exporting
