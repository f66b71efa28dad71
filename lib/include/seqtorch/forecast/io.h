#pragma once
// Reading the series seqtorch-forecast works on and writing its forecasts.
#include <seqtorch/data/series.h>
#include <seqtorch/forecast/forecaster.h>

#include <string>

namespace seqtorch::forecast {

struct BacktestResult;

/// Where the series comes from and which columns to use.
struct SeriesOptions {
  /// CSV file with a header; empty: the built-in series (data::builtin_series_csv).
  std::string data;
  /// Target columns, comma-separated (quotes allowed around names with commas).
  std::string target = "load";
  /// Covariate columns, comma-separated (may be empty).
  std::string covariates;
  /// Time column kept for output (may be empty).
  std::string time_column = "hour";
  /// Missing or non-numeric cells: none (an error), linear, ffill.
  data::FillMethod fill = data::FillMethod::none;
};

/// Loads the series; errors name file:line:column for bad cells.
data::Series load_series(const SeriesOptions& options);

/// A forecast of H steps after the end of `series` as CSV: a header `step[,time],<target>...`
/// (plus `<target>_lo80,_hi80,_lo95,_hi95` when the forecast has a variance), one row per step.
/// `time` is extrapolated when the series' time column is numeric with a constant step.
/// mean and variance: [H, C] in original units.
std::string forecast_csv(const data::Series& series, const torch::Tensor& mean,
                         const torch::Tensor& variance);

/// The backtest's forecasts as CSV (`evaluate --output`), one row per origin, step and target
/// series: `origin` (the step index of the origin, the first step forecast), `time` (the time of
/// the step forecast, where `series` has a time column), `step` (1..H), `series`, `actual`, then
/// one column per forecaster: `seqtorch`, `naive`, `seasonal_naive`, `ets`, `theta` (the last
/// two absent where not computed). Original units.
std::string backtest_csv(const BacktestResult& r, const data::Series& series);

}  // namespace seqtorch::forecast
