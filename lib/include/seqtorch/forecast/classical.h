#pragma once
// Classical forecasters for one series, the baselines `evaluate` puts next to the model:
//   ETS    exponential smoothing with additive errors (Hyndman, Koehler, Ord & Snyder 2008,
//          component form): level, optional (damped) trend, optional additive or multiplicative
//          season. Smoothing parameters and initial states fitted by Nelder-Mead on the
//          one-step squared error, started from the classical decomposition of the first seasons
//          (seasonal states fitted for seasons up to 24, kept from the decomposition beyond);
//          the form chosen among the candidates by AICc (as R's forecast::ets does).
//   Theta  Assimakopoulos & Nikolopoulos (2000) in Hyndman & Billah's (2003) form, as R's
//          forecast::thetaf: classical multiplicative decomposition when the lag-m
//          autocorrelation is significant (90%), simple exponential smoothing of the adjusted
//          series plus half the slope of its linear trend, reseasonalised.
// Parameters are fitted once on the data before the test part; a forecast from origin t0 runs
// the states through y[0 .. t0-1] with those parameters (as the model reads its window).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace seqtorch::forecast {

enum class Seasonality { none, additive, multiplicative };

struct EtsSpec {
  bool trend = false;
  bool damped = false;
  Seasonality season_kind = Seasonality::none;
  int64_t season = 1;
};
/// "ETS(A,N,N)", "ETS(A,Ad,M)", ...: error, trend, season as in the ETS taxonomy.
std::string to_string(const EtsSpec& spec);

struct EtsModel {
  EtsSpec spec;
  double alpha = 0.5, beta = 0, gamma = 0, phi = 1;
  double level0 = 0, trend0 = 0;
  /// Initial seasonal states s[-m] .. s[-1] (empty without a season).
  std::vector<double> season0;
  /// Fit: one-step sum of squared errors over the fitted data, its length, AICc.
  double sse = 0, aicc = 0;
  int64_t n = 0;
};

/// Fits `spec` to y (finite values; a multiplicative season needs y > 0 and two full seasons).
/// Throws when y is too short for the spec (fewer than 2 seasons, or fewer than 4 values).
EtsModel fit_ets(const std::vector<double>& y, const EtsSpec& spec);
/// The candidates for season m, each fitted, the smallest AICc returned: without a season
/// (m = 1, or data shorter than 2 seasons) ANN, AAN, AAdN; with one also ANA, AAdA, and where
/// y > 0 and `multiplicative`, ANM, AAdM.
EtsModel fit_ets_auto(const std::vector<double>& y, int64_t season, bool multiplicative = true);
/// One-step predictions of y[t] for t = 0 .. n-1 under `model` (its filter run over y).
std::vector<double> ets_one_step(const EtsModel& model, const std::vector<double>& y);
/// Forecasts of steps t0 .. t0+H-1 for each origin t0 in `origins` (1 <= t0 <= y.size()),
/// states run through y[0 .. t0-1]: one vector of H per origin.
std::vector<std::vector<double>> ets_forecast(const EtsModel& model, const std::vector<double>& y,
                                              const std::vector<int64_t>& origins, int64_t horizon);

/// ETS as a function of a window alone: the forecaster's `ets` form. The states run through a
/// window of N values with `model`'s smoothing parameters, started from
///   seasonal states  the model's latest seasonal profile (its states after `y`, the data it was
///                    fitted on, centred to mean 0), rotated by r phases: the window's step j
///                    takes phase (r + j) mod m of that profile
///   level            the mean of the window's first block less the profile (the block: a season,
///                    or N / 4 steps without a season), carried back to before the window along
///                    the trend
///   trend            (trend models) the drift between the means of the first two blocks
/// and the H forecasts after it. Without the window's position in the series the rotation is
/// not known; the forecaster takes the one whose profile best matches the window's own (the
/// profile is what carries the long history: with gamma near 0 a few seasons of the window
/// cannot estimate it). Long enough windows forecast as the full-history filter does.
/// The forecasts are affine in the window: forecast_r = weights_r . window + offsets_r.
/// Additive (or no) season only: the forecaster's scaled, possibly logarithmic, values.
struct EtsWindowBase {
  int64_t rotations = 1, horizon = 1, window = 1;
  std::vector<double> weights;  // [rotations][horizon][window]
  std::vector<double> offsets;  // [rotations][horizon]
  std::vector<double> profile;  // [rotations]: phase 0 is the step after y (zeros without a season)
};
/// rotations: the model's season m (all alike when ETS chose no season).
/// Throws for a multiplicative season, a window shorter than 2 seasons (4 steps without one).
EtsWindowBase ets_window_base(const EtsModel& model, const std::vector<double>& y, int64_t window,
                              int64_t horizon);
/// The forecasts of that window filter for rotation r, run directly (the reference of the
/// affine form).
std::vector<double> ets_window_forecast(const EtsModel& model, const std::vector<double>& profile,
                                        const std::vector<double>& window, int64_t rotation,
                                        int64_t horizon);

struct ThetaModel {
  int64_t season = 1;
  /// Whether the series was deseasonalised (lag-m autocorrelation significant), and the
  /// multiplicative (y > 0) or additive seasonal indices by phase t mod m.
  bool seasonal = false, multiplicative = true;
  std::vector<double> indices;
  /// SES on the adjusted series: smoothing, initial level; half the slope of the adjusted
  /// series' least-squares line.
  double alpha = 0.5, level0 = 0, drift = 0;
};
/// Fits Theta to y (at least 4 values; a season needs 2 full seasons).
ThetaModel fit_theta(const std::vector<double>& y, int64_t season);
std::vector<std::vector<double>> theta_forecast(const ThetaModel& model, const std::vector<double>& y,
                                                const std::vector<int64_t>& origins, int64_t horizon);

/// Minimises f over R^d from x0 by Nelder-Mead (initial simplex steps `step`), at most
/// `max_evaluations` calls; returns the best point. Non-finite values count as +infinity.
std::vector<double> nelder_mead(const std::function<double(const std::vector<double>&)>& f,
                                std::vector<double> x0, double step, int max_evaluations);

}  // namespace seqtorch::forecast
