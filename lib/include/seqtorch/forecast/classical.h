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
/// y > 0, ANM, AAdM.
EtsModel fit_ets_auto(const std::vector<double>& y, int64_t season);
/// One-step predictions of y[t] for t = 0 .. n-1 under `model` (its filter run over y).
std::vector<double> ets_one_step(const EtsModel& model, const std::vector<double>& y);
/// Forecasts of steps t0 .. t0+H-1 for each origin t0 in `origins` (1 <= t0 <= y.size()),
/// states run through y[0 .. t0-1]: one vector of H per origin.
std::vector<std::vector<double>> ets_forecast(const EtsModel& model, const std::vector<double>& y,
                                              const std::vector<int64_t>& origins, int64_t horizon);

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
