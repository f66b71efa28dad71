#pragma once
// TorchScript export of a translation model, vocabularies and tokenisation inside, runnable from
// Python's torch.jit.load without seqtorch. Methods:
//   translate(text: str, beam: int) -> str
//       the whole translation in TorchScript: tokenisation as seqtorch's (char or word units),
//       greedy decoding at beam 1 (the same text as `seqtorch-translate translate --beam 1`),
//       else beam search as seqtorch's (GNMT length penalty `length_penalty`, at most
//       ceil(max_length_ratio * source tokens) + max_length_offset tokens)
//   encode_source(text: str) -> List[int]        source ids, </s> last
//   encode(source: Tensor [S, 1]) -> (h, c, values, keys, mask)
//   decode_step(tokens [N], h, c, feed, values, keys, mask) -> (log_probs [N, V], h, c, feed,
//       attention [N, S])          (c and feed pass through where the model has none)
// Attributes: source_vocab, target_vocab (List[str]), units ("char" | "word"), and the
// decoding defaults.
#include <seqtorch/translate/model.h>
#include <seqtorch/translate/translator.h>

#include <torch/script.h>

#include <string>

namespace seqtorch::exporting {

torch::jit::Module script_translation_model(translate::TranslationModel& model,
                                            const translate::TranslateOptions& defaults = {});
void export_translation_model(translate::TranslationModel& model, const std::string& path,
                              const translate::TranslateOptions& defaults = {});

}  // namespace seqtorch::exporting
