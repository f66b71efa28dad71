#pragma once
// Images for seqtorch-caption: PNG and JPEG (grey or colour, any size) read with stb_image into
// uint8 tensors [3, H, W] (grey replicated to three channels, alpha dropped), resized the one way
// training, describe and the TorchScript export all share, and PNG writing (attention maps, the
// built-in scenes).
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seqtorch::data {

/// The image in `path` as uint8 [3, H, W]. Throws one line naming the file: "PATH: cannot be
/// read", "PATH: not a readable PNG or JPEG image (REASON)" (also for truncated files).
torch::Tensor read_image(const std::string& path);
/// The image encoded in `bytes` (PNG, JPEG, ...); `origin` names it in errors.
torch::Tensor decode_image(const std::string& bytes, const std::string& origin);

/// images uint8 [3, H, W] or [B, 3, H, W] (or float in [0, 255]) resized to size x size, as
/// uint8: area averaging when shrinking, bilinear (align_corners false) when growing, each axis
/// on its own; values rounded half up. exporting::script_caption_model repeats it in TorchScript.
torch::Tensor resize_image(const torch::Tensor& image, int64_t size);

/// Encodes uint8 [3, H, W] or [H, W, 3] (or [H, W] grey) as PNG / JPEG bytes.
std::string encode_png(const torch::Tensor& image);
std::string encode_jpeg(const torch::Tensor& image, int quality = 90);
/// Writes the PNG (or, for a path ending in .jpg/.jpeg, JPEG) file atomically.
void write_image(const std::string& path, const torch::Tensor& image);

/// Reads `paths` on `threads` worker threads (0: the machine's cores), each resized to
/// size x size: uint8 [N, 3, size, size]. The first failure (in path order) is rethrown.
torch::Tensor read_images(const std::vector<std::string>& paths, int64_t size, int threads = 0);

}  // namespace seqtorch::data
