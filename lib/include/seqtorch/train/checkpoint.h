#pragma once
// Checkpoints: model, optimiser, schedule, RNG state, progress, best metric and the effective
// configuration in one file, written atomically. Loading checks the file before touching the
// model: a truncated or corrupted file, another app's checkpoint, or a model of other sizes or
// another cell fails with one line naming the file and the mismatch.
//
// The file (format 2): a short text header, then torch's archive (a zip) of everything:
//   seqtorch-checkpoint 2\n
//   bytes N\n          the archive's length
//   crc32 XXXXXXXX\n   its CRC-32 (zlib's), 8 lower-case hex digits
//   \n
//   N bytes of archive
// so any changed, missing or added byte is found before torch reads anything. Files of format 1
// (the bare archive, from before the header) still load, unchecked.
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace seqtorch::train {

/// Everything in a checkpoint besides the tensors of model and optimiser.
struct CheckpointInfo {
  /// Which app wrote it ("forecast", "textgen", ...; "test" in tests).
  std::string app;
  /// The effective configuration (INI text), so a run can be repeated or resumed.
  std::string config;
  /// Epochs completed and optimiser steps taken.
  int64_t epoch = 0, step = 0;
  /// Micro-batches of the current epoch already consumed (non-zero for a mid-epoch save).
  int64_t batch_in_epoch = 0;
  /// Best validation metric so far and evaluations since it improved.
  double best_metric = std::numeric_limits<double>::quiet_NaN();
  int64_t evals_without_gain = 0;
  /// Steps skipped so far for a non-finite loss or gradient (0 in checkpoints from before it).
  int64_t skipped_steps = 0;
  /// Schedule state (LrSchedule::state()).
  std::vector<double> schedule_state;
};

/// The archive inside checkpoint file `bytes` (read from `path`, which names it in errors),
/// checked against the header's length and CRC-32; a bare archive of format 1 is returned
/// whole. Throws one line for anything else: not a checkpoint, a newer format, a malformed
/// header, a truncated file, extra bytes, a checksum that does not match.
std::string checkpoint_archive(const std::string& bytes, const std::string& path);
/// The header and `archive`, as save_checkpoint writes them.
std::string checkpoint_file(const std::string& archive);
/// The checked archive of the checkpoint at `path`, opened with every tensor on the CPU.
torch::serialize::InputArchive open_checkpoint(const std::string& path);

/// Writes `path` atomically. `optimizer` may be null (weights-only checkpoints, e.g. best.pt
/// copies). Stores the default CPU generator's state and, where CUDA is present, that of every
/// CUDA device.
void save_checkpoint(const std::string& path, const CheckpointInfo& info,
                     const torch::nn::Module& model, const torch::optim::Optimizer* optimizer);

/// Reads only the information part (to learn the app and configuration before building the model).
/// `expected_app` non-empty: fails unless that app wrote it.
CheckpointInfo read_checkpoint_info(const std::string& path,
                                    const std::string& expected_app = "");

/// Loads `path` into `model` (and `optimizer` if non-null; restores the CPU and CUDA generator
/// states too when restore_rng). `expected_app` empty accepts any app. Validates everything
/// first. Device rule: the file is read onto the CPU whatever device wrote it, then the model
/// (and the optimizer's state) moves to the device the model was on before the call, so a CUDA
/// run's checkpoint loads on a CPU-only machine and the other way round.
CheckpointInfo load_checkpoint(const std::string& path, const std::string& expected_app,
                               torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                               bool restore_rng);

}  // namespace seqtorch::train
