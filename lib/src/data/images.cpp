#include <seqtorch/data/images.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <torch/torch.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <exception>
#include <sstream>
#include <thread>

namespace seqtorch::data {

torch::Tensor decode_image(const std::string& bytes, const std::string& origin) {
  TORCH_CHECK(!bytes.empty(), origin, ": not a readable PNG or JPEG image (empty file)");
  TORCH_CHECK(bytes.size() < (1u << 31), origin, ": image file too large");
  int w = 0, h = 0, channels = 0;
  stbi_uc* pixels = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                          static_cast<int>(bytes.size()), &w, &h, &channels, 3);
  if (pixels == nullptr) {
    const char* reason = stbi_failure_reason();
    TORCH_CHECK(false, origin, ": not a readable PNG or JPEG image (", reason ? reason : "unknown error", ")");
  }
  auto hwc = torch::from_blob(pixels, {h, w, 3}, torch::kUInt8).clone();
  stbi_image_free(pixels);
  return hwc.permute({2, 0, 1}).contiguous();
}

torch::Tensor read_image(const std::string& path) { return decode_image(util::read_file(path), path); }

torch::Tensor resize_image(const torch::Tensor& image, int64_t size) {
  TORCH_CHECK(size >= 1, "image size: expected >= 1, got ", size);
  TORCH_CHECK((image.dim() == 3 || image.dim() == 4) && image.size(-3) == 3 && image.size(-1) >= 1 && image.size(-2) >= 1,
              "resize_image: expected [3, H, W] or [B, 3, H, W], got ", image.sizes());
  const bool single = image.dim() == 3;
  auto x = (single ? image.unsqueeze(0) : image).to(torch::kFloat);
  if (x.size(2) != size || x.size(3) != size) {
    if (x.size(2) >= size && x.size(3) >= size) {
      x = torch::adaptive_avg_pool2d(x, {size, size});
    } else {
      x = torch::nn::functional::interpolate(
          x, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{size, size})
                 .mode(torch::kBilinear).align_corners(false));
    }
  }
  // Half up (floor(x + 0.5)), not torch::round: the export repeats this in TorchScript, and the
  // CPU fuser of Debian 13's PyTorch 2.6 miscompiles round in a fused chain (zeros from the
  // second call on).
  x = torch::floor(x + 0.5).clamp(0, 255).to(torch::kUInt8);
  return single ? x.squeeze(0) : x;
}

namespace {

// [H, W, C] uint8 contiguous on the CPU.
torch::Tensor to_hwc(const torch::Tensor& image) {
  TORCH_CHECK(image.scalar_type() == torch::kUInt8, "image writing: expected uint8 pixels, got ", image.scalar_type());
  if (image.dim() == 2) return image.unsqueeze(2).cpu().contiguous();
  TORCH_CHECK(image.dim() == 3, "image writing: expected [3, H, W], [H, W, 3] or [H, W], got ", image.sizes());
  if (image.size(0) == 3 && image.size(2) != 3) return image.permute({1, 2, 0}).cpu().contiguous();
  TORCH_CHECK(image.size(2) == 3 || image.size(2) == 1, "image writing: expected [3, H, W], [H, W, 3] or [H, W], got ", image.sizes());
  return image.cpu().contiguous();
}

void append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

}  // namespace

std::string encode_png(const torch::Tensor& image) {
  const auto hwc = to_hwc(image);
  std::string out;
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1)), c = static_cast<int>(hwc.size(2));
  TORCH_CHECK(stbi_write_png_to_func(append, &out, w, h, c, hwc.data_ptr<uint8_t>(), w * c) != 0, "PNG encoding failed");
  return out;
}

std::string encode_jpeg(const torch::Tensor& image, int quality) {
  const auto hwc = to_hwc(image);
  std::string out;
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1)), c = static_cast<int>(hwc.size(2));
  TORCH_CHECK(stbi_write_jpg_to_func(append, &out, w, h, c, hwc.data_ptr<uint8_t>(), quality) != 0, "JPEG encoding failed");
  return out;
}

void write_image(const std::string& path, const torch::Tensor& image) {
  std::string lower = path;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  const auto ends = [&](const std::string& s) { return lower.size() >= s.size() && lower.compare(lower.size() - s.size(), s.size(), s) == 0; };
  util::write_file_atomically(path, ends(".jpg") || ends(".jpeg") ? encode_jpeg(image) : encode_png(image));
}

torch::Tensor read_images(const std::vector<std::string>& paths, int64_t size, int threads) {
  const auto n = static_cast<int64_t>(paths.size());
  auto out = torch::empty({n, 3, size, size}, torch::kUInt8);
  if (n == 0) return out;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<int64_t>(threads, n));
  std::atomic<int64_t> next{0};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  auto work = [&] {
    // One image at a time on each worker, its torch ops single-threaded (OpenMP's thread count
    // is per thread: the caller's is restored below).
    torch::set_num_threads(1);
    for (int64_t i = next++; i < n; i = next++) {
      try {
        out[i].copy_(resize_image(read_image(paths[static_cast<size_t>(i)]), size));
      } catch (...) {
        errors[static_cast<size_t>(i)] = std::current_exception();
      }
    }
  };
  const int intra = torch::get_num_threads();
  torch::set_num_threads(1);
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  torch::set_num_threads(intra);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

}  // namespace seqtorch::data
