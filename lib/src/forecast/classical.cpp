#include <seqtorch/forecast/classical.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace seqtorch::forecast {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double sigmoid(double u) { return 1 / (1 + std::exp(-u)); }
double logit(double p) { return std::log(p / (1 - p)); }

double mean(const std::vector<double>& v, size_t begin, size_t end) {
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += v[i];
  return s / static_cast<double>(end - begin);
}

bool all_positive(const std::vector<double>& y) {
  return std::all_of(y.begin(), y.end(), [](double v) { return v > 0; });
}

void check_finite(const std::vector<double>& y, const char* who) {
  for (size_t i = 0; i < y.size(); ++i)
    TORCH_CHECK(std::isfinite(y[i]), who, ": value ", i, " is not finite");
}

// Least-squares line a + b t over v[0 .. n-1]: {a, b}.
std::pair<double, double> line_fit(const std::vector<double>& v, size_t n) {
  const double tm = (static_cast<double>(n) - 1) / 2, ym = mean(v, 0, n);
  double sxy = 0, sxx = 0;
  for (size_t t = 0; t < n; ++t) {
    sxy += (static_cast<double>(t) - tm) * (v[t] - ym);
    sxx += (static_cast<double>(t) - tm) * (static_cast<double>(t) - tm);
  }
  const double b = sxx > 0 ? sxy / sxx : 0;
  return {ym - b * tm, b};
}

// Classical decomposition's seasonal figure (R's decompose) over y[0 .. n-1], by phase t mod m:
// the centred moving average of one season (2 x m for even m) as the trend, the detrended values
// (y / trend or y - trend) averaged per phase, normalised to mean 1 (or 0).
std::vector<double> seasonal_figure(const std::vector<double>& y, size_t n, int64_t season,
                                    bool multiplicative) {
  const auto m = static_cast<size_t>(season);
  const size_t half = m / 2;
  std::vector<double> sum(m, 0.0);
  std::vector<int> count(m, 0);
  for (size_t t = half; t + half < n; ++t) {
    double trend = 0;
    if (m % 2 == 0) {
      trend = 0.5 * y[t - half] + 0.5 * y[t + half];
      for (size_t k = t - half + 1; k < t + half; ++k) trend += y[k];
    } else {
      for (size_t k = t - half; k <= t + half; ++k) trend += y[k];
    }
    trend /= static_cast<double>(m);
    sum[t % m] += multiplicative ? y[t] / trend : y[t] - trend;
    ++count[t % m];
  }
  std::vector<double> figure(m);
  for (size_t j = 0; j < m; ++j) figure[j] = count[j] ? sum[j] / count[j] : (multiplicative ? 1.0 : 0.0);
  const double c = mean(figure, 0, m);
  for (auto& f : figure) f = multiplicative ? f / c : f - c;
  return figure;
}

// The filter's state after some steps: level, trend, the latest seasonal state of each phase.
struct EtsState {
  double level, trend;
  std::vector<double> season;  // by phase t mod m
};

// One-step prediction at time t from the state before it.
double ets_predict(const EtsModel& m, const EtsState& s, int64_t t, int64_t steps = 1) {
  double damp = 0, p = 1;
  for (int64_t k = 0; k < steps; ++k) p *= m.phi, damp += p;
  const double base = s.level + (m.spec.trend ? damp * s.trend : 0.0);
  switch (m.spec.season_kind) {
    case Seasonality::none: return base;
    case Seasonality::additive: return base + s.season[t % m.spec.season];
    case Seasonality::multiplicative: return base * s.season[t % m.spec.season];
  }
  return base;
}

// Updates the state with y[t]; returns the one-step error (NaN when the state broke down).
double ets_update(const EtsModel& m, EtsState& s, int64_t t, double y) {
  const double phib = m.spec.trend ? m.phi * s.trend : 0.0;
  const double base = s.level + phib;
  const double pred = ets_predict(m, s, t);
  const double e = y - pred;
  double r = 1;  // the seasonal divisor of the multiplicative form
  double& st = s.season.empty() ? r : s.season[t % m.spec.season];
  if (m.spec.season_kind == Seasonality::multiplicative) {
    if (!(st > 1e-8) || !(std::abs(base) > 1e-8)) return std::nan("");
    const double old = st;
    st = old + m.gamma * e / base;
    s.level = base + m.alpha * e / old;
    s.trend = phib + m.beta * e / old;
  } else {
    if (m.spec.season_kind == Seasonality::additive) st += m.gamma * e;
    s.level = base + m.alpha * e;
    s.trend = phib + m.beta * e;
  }
  return e;
}

EtsState initial_state(const EtsModel& m) { return {m.level0, m.trend0, m.season0}; }

double ets_sse(const EtsModel& m, const std::vector<double>& y) {
  EtsState s = initial_state(m);
  double sse = 0;
  for (size_t t = 0; t < y.size(); ++t) {
    const double e = ets_update(m, s, static_cast<int64_t>(t), y[t]);
    if (!std::isfinite(e)) return kInf;
    sse += e * e;
  }
  return sse;
}

}  // namespace

std::string to_string(const EtsSpec& spec) {
  const char* trend = !spec.trend ? "N" : spec.damped ? "Ad" : "A";
  const char* season = spec.season_kind == Seasonality::none       ? "N"
                       : spec.season_kind == Seasonality::additive ? "A"
                                                                   : "M";
  return std::string("ETS(A,") + trend + "," + season + ")";
}

std::vector<double> nelder_mead(const std::function<double(const std::vector<double>&)>& f,
                                std::vector<double> x0, double step, int max_evaluations) {
  const size_t d = x0.size();
  auto value = [&](const std::vector<double>& x) {
    const double v = f(x);
    return std::isfinite(v) ? v : kInf;
  };
  std::vector<std::vector<double>> p(d + 1, x0);
  for (size_t i = 0; i < d; ++i) p[i + 1][i] += step;
  std::vector<double> fv(d + 1);
  for (size_t i = 0; i <= d; ++i) fv[i] = value(p[i]);
  int evaluations = static_cast<int>(d + 1);
  std::vector<size_t> order(d + 1);
  while (evaluations < max_evaluations) {
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fv[a] < fv[b]; });
    const size_t best = order[0], worst = order[d], second = order[d - 1];
    if (std::abs(fv[worst] - fv[best]) <= 1e-10 * (std::abs(fv[best]) + 1e-12)) break;
    std::vector<double> centre(d, 0.0);
    for (size_t i = 0; i <= d; ++i)
      if (i != worst)
        for (size_t k = 0; k < d; ++k) centre[k] += p[i][k] / static_cast<double>(d);
    auto along = [&](double coef) {
      std::vector<double> x(d);
      for (size_t k = 0; k < d; ++k) x[k] = centre[k] + coef * (p[worst][k] - centre[k]);
      return x;
    };
    auto reflected = along(-1);
    const double fr = value(reflected);
    ++evaluations;
    if (fr < fv[best]) {
      auto expanded = along(-2);
      const double fe = value(expanded);
      ++evaluations;
      if (fe < fr) p[worst] = expanded, fv[worst] = fe;
      else p[worst] = reflected, fv[worst] = fr;
    } else if (fr < fv[second]) {
      p[worst] = reflected, fv[worst] = fr;
    } else {
      auto contracted = along(fr < fv[worst] ? -0.5 : 0.5);
      const double fc = value(contracted);
      ++evaluations;
      if (fc < std::min(fr, fv[worst])) {
        p[worst] = contracted, fv[worst] = fc;
      } else {  // shrink towards the best
        for (size_t i = 0; i <= d; ++i) {
          if (i == best) continue;
          for (size_t k = 0; k < d; ++k) p[i][k] = p[best][k] + 0.5 * (p[i][k] - p[best][k]);
          fv[i] = value(p[i]);
          ++evaluations;
        }
      }
    }
  }
  return p[static_cast<size_t>(std::min_element(fv.begin(), fv.end()) - fv.begin())];
}

EtsModel fit_ets(const std::vector<double>& y, const EtsSpec& spec) {
  check_finite(y, "ETS");
  const auto n = static_cast<int64_t>(y.size());
  const int64_t m = spec.season;
  const bool seasonal = spec.season_kind != Seasonality::none;
  TORCH_CHECK(m >= 1, "ETS: season: expected >= 1, got ", m);
  TORCH_CHECK(n >= 4, "ETS: ", n, " values; at least 4 are needed");
  TORCH_CHECK(!seasonal || (m > 1 && n >= 2 * m), "ETS: a season of ", m, " needs two full seasons (",
              2 * m, " values), got ", n);
  TORCH_CHECK(spec.season_kind != Seasonality::multiplicative || all_positive(y),
              "ETS: a multiplicative season needs positive values");
  EtsModel model;
  model.spec = spec;
  if (!spec.trend) model.spec.damped = false;
  // Heuristic initial states: the seasonal figure of the first (up to 4) seasons, then a line
  // through the first seasonally adjusted values.
  const bool mult = spec.season_kind == Seasonality::multiplicative;
  std::vector<double> adjusted(y);
  size_t head = static_cast<size_t>(std::min<int64_t>(n, 10));
  if (seasonal) {
    const size_t k = static_cast<size_t>(std::min<int64_t>(n / m, 4) * m);
    model.season0 = seasonal_figure(y, k, m, mult);
    for (size_t t = 0; t < adjusted.size(); ++t)
      adjusted[t] = mult ? y[t] / model.season0[t % m] : y[t] - model.season0[t % m];
    head = std::max<size_t>(head, static_cast<size_t>(2 * m));
  }
  const auto [a, b] = line_fit(adjusted, head);
  const double l_init = spec.trend ? a - b : mean(adjusted, 0, std::min<size_t>(head, static_cast<size_t>(std::max<int64_t>(m, 3))));
  const double b_init = spec.trend ? b : 0;
  const double y_mean = mean(y, 0, y.size());
  double sd = 0;
  for (double v : y) sd += (v - y_mean) * (v - y_mean);
  sd = std::sqrt(sd / static_cast<double>(n)) + 1e-12;

  // The initial seasonal states are fitted too for seasons up to 24 (Nelder-Mead in more
  // dimensions than that converges poorly); longer seasons keep the heuristic ones.
  const bool fit_seasons = seasonal && m <= 24;
  // u: logit alpha, logit beta/alpha, logit gamma/(1-alpha), logit (phi-0.8)/0.18, level0 and
  // trend0 offsets in units of the series' sd.
  auto unpack = [&](const std::vector<double>& u) {
    EtsModel e = model;
    e.alpha = 1e-4 + (1 - 2e-4) * sigmoid(u[0]);
    e.beta = spec.trend ? e.alpha * sigmoid(u[1]) : 0;
    e.gamma = seasonal ? (1 - e.alpha) * sigmoid(u[2]) : 0;
    e.phi = model.spec.damped ? 0.8 + 0.18 * sigmoid(u[3]) : 1;
    e.level0 = l_init + u[4] * sd;
    e.trend0 = spec.trend ? b_init + u[5] * sd / static_cast<double>(std::max<int64_t>(m, 1)) : 0;
    if (fit_seasons) {  // offsets to the heuristic seasonal states, normalised to mean 1 (or 0)
      double c = 0;
      for (size_t j = 0; j < e.season0.size(); ++j)
        c += (e.season0[j] += u[6 + j] * (mult ? 0.1 : 0.1 * sd)) / static_cast<double>(m);
      for (auto& v : e.season0) v = mult ? v / c : v - c;
    }
    return e;
  };
  auto objective = [&](const std::vector<double>& u) { return ets_sse(unpack(u), y); };
  std::vector<double> best;
  double best_sse = kInf;
  for (double alpha0 : {0.2, 0.6}) {
    std::vector<double> u{logit(alpha0), logit(0.1), logit(0.1), logit(0.5), 0.0, 0.0};
    u.resize(6 + (fit_seasons ? m : 0), 0.0);
    const int budget = 200 * static_cast<int>(u.size());
    u = nelder_mead(objective, u, 0.5, budget);
    for (int restart = 0; restart < 2; ++restart) u = nelder_mead(objective, u, 0.1, budget);
    const double sse = objective(u);
    if (sse < best_sse) best_sse = sse, best = u;
  }
  TORCH_CHECK(std::isfinite(best_sse), "ETS: ", to_string(model.spec), " found no finite fit");
  model = unpack(best);
  model.sse = best_sse;
  model.n = n;
  const int64_t k = 2 + (spec.trend ? 2 : 0) + (model.spec.damped ? 1 : 0) + (seasonal ? m : 0);
  const double nd = static_cast<double>(n), kd = static_cast<double>(k);
  model.aicc = nd * std::log(std::max(best_sse, 1e-300) / nd) + 2 * kd +
               (nd - kd - 1 > 0 ? 2 * kd * (kd + 1) / (nd - kd - 1) : kInf);
  return model;
}

EtsModel fit_ets_auto(const std::vector<double>& y, int64_t season, bool multiplicative) {
  TORCH_CHECK(season >= 1, "ETS: season: expected >= 1, got ", season);
  std::vector<EtsSpec> specs;
  const bool seasonal = season > 1 && static_cast<int64_t>(y.size()) >= 2 * season;
  for (auto kind : {Seasonality::none, Seasonality::additive, Seasonality::multiplicative}) {
    if (kind != Seasonality::none && !seasonal) continue;
    if (kind == Seasonality::multiplicative && (!multiplicative || !all_positive(y))) continue;
    specs.push_back({false, false, kind, season});
    specs.push_back({true, true, kind, season});
    if (kind == Seasonality::none) specs.push_back({true, false, kind, season});
  }
  EtsModel best;
  best.aicc = kInf;
  for (const auto& spec : specs) {
    EtsModel m = fit_ets(y, spec);
    if (m.aicc < best.aicc || !std::isfinite(best.aicc)) best = m;
  }
  return best;
}

std::vector<double> ets_one_step(const EtsModel& model, const std::vector<double>& y) {
  EtsState s = initial_state(model);
  std::vector<double> out(y.size());
  for (size_t t = 0; t < y.size(); ++t) {
    out[t] = ets_predict(model, s, static_cast<int64_t>(t));
    ets_update(model, s, static_cast<int64_t>(t), y[t]);
  }
  return out;
}

std::vector<std::vector<double>> ets_forecast(const EtsModel& model, const std::vector<double>& y,
                                              const std::vector<int64_t>& origins, int64_t horizon) {
  check_finite(y, "ETS");
  std::vector<std::vector<double>> out;
  EtsState s = initial_state(model);
  int64_t t = 0;
  for (int64_t t0 : origins) {
    TORCH_CHECK(t0 >= t && t0 <= static_cast<int64_t>(y.size()), "ETS: origins must be increasing and within the series");
    for (; t < t0; ++t) ets_update(model, s, t, y[static_cast<size_t>(t)]);
    std::vector<double> f(static_cast<size_t>(horizon));
    for (int64_t h = 0; h < horizon; ++h) f[static_cast<size_t>(h)] = ets_predict(model, s, t0 + h, h + 1);
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<double> ets_window_forecast(const EtsModel& model, const std::vector<double>& profile,
                                        const std::vector<double>& window, int64_t rotation,
                                        int64_t horizon) {
  TORCH_CHECK(model.spec.season_kind != Seasonality::multiplicative,
              "ETS window base: additive or no season only, got ", to_string(model.spec));
  const bool seasonal = model.spec.season_kind == Seasonality::additive;
  const int64_t m = seasonal ? model.spec.season : 1;
  const auto N = static_cast<int64_t>(window.size());
  TORCH_CHECK(static_cast<int64_t>(profile.size()) == model.spec.season, "ETS window base: a profile of ",
              profile.size(), " phases for a season of ", model.spec.season);
  const int64_t block = seasonal ? m : std::max<int64_t>(1, N / 4);
  TORCH_CHECK(N >= std::max<int64_t>(2 * block, 4), "ETS window base: a window of ", N,
              " steps; at least two seasons and 4 steps are needed");
  // Phase p of the window's step j: (rotation + j) mod m.
  std::vector<double> s(static_cast<size_t>(m));
  for (int64_t p = 0; p < m; ++p) s[static_cast<size_t>(p)] = profile[static_cast<size_t>((rotation + p) % m)];
  auto block_mean = [&](int64_t b) {
    double sum = 0;
    for (int64_t j = b * block; j < (b + 1) * block; ++j) sum += window[static_cast<size_t>(j)] - s[static_cast<size_t>(j % m)];
    return sum / static_cast<double>(block);
  };
  const double first = block_mean(0);
  double trend = model.spec.trend ? (block_mean(1) - first) / static_cast<double>(block) : 0.0;
  // The first block's mean sits at its middle, (block - 1) / 2; the state before the window is
  // (block + 1) / 2 steps earlier.
  double level = first - trend * (static_cast<double>(block) + 1) / 2;
  for (int64_t j = 0; j < N; ++j) {
    double& st = s[static_cast<size_t>(j % m)];
    const double phib = model.spec.trend ? model.phi * trend : 0.0;
    const double e = window[static_cast<size_t>(j)] - (level + phib + (seasonal ? st : 0.0));
    if (seasonal) st += model.gamma * e;
    level = level + phib + model.alpha * e;
    trend = phib + model.beta * e;
  }
  std::vector<double> out(static_cast<size_t>(horizon));
  double damp = 0, p = 1;
  for (int64_t h = 0; h < horizon; ++h) {
    p *= model.phi, damp += p;
    out[static_cast<size_t>(h)] = level + (model.spec.trend ? damp * trend : 0.0) +
                                  (seasonal ? s[static_cast<size_t>((N + h) % m)] : 0.0);
  }
  return out;
}

EtsWindowBase ets_window_base(const EtsModel& model, const std::vector<double>& y, int64_t window,
                              int64_t horizon) {
  TORCH_CHECK(model.spec.season_kind != Seasonality::multiplicative,
              "ETS window base: additive or no season only, got ", to_string(model.spec));
  TORCH_CHECK(horizon >= 1, "ETS window base: horizon: expected >= 1, got ", horizon);
  check_finite(y, "ETS");
  const bool seasonal = model.spec.season_kind == Seasonality::additive;
  EtsWindowBase base;
  // Without a seasonal state every rotation is the same filter: kept m of them all the same, so
  // that the forecaster's shape does not depend on the form ETS chose.
  base.rotations = model.spec.season;
  base.horizon = horizon;
  base.window = window;
  const int64_t m = base.rotations;
  base.profile.assign(static_cast<size_t>(m), 0.0);
  if (seasonal) {
    EtsState s = initial_state(model);
    const auto n = static_cast<int64_t>(y.size());
    for (int64_t t = 0; t < n; ++t) ets_update(model, s, t, y[static_cast<size_t>(t)]);
    double c = 0;
    for (int64_t p = 0; p < m; ++p) c += (base.profile[static_cast<size_t>(p)] = s.season[static_cast<size_t>((n + p) % m)]) / static_cast<double>(m);
    for (auto& v : base.profile) v -= c;
  }
  // Affine in the window: the offsets are the forecasts of a window of zeros, weight j the
  // change from a one at step j.
  const auto N = static_cast<size_t>(window), H = static_cast<size_t>(horizon);
  base.weights.assign(static_cast<size_t>(m) * H * N, 0.0);
  base.offsets.assign(static_cast<size_t>(m) * H, 0.0);
  std::vector<double> w(N, 0.0);
  for (int64_t r = 0; r < m; ++r) {
    const auto R = static_cast<size_t>(r);
    const std::vector<double> zero = ets_window_forecast(model, base.profile, w, r, horizon);
    for (size_t h = 0; h < H; ++h) base.offsets[R * H + h] = zero[h];
    for (size_t j = 0; j < N; ++j) {
      w[j] = 1;
      const std::vector<double> f = ets_window_forecast(model, base.profile, w, r, horizon);
      w[j] = 0;
      for (size_t h = 0; h < H; ++h) base.weights[(R * H + h) * N + j] = f[h] - zero[h];
    }
  }
  return base;
}

ThetaModel fit_theta(const std::vector<double>& y, int64_t season) {
  check_finite(y, "Theta");
  const auto n = static_cast<int64_t>(y.size());
  TORCH_CHECK(season >= 1, "Theta: season: expected >= 1, got ", season);
  TORCH_CHECK(n >= 4, "Theta: ", n, " values; at least 4 are needed");
  ThetaModel model;
  model.season = season;
  std::vector<double> x(y);
  if (season > 1 && n >= 2 * season) {
    // The 90% test on the lag-m autocorrelation (forecast::thetaf).
    const double ym = mean(y, 0, y.size());
    auto acf = [&](int64_t k) {
      double num = 0, den = 0;
      for (int64_t t = 0; t < n; ++t) den += (y[t] - ym) * (y[t] - ym);
      for (int64_t t = k; t < n; ++t) num += (y[t] - ym) * (y[t - k] - ym);
      return den > 0 ? num / den : 0.0;
    };
    double sum_sq = 0;
    for (int64_t k = 1; k < season; ++k) sum_sq += acf(k) * acf(k);
    const double stat = std::sqrt((1 + 2 * sum_sq) / static_cast<double>(n));
    model.seasonal = std::abs(acf(season)) / stat > 1.6448536269514722;
  }
  if (model.seasonal) {
    model.multiplicative = all_positive(y);
    model.indices = seasonal_figure(y, y.size(), season, model.multiplicative);
    for (size_t t = 0; t < x.size(); ++t)
      x[t] = model.multiplicative ? y[t] / model.indices[t % season] : y[t] - model.indices[t % season];
  }
  const EtsModel ses = fit_ets(x, EtsSpec{});
  model.alpha = ses.alpha;
  model.level0 = ses.level0;
  model.drift = line_fit(x, x.size()).second / 2;
  return model;
}

std::vector<std::vector<double>> theta_forecast(const ThetaModel& model, const std::vector<double>& y,
                                                const std::vector<int64_t>& origins, int64_t horizon) {
  check_finite(y, "Theta");
  const int64_t m = model.season;
  auto adjust = [&](double v, int64_t t) {
    if (!model.seasonal) return v;
    return model.multiplicative ? v / model.indices[t % m] : v - model.indices[t % m];
  };
  auto reseason = [&](double v, int64_t t) {
    if (!model.seasonal) return v;
    return model.multiplicative ? v * model.indices[t % m] : v + model.indices[t % m];
  };
  std::vector<std::vector<double>> out;
  double level = model.level0;
  int64_t t = 0;
  for (int64_t t0 : origins) {
    TORCH_CHECK(t0 >= t && t0 <= static_cast<int64_t>(y.size()), "Theta: origins must be increasing and within the series");
    for (; t < t0; ++t) level += model.alpha * (adjust(y[static_cast<size_t>(t)], t) - level);
    const double a = std::max(model.alpha, 1e-10);
    const double tail = (1 - std::pow(1 - a, static_cast<double>(t0))) / a;
    std::vector<double> f(static_cast<size_t>(horizon));
    for (int64_t h = 0; h < horizon; ++h)
      f[static_cast<size_t>(h)] = reseason(level + model.drift * (static_cast<double>(h) + tail), t0 + h);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace seqtorch::forecast
