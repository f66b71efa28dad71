#pragma once
// Small labelled image sets for classification, as Debian ships them:
//   scikit-learn's 8x8 digits (python3-sklearn: sklearn/datasets/data/digits.csv.gz): 1,797 rows
//     of 64 grey levels 0..16 and the class 0..9 last, comma-separated;
//   IDX files (MNIST's format; dataset-fashion-mnist: /usr/share/datasets/fashion-mnist/
//     {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz): big-endian magic 2051 / 2049, counts,
//     rows, columns, then uint8 pixels / labels.
// Files may be gzip-compressed (read through zlib) or plain. Errors name the file and the place.
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace seqtorch::data {

/// Images with one class each.
struct LabelledImages {
  /// [N, 1, H, W] float32 in [0, 1].
  torch::Tensor images;
  /// [N] int64 in [0, classes).
  torch::Tensor labels;
  /// Number of classes (the largest label + 1, at least 2).
  int64_t classes = 0;
};

/// Reads scikit-learn's digits CSV (see above): 64 values 0..16 then the label, per line.
LabelledImages read_digits_csv(const std::string& path);

/// Reads an IDX image file and its label file (see above); their counts must agree.
LabelledImages read_idx(const std::string& images_path, const std::string& labels_path);

/// A training part and a test part.
struct LabelledSplit {
  LabelledImages train, test;
};

/// A random split with `test_fraction` of the images (at least one each side) in the test part,
/// drawn from `seed`.
LabelledSplit split_images(const LabelledImages& images, double test_fraction, uint64_t seed);

/// The first `count` images of a random permutation drawn from `seed` (all of them when count
/// is 0 or not smaller than N).
LabelledImages subset_images(const LabelledImages& images, int64_t count, uint64_t seed);

}  // namespace seqtorch::data
