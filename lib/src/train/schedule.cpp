#include <seqtorch/train/schedule.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>

namespace seqtorch::train {

std::string to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::step: return "step";
    case ScheduleKind::exponential: return "exponential";
    case ScheduleKind::cosine: return "cosine";
    case ScheduleKind::plateau: return "plateau";
  }
  return "?";
}

ScheduleKind parse_schedule_kind(const std::string& name) {
  for (auto k : {ScheduleKind::constant, ScheduleKind::step, ScheduleKind::exponential,
                 ScheduleKind::cosine, ScheduleKind::plateau})
    if (name == to_string(k)) return k;
  TORCH_CHECK(false, "schedule: expected constant, step, exponential, cosine or plateau, got '",
              name, "'");
}

LrSchedule::LrSchedule(double base_lr, const ScheduleOptions& o) : base_(base_lr), options_(o) {
  TORCH_CHECK(base_lr >= 0, "schedule: lr: expected >= 0, got ", base_lr);
  TORCH_CHECK(o.warmup_steps >= 0, "schedule: warmup_steps: expected >= 0, got ", o.warmup_steps);
  TORCH_CHECK(o.kind != ScheduleKind::step || o.step_size > 0,
              "schedule: step_size: expected > 0, got ", o.step_size);
  TORCH_CHECK(o.gamma > 0 && o.gamma <= 1, "schedule: gamma: expected in (0, 1], got ", o.gamma);
  TORCH_CHECK(o.kind != ScheduleKind::cosine || o.total_steps > o.warmup_steps,
              "schedule: total_steps: cosine needs total_steps > warmup_steps = ", o.warmup_steps,
              ", got ", o.total_steps);
  TORCH_CHECK(o.factor > 0 && o.factor < 1, "schedule: factor: expected in (0, 1), got ", o.factor);
  TORCH_CHECK(o.patience >= 0, "schedule: patience: expected >= 0, got ", o.patience);
}

double LrSchedule::lr(int64_t step) const {
  const auto& o = options_;
  double rate = base_;
  switch (o.kind) {
    case ScheduleKind::constant: break;
    case ScheduleKind::step: rate *= std::pow(o.gamma, static_cast<double>(step / o.step_size)); break;
    case ScheduleKind::exponential: rate *= std::pow(o.gamma, static_cast<double>(step)); break;
    case ScheduleKind::cosine: {
      const double p = std::clamp(static_cast<double>(step - o.warmup_steps) /
                                       static_cast<double>(o.total_steps - o.warmup_steps),
                                   0.0, 1.0);
      rate = o.min_lr + (base_ - o.min_lr) * 0.5 * (1.0 + std::cos(M_PI * p));
      break;
    }
    case ScheduleKind::plateau: rate = std::max(o.min_lr, base_ * scale_); break;
  }
  if (step < o.warmup_steps)
    rate *= static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  return rate;
}

void LrSchedule::observe(double metric) {
  if (options_.kind != ScheduleKind::plateau || !std::isfinite(metric)) return;
  const double margin = options_.threshold * std::abs(best_);
  const bool better = std::isnan(best_) || (options_.lower_is_better ? metric < best_ - margin
                                                                     : metric > best_ + margin);
  if (better) {
    best_ = metric;
    bad_ = 0;
  } else if (++bad_ > options_.patience) {
    scale_ *= options_.factor;
    bad_ = 0;
  }
}

std::vector<double> LrSchedule::state() const {
  return {scale_, best_, static_cast<double>(bad_)};
}

void LrSchedule::load_state(const std::vector<double>& s) {
  TORCH_CHECK(s.size() == 3, "schedule state: expected 3 numbers, got ", s.size());
  scale_ = s[0];
  best_ = s[1];
  bad_ = static_cast<int64_t>(s[2]);
}

}  // namespace seqtorch::train
