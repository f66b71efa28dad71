#pragma once
// Caption metrics as the COCO caption evaluation code (pycocoevalcap) computes them, on
// data::caption_words tokens (lower-cased, punctuation removed, as its PTB tokenizer leaves them):
//   BLEU-1..4  corpus level, clipped n-gram counts against all references of each image, the
//              brevity penalty against the closest reference length (the shorter on a tie)
//   CIDEr-D    tf-idf weighted n-grams (n = 1..4, document frequencies over the evaluated
//              references), clipped, with the Gaussian length penalty (sigma 6), x10
#include <string>
#include <vector>

namespace seqtorch::metrics {

struct CaptionScores {
  /// bleu[n-1] = BLEU-n in [0, 1].
  double bleu[4] = {0, 0, 0, 0};
  double cider = 0;
};

/// Scores `hypotheses` (one caption per image) against `references` (the captions of each image).
/// Throws when the sizes differ or an image has no reference.
CaptionScores score_captions(const std::vector<std::string>& hypotheses,
                             const std::vector<std::vector<std::string>>& references);

}  // namespace seqtorch::metrics
