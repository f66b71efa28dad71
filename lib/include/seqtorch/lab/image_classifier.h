#pragma once
// Training and testing an image classifier (nn/rcnn.h: the RCNN or its plain-CNN twin) on a
// labelled image set, for the seed note's §8.2 comparison.
#include <seqtorch/data/labelled_images.h>
#include <seqtorch/nn/rcnn.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace seqtorch::lab {

/// How a classifier is trained.
struct ImageTrainingOptions {
  /// Passes over the training images; images per Adam step; learning rate; L2 weight decay.
  int64_t epochs = 10;
  int64_t batch_size = 64;
  double lr = 2e-3;
  double weight_decay = 1e-4;
  /// Random shifts of up to this many pixels (zero padding) while training (0: none).
  int64_t shift = 1;
  /// Seeds the initial weights, the batch order, dropout and the shifts.
  uint64_t seed = 1;
};

/// What a run gives.
struct ImageRunResult {
  /// Accuracy on the test images of the model after the last epoch.
  double test_accuracy = 0;
  /// Mean training loss of the last epoch.
  double train_loss = 0;
  int64_t parameters = 0;
  /// Wall time, seconds; training images per second.
  double seconds = 0, images_per_s = 0;
};

/// Trains a new RCNN(model) on split.train on the CPU and tests it on split.test. Deterministic
/// for given inputs and thread count. Draws dropout from torch's global generator (seeded here), so
/// it must not run beside other code that draws from it.
ImageRunResult run_image_classifier(const nn::RCNNOptions& model, const data::LabelledSplit& split,
                                    const ImageTrainingOptions& options);

/// Accuracy of `model` on `images`, in eval mode, in batches of `batch_size`.
double classification_accuracy(nn::RCNN& model, const data::LabelledImages& images,
                               int64_t batch_size = 256);

/// A data set ready for the comparison, with the model shape and training that suit it.
struct ImageBenchmark {
  std::string name;
  data::LabelledSplit split;
  /// RCNN options for its images (recurrent on; the CNN twin sets recurrent off).
  nn::RCNNOptions model{1, 10};
  ImageTrainingOptions training;
};

/// The data sets the comparison knows, read from `dir`:
///   digits         DIR/digits.csv.gz (or .csv, or an installed python3-sklearn's copy):
///                  scikit-learn's 1,797 8x8 digits, a random 25%
///                  test part (drawn from split_seed); 3x3 stem, 2 blocks (8x8, 4x4); 20 epochs.
///   fashion-mnist  DIR/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (or
///                  /usr/share/datasets/fashion-mnist, where dataset-fashion-mnist puts them):
///                  its 60,000 / 10,000 split, 28x28; 5x5 stem with a pool, 2 blocks (14x14,
///                  7x7); 5 epochs.
/// `train_limit` > 0 keeps that many training images (a random subset from split_seed); likewise
/// `test_limit`. Throws naming the files it looked for when they are missing.
ImageBenchmark load_image_benchmark(const std::string& name, const std::string& dir,
                                    int64_t train_limit, int64_t test_limit, uint64_t split_seed);
/// "digits", "fashion-mnist".
std::vector<std::string> image_benchmark_names();

/// One model on one data set over several seeds.
struct ImageComparisonRow {
  std::string dataset, model;
  int64_t parameters = 0;
  std::vector<uint64_t> seeds;
  std::vector<double> accuracies;
  /// Mean wall time of a run, seconds.
  double seconds = 0;
};

/// Trains bench.model as the RCNN and as its CNN twin (recurrent off), once per seed (the
/// training seed; the data split is the benchmark's), and tests each: rows "rcnn" then "cnn".
/// `on_run`, when given, hears every run as it ends (model name, seed, result).
std::vector<ImageComparisonRow> compare_rcnn_and_cnn(
    const ImageBenchmark& bench, const std::vector<uint64_t>& seeds,
    const std::function<void(const std::string&, uint64_t, const ImageRunResult&)>& on_run = {});

/// Text table: dataset, model, parameters, mean and sample standard deviation of the test
/// accuracy, min and max, runs, seconds per run.
std::string image_comparison_table(const std::vector<ImageComparisonRow>& rows);
/// JSON array, one object per row: dataset, model, parameters, seeds, accuracies, mean, std,
/// min, max, seconds.
std::string image_comparison_json(const std::vector<ImageComparisonRow>& rows);

}  // namespace seqtorch::lab
