#pragma once
// Learning-rate schedules, evaluated per optimiser step: constant, step, exponential, cosine, and
// reduce-on-plateau, each with an optional linear warm-up.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace seqtorch::train {

enum class ScheduleKind { constant, step, exponential, cosine, plateau };
/// "constant", "step", "exponential", "cosine", "plateau".
std::string to_string(ScheduleKind kind);
/// Parses the names above; throws naming the valid values otherwise.
ScheduleKind parse_schedule_kind(const std::string& name);

/// Options of the schedule. lr(s) for optimiser step s = 0, 1, ...:
///   warm-up   base * (s + 1) / warmup_steps while s < warmup_steps (every kind)
///   constant  base
///   step      base * gamma^floor(s / step_size)
///   exponential base * gamma^s
///   cosine    min_lr + (base - min_lr) * (1 + cos(pi * p)) / 2, p = (s - warmup) / (total - warmup)
///   plateau   base * factor^k, k = how many times the evaluated metric failed to improve by more
///             than `threshold` (relative) for more than `patience` evaluations in a row.
struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::constant;
  /// Linear warm-up steps.
  int64_t warmup_steps = 0;
  /// step: steps between decays.
  int64_t step_size = 1000;
  /// step and exponential: decay factor.
  double gamma = 0.5;
  /// cosine: the step at which the rate reaches min_lr.
  int64_t total_steps = 0;
  /// cosine: final rate; plateau: lowest rate.
  double min_lr = 0.0;
  /// plateau: evaluations without improvement tolerated before a cut.
  int64_t patience = 2;
  /// plateau: multiplier of each cut.
  double factor = 0.5;
  /// plateau: relative improvement that counts.
  double threshold = 1e-4;
  /// plateau: whether a lower metric is better.
  bool lower_is_better = true;
};

/// A schedule over a base rate; plateau state changes through observe() and round-trips through
/// state() for checkpoints.
class LrSchedule {
 public:
  LrSchedule(double base_lr, const ScheduleOptions& options);
  /// The rate for optimiser step `step` (0-based).
  double lr(int64_t step) const;
  /// Reports an evaluation's metric (used by plateau, ignored by the others).
  void observe(double metric);
  /// Plateau state: {scale, best, bad evaluations}.
  std::vector<double> state() const;
  void load_state(const std::vector<double>& state);

 private:
  double base_;
  ScheduleOptions options_;
  double scale_ = 1.0;
  double best_ = std::numeric_limits<double>::quiet_NaN();
  int64_t bad_ = 0;
};

}  // namespace seqtorch::train
