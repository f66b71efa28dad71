#pragma once
// TorchScript export of the character language model, vocabulary inside. Methods:
//   forward(tokens: Tensor, state: List[Tensor]) -> Tuple[Tensor, List[Tensor]]
//       tokens [T, B] int64 ids; state [h, c] ([L, B, H] each; c unused by RNN and GRU), or []
//       for zeros; returns logits [T, B, V] and the new [h, c]
//   encode(text: str) -> List[int]           ids (unknown symbols -> 0)
//   decode(ids: List[int]) -> str
//   generate(prime: str, length: int, temperature: float, seed: int) -> str
//       the whole generation in TorchScript: greedy at temperature 0 (the same text as
//       `seqtorch-textgen sample --temperature 0`), else decode::Sampler's steps in TorchScript
//       (the same seed draws the same text as `sample --temperature T --seed S`, but where the
//       traced and the C++ logits round a draw across a token boundary)
// Attributes: `id_to_symbol` (List[str]), `symbol_to_id` (Dict[int, int], code point -> id).
// Byte-level models (--bytes) export forward only.
#include <seqtorch/textgen/char_model.h>

#include <torch/script.h>


namespace seqtorch::exporting {

torch::jit::Module script_char_model(textgen::CharModel& model);
void export_char_model(textgen::CharModel& model, const std::string& path);

}  // namespace seqtorch::exporting
