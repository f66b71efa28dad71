#pragma once
// Time series for forecasting: columns chosen from a CSV, missing values filled or refused,
// chronological splits, scalers fitted on the training part only, windows.
// Shapes: N time steps, C target channels, K covariates, L window, H horizon.
#include <seqtorch/data/csv.h>

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seqtorch::data {

/// How to treat empty or non-numeric cells in the chosen columns.
enum class FillMethod { none, linear, ffill };
std::string to_string(FillMethod f);
FillMethod parse_fill_method(const std::string& name);

/// A multivariate series.
struct Series {
  /// Target names then covariate names.
  std::vector<std::string> names;
  /// How many of the leading columns are targets (C); the rest are covariates (K).
  int64_t targets = 0;
  /// [N, C+K] float64.
  torch::Tensor values;
  /// The time column's text per step (empty when no time column was named).
  std::vector<std::string> time;
};

/// Takes target and covariate columns (and an optional time column) from `table`. An empty or
/// non-numeric cell fails with file:line:column unless `fill` is linear (interpolation) or
/// ffill (last value); missing values at the very start take the first value present.
Series select_series(const CsvTable& table, const std::vector<std::string>& targets,
                     const std::vector<std::string>& covariates, const std::string& time_column,
                     FillMethod fill);

/// Lengths of the chronological parts: train, then validation, then test.
struct SplitSizes {
  int64_t train = 0, val = 0, test = 0;
};
/// val = round(N * val_fraction), test = round(N * test_fraction), train = the rest. Throws if a
/// fraction is outside [0, 1) or train would be empty.
SplitSizes split_sizes(int64_t n, double val_fraction, double test_fraction);

enum class ScalerKind { standard, minmax, none };
std::string to_string(ScalerKind k);
ScalerKind parse_scaler_kind(const std::string& name);

/// Per-column affine scaling: scaled = (x - shift) / scale.
struct Scaler {
  /// [C+K] each.
  torch::Tensor shift, scale;
  /// Fits on `values` [n, C+K] (the training part only): standard (mean, std), minmax (min,
  /// max - min), none (0, 1). A constant column gets scale 1.
  static Scaler fit(ScalerKind kind, const torch::Tensor& values);
  torch::Tensor transform(const torch::Tensor& x) const;
  torch::Tensor inverse(const torch::Tensor& x) const;
};

/// The built-in series (`seqtorch-forecast` with no --data): 2016 hourly steps (12 weeks) with
/// columns `hour`, `load` (level 100, trend 0.01 per hour, daily and weekly seasonality of
/// amplitudes 10 and 5, Gaussian noise of sd 1) and `price` (a Gaussian random walk from 50,
/// sd 0.5 per step). Fixed seed: the same numbers everywhere. As CSV text with a header.
std::string builtin_series_csv();

}  // namespace seqtorch::data
