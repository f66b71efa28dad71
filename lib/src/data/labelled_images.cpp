#include <seqtorch/data/labelled_images.h>

#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace seqtorch::data {

namespace {

// The whole file, decompressed when it is gzip (zlib passes plain files through unchanged).
std::string read_gzip_or_plain(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  TORCH_CHECK(f != nullptr, path, ": cannot open: ", std::strerror(errno));
  std::string out;
  std::vector<char> buf(1 << 16);
  for (;;) {
    const int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int code = 0;
      const std::string what = gzerror(f, &code);
      gzclose(f);
      TORCH_CHECK(false, path, ": cannot read: ", code == Z_ERRNO ? std::strerror(errno) : what);
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  gzclose(f);
  return out;
}

uint32_t big_endian(const std::string& bytes, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + at;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

int64_t classes_of(const torch::Tensor& labels) {
  return labels.numel() == 0 ? 2 : std::max<int64_t>(2, labels.max().item<int64_t>() + 1);
}

}  // namespace

LabelledImages read_digits_csv(const std::string& path) {
  const std::string text = read_gzip_or_plain(path);
  std::vector<float> pixels;
  std::vector<int64_t> labels;
  size_t pos = 0;
  int64_t line = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line;
    std::string row = text.substr(pos, end - pos);
    pos = end + 1;
    if (!row.empty() && row.back() == '\r') row.pop_back();
    if (row.empty()) continue;
    int64_t column = 0;
    size_t cell_start = 0;
    while (cell_start <= row.size()) {
      size_t comma = row.find(',', cell_start);
      if (comma == std::string::npos) comma = row.size();
      ++column;
      const std::string cell = row.substr(cell_start, comma - cell_start);
      char* stop = nullptr;
      const double v = cell.empty() ? -1 : std::strtod(cell.c_str(), &stop);
      const bool number = !cell.empty() && stop == cell.c_str() + cell.size();
      TORCH_CHECK(column <= 65, path, ":", line, ": expected 65 values (64 pixels and the class), got more");
      if (column <= 64) {
        TORCH_CHECK(number && v >= 0 && v <= 16, path, ":", line, ":", column,
                    ": expected a grey level 0..16, got '", cell.substr(0, 40), "'");
        pixels.push_back(static_cast<float>(v / 16.0));
      } else {
        TORCH_CHECK(number && v >= 0 && v <= 9 && v == static_cast<double>(static_cast<int64_t>(v)),
                    path, ":", line, ":", column, ": expected a class 0..9, got '", cell.substr(0, 40), "'");
        labels.push_back(static_cast<int64_t>(v));
      }
      cell_start = comma + 1;
    }
    TORCH_CHECK(column == 65, path, ":", line, ": expected 65 values (64 pixels and the class), got ", column);
  }
  TORCH_CHECK(!labels.empty(), path, ": no images (expected lines of 64 pixels and a class)");
  LabelledImages out;
  const auto n = static_cast<int64_t>(labels.size());
  out.images = torch::from_blob(pixels.data(), {n, 1, 8, 8}, torch::kFloat32).clone();
  out.labels = torch::from_blob(labels.data(), {n}, torch::kLong).clone();
  out.classes = classes_of(out.labels);
  return out;
}

LabelledImages read_idx(const std::string& images_path, const std::string& labels_path) {
  const std::string im = read_gzip_or_plain(images_path);
  const std::string lb = read_gzip_or_plain(labels_path);
  TORCH_CHECK(im.size() >= 16 && big_endian(im, 0) == 2051, images_path,
              ": not an IDX image file (expected the magic number 2051 and a 16-byte header)");
  TORCH_CHECK(lb.size() >= 8 && big_endian(lb, 0) == 2049, labels_path,
              ": not an IDX label file (expected the magic number 2049 and an 8-byte header)");
  const int64_t n = big_endian(im, 4), rows = big_endian(im, 8), cols = big_endian(im, 12);
  TORCH_CHECK(rows >= 1 && cols >= 1 && rows <= 4096 && cols <= 4096, images_path,
              ": image size ", rows, "x", cols, " is not plausible");
  TORCH_CHECK(static_cast<int64_t>(im.size()) - 16 == n * rows * cols, images_path, ": expected ",
              n, " images of ", rows, "x", cols, " (", 16 + n * rows * cols, " bytes), got ", im.size(),
              " bytes (truncated?)");
  const int64_t nl = big_endian(lb, 4);
  TORCH_CHECK(static_cast<int64_t>(lb.size()) - 8 == nl, labels_path, ": expected ", nl,
              " labels (", 8 + nl, " bytes), got ", lb.size(), " bytes (truncated?)");
  TORCH_CHECK(nl == n, labels_path, ": ", nl, " labels for ", n, " images in ", images_path);
  TORCH_CHECK(n >= 1, images_path, ": no images");
  LabelledImages out;
  out.images = torch::from_blob(const_cast<char*>(im.data()) + 16, {n, 1, rows, cols}, torch::kUInt8)
                   .to(torch::kFloat32)
                   .div_(255.0);
  out.labels = torch::from_blob(const_cast<char*>(lb.data()) + 8, {n}, torch::kUInt8).to(torch::kLong);
  out.classes = classes_of(out.labels);
  return out;
}

LabelledSplit split_images(const LabelledImages& images, double test_fraction, uint64_t seed) {
  const int64_t n = images.labels.size(0);
  TORCH_CHECK(test_fraction > 0 && test_fraction < 1, "split_images: test_fraction: expected in (0, 1), got ",
              test_fraction);
  TORCH_CHECK(n >= 2, "split_images: expected at least 2 images, got ", n);
  const int64_t n_test = std::clamp<int64_t>(static_cast<int64_t>(test_fraction * static_cast<double>(n) + 0.5), 1, n - 1);
  auto gen = at::detail::createCPUGenerator(seed);
  torch::Tensor perm = torch::randperm(n, gen, torch::kLong);
  auto take = [&](const torch::Tensor& idx) {
    return LabelledImages{images.images.index_select(0, idx), images.labels.index_select(0, idx), images.classes};
  };
  return {take(perm.narrow(0, n_test, n - n_test)), take(perm.narrow(0, 0, n_test))};
}

LabelledImages subset_images(const LabelledImages& images, int64_t count, uint64_t seed) {
  const int64_t n = images.labels.size(0);
  if (count <= 0 || count >= n) return images;
  auto gen = at::detail::createCPUGenerator(seed);
  torch::Tensor idx = torch::randperm(n, gen, torch::kLong).narrow(0, 0, count);
  return {images.images.index_select(0, idx), images.labels.index_select(0, idx), images.classes};
}

}  // namespace seqtorch::data
