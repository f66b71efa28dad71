#pragma once
// TorchScript export of a captioning model, CNN (or backbone), decoder and vocabulary inside,
// runnable from Python's torch.jit.load without seqtorch. Methods:
//   describe(image: Tensor, beam: int) -> List[str]
//       image [3, H, W] or [B, 3, H, W] (or [1|B, 1, H, W] grey), uint8 0..255 or float 0..1,
//       any size: resized as seqtorch does (data::resize_image), then captioned greedily (beam 1,
//       the same captions as `seqtorch-caption describe --beam 1`) or with seqtorch's beam search
//   preprocess(image: Tensor) -> Tensor     [B, 3, S, S] float 0..255 (rounded pixels)
//   encode(images [B, 3, S, S]) -> (h, c, values, keys, mask)
//   decode_step(tokens [N], h, c, feed, values, keys, mask) -> (log_probs [N, V], h, c, feed,
//       attention [N, regions])        (feed and mask pass through; the translate export's form)
// Attributes: vocab (List[str]), image_size, max_length, length_penalty.
#include <seqtorch/caption/describer.h>
#include <seqtorch/caption/model.h>

#include <torch/script.h>

#include <string>

namespace seqtorch::exporting {

torch::jit::Module script_caption_model(caption::CaptionModel& model, const caption::DescribeOptions& defaults = {});
void export_caption_model(caption::CaptionModel& model, const std::string& path,
                          const caption::DescribeOptions& defaults = {});

}  // namespace seqtorch::exporting
