#pragma once
// Image-caption data sets in the COCO captions format, and the built-in scenes generator.
//   COCO:     {"images": [{"id", "file_name", ...}], "annotations": [{"image_id", "caption", ...}]}
//   Karpathy: {"images": [{"filename" (and "filepath"), "split", "sentences": [{"raw"}], ...}]}
//             (dataset_coco.json and friends); `split` picks train | val | test (restval counts
//             as train)
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace seqtorch::data {

/// An object drawn in a built-in scene (kept in the JSON for measuring where attention lands).
struct SceneObject {
  std::string shape, color, size;
  /// Bounding box in pixels: x, y (top left), width, height.
  int64_t x = 0, y = 0, width = 0, height = 0;
};

struct CaptionedImage {
  int64_t id = 0;
  /// The image file, relative to the image folder (or absolute).
  std::string file;
  std::vector<std::string> captions;
  /// Built-in scenes only.
  std::vector<SceneObject> objects;
};

struct CaptionDataset {
  std::vector<CaptionedImage> images;
  /// Captions in all.
  size_t caption_count() const;
};

/// Parses COCO-captions (or Karpathy split) JSON `text`; `origin` names the file in errors.
/// `split` (Karpathy only): train | val | test | all. Images without captions are dropped.
/// Throws one line naming the file for: invalid JSON, a missing or mistyped key ("origin: not
/// COCO captions JSON: images[3] has no 'file_name'"), an annotation of an unknown image id, an
/// empty caption, duplicate image ids, no captioned image at all.
CaptionDataset parse_caption_json(const std::string& text, const std::string& origin, const std::string& split = "all");
/// Reads the file ("PATH: cannot be read") and parses it.
CaptionDataset read_caption_json(const std::string& path, const std::string& split = "all");
/// Writes COCO captions JSON (built-in scenes' objects included), atomically.
void write_caption_json(const std::string& path, const CaptionDataset& data);

/// Splits `data` (its images shuffled with `seed`) into training and held-out images: the held-out
/// part is `fraction` of them, at least 1 and at most `max_held_out`. Throws for fewer than 2
/// images or a fraction outside (0, 1).
std::pair<CaptionDataset, CaptionDataset> hold_out(CaptionDataset data, double fraction, size_t max_held_out, uint64_t seed);

/// The path of `image` in `image_dir` (its file as is when absolute or image_dir is empty).
std::string image_path(const std::string& image_dir, const CaptionedImage& image);
/// Throws "DIR/FILE: image file missing (image id N of JSON)" for the first image whose file does
/// not exist.
void check_image_files(const CaptionDataset& data, const std::string& image_dir, const std::string& json);

/// Caption words: lower-cased ASCII letters, digits and apostrophes (other bytes of UTF-8 kept as
/// they are), everything else a separator; so "A red ball, on grass." -> a red ball on grass.
std::vector<std::string> caption_words(const std::string& caption);

/// The built-in scenes: `count` images of size x size pixels with one or two shapes (circle,
/// square, triangle) in one of six colours, small or large, placed left/right/top/bottom/centre,
/// each with five captions in different phrasings. Deterministic in `seed`.
CaptionDataset generate_scenes(int64_t count, int64_t size, uint64_t seed);
/// Writes scenes into `out_dir`: images/NNNNNN.png (every fifth a JPEG), captions_train.json,
/// captions_val.json, captions_test.json (80/10/10 %) and captions_all.json. Returns the number
/// of images.
int64_t write_scenes(const std::string& out_dir, int64_t count, int64_t size, uint64_t seed);

}  // namespace seqtorch::data
