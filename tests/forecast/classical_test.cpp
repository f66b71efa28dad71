// The classical baselines: ETS recursions against hand computations, fits that recover a known
// series, and Theta and ETS on AirPassengers (Box & Jenkins' series G, public since 1976)
// against statsmodels 0.13 (Debian 12's python3-statsmodels: ThetaModel and ETSModel).
#include <seqtorch/forecast/classical.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace seqtorch::forecast {
namespace {

const std::vector<double> kAirPassengers = {
    112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118,
    115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140,
    145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166,
    171, 180, 193, 181, 183, 218, 230, 242, 209, 191, 172, 194,
    196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201,
    204, 188, 235, 227, 234, 264, 302, 293, 259, 229, 203, 229,
    242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278,
    284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306,
    315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336,
    340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337,
    360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405,
    417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432,
};

TEST(NelderMead, FindsTheMinimumOfAQuadratic) {
  auto f = [](const std::vector<double>& x) { return (x[0] - 1) * (x[0] - 1) + 10 * (x[1] + 2) * (x[1] + 2); };
  const auto x = nelder_mead(f, {0.0, 0.0}, 0.5, 2000);
  EXPECT_NEAR(x[0], 1.0, 1e-4);
  EXPECT_NEAR(x[1], -2.0, 1e-4);
}

TEST(Ets, SimpleSmoothingByHand) {
  EtsModel m;  // ETS(A,N,N), alpha 0.5, level 10
  m.alpha = 0.5;
  m.level0 = 10;
  const std::vector<double> y{12, 11, 14};
  // levels: 11, 11, 12.5
  EXPECT_EQ(ets_one_step(m, y), (std::vector<double>{10, 11, 11}));
  const auto f = ets_forecast(m, y, {1, 3}, 2);
  EXPECT_EQ(f[0], (std::vector<double>{11, 11}));
  EXPECT_EQ(f[1], (std::vector<double>{12.5, 12.5}));
  EXPECT_EQ(to_string(m.spec), "ETS(A,N,N)");
}

TEST(Ets, DampedTrendAdditiveSeasonByHand) {
  EtsModel m;
  m.spec = {true, true, Seasonality::additive, 2};
  m.alpha = 0.5, m.beta = 0.2, m.gamma = 0.1, m.phi = 0.9;
  m.level0 = 10, m.trend0 = 1, m.season0 = {1, -1};
  const std::vector<double> y{13, 11};
  // t=0: 10 + 0.9 + 1 = 11.9, e = 1.1 -> s0 1.11, l 11.45, b 1.12
  // t=1: 11.45 + 1.008 - 1 = 11.458, e = -0.458 -> s1 -1.0458, l 12.229, b 0.9164
  const auto one = ets_one_step(m, y);
  EXPECT_NEAR(one[0], 11.9, 1e-12);
  EXPECT_NEAR(one[1], 11.458, 1e-12);
  const auto f = ets_forecast(m, y, {2}, 2);
  EXPECT_NEAR(f[0][0], 12.229 + 0.9 * 0.9164 + 1.11, 1e-12);
  EXPECT_NEAR(f[0][1], 12.229 + (0.9 + 0.81) * 0.9164 - 1.0458, 1e-12);
  EXPECT_EQ(to_string(m.spec), "ETS(A,Ad,A)");
}

TEST(Ets, MultiplicativeSeasonByHand) {
  EtsModel m;
  m.spec = {false, false, Seasonality::multiplicative, 2};
  m.alpha = 0.5, m.gamma = 0.2, m.level0 = 10, m.season0 = {1.2, 0.8};
  const std::vector<double> y{15, 8};
  // t=0: 12, e 3 -> s0 1.26, l 11.25; t=1: 9, e -1 -> s1 0.8 - 0.2 / 11.25, l 10.625
  EXPECT_EQ(ets_one_step(m, y), (std::vector<double>{12, 9}));
  const auto f = ets_forecast(m, y, {2}, 2);
  EXPECT_NEAR(f[0][0], 10.625 * 1.26, 1e-12);
  EXPECT_NEAR(f[0][1], 10.625 * (0.8 - 0.2 / 11.25), 1e-12);
}

TEST(Ets, FitRecoversANoiselessSeasonalTrend) {
  std::vector<double> y;
  const double season[] = {3, -1, 2, -4};
  for (int t = 0; t < 40; ++t) y.push_back(10 + 0.5 * t + season[t % 4]);
  const EtsModel m = fit_ets(y, {true, false, Seasonality::additive, 4});
  EXPECT_LT(m.sse, 1e-3);
  const auto f = ets_forecast(m, y, {40}, 4);
  for (int h = 0; h < 4; ++h) EXPECT_NEAR(f[0][h], 10 + 0.5 * (40 + h) + season[h % 4], 0.05) << h;
}

TEST(Ets, FitRefusesWhatItCannotFit) {
  EXPECT_TRUE(test::throws_with([] { fit_ets({1, 2, 3}, {}); }, {"3 values", "at least 4"}));
  EXPECT_TRUE(test::throws_with([] { fit_ets({1, 2, 3, 4, 5}, {false, false, Seasonality::additive, 4}); },
                                {"two full seasons", "8 values"}));
  EXPECT_TRUE(test::throws_with([] { fit_ets({1, 2, -3, 4, 5, 6, 7, 8}, {false, false, Seasonality::multiplicative, 4}); },
                                {"multiplicative", "positive"}));
  EXPECT_TRUE(test::throws_with([] { fit_ets({1, 2, std::nan(""), 4, 5}, {}); }, {"value 2 is not finite"}));
}

TEST(Theta, ALinearSeriesGoesOnWithHalfItsSlopeFromTheLastValue) {
  std::vector<double> y;
  for (int t = 0; t < 20; ++t) y.push_back(3 + 2 * t);
  const ThetaModel m = fit_theta(y, 1);
  EXPECT_FALSE(m.seasonal);
  EXPECT_NEAR(m.drift, 1.0, 1e-12);  // half the least-squares slope
  EXPECT_GT(m.alpha, 0.99);          // SES follows a straight line as closely as it can
  const auto f = theta_forecast(m, y, {20}, 3);
  for (int h = 0; h < 3; ++h) EXPECT_NEAR(f[0][h], 41 + 1.0 * (h + 1), 0.01) << h;
}

// statsmodels 0.13: ThetaModel(y[:132], period=12).fit().forecast(12), and
// ETSModel(y[:132], error="add", seasonal="mul", seasonal_periods=12).fit() (SSE 9968.7; its
// `aicc` differs from ours by a constant: it counts the likelihood, we the SSE).
TEST(Theta, AirPassengersAsStatsmodels) {
  const std::vector<double> fit(kAirPassengers.begin(), kAirPassengers.begin() + 132);
  const ThetaModel m = fit_theta(fit, 12);
  EXPECT_TRUE(m.seasonal);
  EXPECT_TRUE(m.multiplicative);
  EXPECT_NEAR(m.alpha, 0.907510, 2e-3);
  EXPECT_NEAR(2 * m.drift, 2.553886, 1e-5);
  const auto f = theta_forecast(m, kAirPassengers, {132}, 12);
  const double statsmodels[] = {411.3, 402.2, 462.8, 444.6, 447.9, 509.5, 561.8, 559.4, 490.4, 427.2, 371.9, 419.0};
  for (int h = 0; h < 12; ++h) EXPECT_NEAR(f[0][h], statsmodels[h], 0.06) << h;
}

TEST(Ets, AirPassengersAsStatsmodels) {
  const std::vector<double> fit(kAirPassengers.begin(), kAirPassengers.begin() + 132);
  const EtsModel anm = fit_ets(fit, {false, false, Seasonality::multiplicative, 12});
  EXPECT_LE(anm.sse, 9968.7 * 1.001);
  EXPECT_GT(anm.sse, 9968.7 * 0.9);
  const EtsModel best = fit_ets_auto(fit, 12);
  EXPECT_EQ(best.spec.season_kind, Seasonality::multiplicative) << to_string(best.spec);
  EXPECT_LE(best.aicc, anm.aicc);
  // One year ahead from the end of 1959: within 12% of what happened in 1960 (March is the
  // farthest off).
  const auto f = ets_forecast(best, kAirPassengers, {132}, 12);
  for (int h = 0; h < 12; ++h) EXPECT_NEAR(f[0][h], kAirPassengers[132 + h], 0.12 * kAirPassengers[132 + h]) << h;
}

TEST(EtsWindow, AdditiveTrendAndSeasonByHand) {
  EtsModel m;
  m.spec = {true, false, Seasonality::additive, 2};
  m.alpha = 0.5, m.beta = 0.2, m.gamma = 0.1, m.phi = 1;
  // Profile [1, -1]; window [13 9 15 11]: block means (12 + 10) / 2 = 11 and (14 + 12) / 2 = 13,
  // trend 1, level before the window 11 - 1.5 = 9.5. Then
  //   13: e 1.5     -> s0 1.15,     l 11.25,    b 1.3
  //    9: e -2.55   -> s1 -1.255,   l 11.275,   b 0.79
  //   15: e 1.785   -> s0 1.3285,   l 12.9575,  b 1.147
  //   11: e -1.8495 -> s1 -1.43995, l 13.17975, b 0.7771
  const auto f = ets_window_forecast(m, {1, -1}, {13, 9, 15, 11}, 0, 2);
  EXPECT_NEAR(f[0], 13.17975 + 0.7771 + 1.3285, 1e-12);
  EXPECT_NEAR(f[1], 13.17975 + 2 * 0.7771 - 1.43995, 1e-12);
  // Rotated by one phase the window's first step takes the profile's -1.
  EXPECT_GT(std::abs(ets_window_forecast(m, {1, -1}, {13, 9, 15, 11}, 1, 2)[0] - f[0]), 0.1);
  EXPECT_TRUE(test::throws_with([&] { ets_window_forecast(m, {1, -1}, {13, 9, 15}, 0, 2); }, {"window of 3", "two seasons"}));
  m.spec.season_kind = Seasonality::multiplicative;
  EXPECT_TRUE(test::throws_with([&] { ets_window_base(m, {1, 2, 3, 4}, 4, 2); }, {"additive or no season", "ETS(A,A,M)"}));
}

TEST(EtsWindow, TheProfileIsTheFittedDataLastStatesCentred) {
  EtsModel m;  // as DampedTrendAdditiveSeasonByHand: after y = [13, 11] s0 = 1.11, s1 = -1.0458
  m.spec = {true, true, Seasonality::additive, 2};
  m.alpha = 0.5, m.beta = 0.2, m.gamma = 0.1, m.phi = 0.9;
  m.level0 = 10, m.trend0 = 1, m.season0 = {1, -1};
  EXPECT_TRUE(test::all_close(torch::tensor(ets_window_base(m, {13, 11}, 4, 1).profile), torch::tensor({1.0779, -1.0779}), 1e-12, "n = 2"));
  // After three values phase 0 of the profile is the state of step 3's phase, 1.
  const auto three = ets_window_base(m, {13, 11, 12}, 4, 1).profile;
  EXPECT_LT(three[0], 0);
  EXPECT_NEAR(three[0], -three[1], 1e-12);
}

TEST(EtsWindow, TheBaseIsTheFilterInAffineForm) {
  EtsModel m;
  m.spec = {true, true, Seasonality::additive, 4};
  m.alpha = 0.3, m.beta = 0.1, m.gamma = 0.2, m.phi = 0.9;
  m.level0 = 5, m.trend0 = 0.5, m.season0 = {2, -1, 0.5, -1.5};
  std::vector<double> y, w;
  for (int t = 0; t < 11; ++t) y.push_back(5 + 0.5 * t + m.season0[t % 4] + std::sin(3.0 * t));
  for (int j = 0; j < 12; ++j) w.push_back(3 + std::cos(1.7 * j) + 0.2 * j);
  const EtsWindowBase base = ets_window_base(m, y, 12, 6);
  ASSERT_EQ(base.rotations, 4);
  for (int64_t r = 0; r < 4; ++r) {
    const auto direct = ets_window_forecast(m, base.profile, w, r, 6);
    for (int h = 0; h < 6; ++h) {
      double affine = base.offsets[static_cast<size_t>(r * 6 + h)];
      for (int j = 0; j < 12; ++j) affine += base.weights[static_cast<size_t>((r * 6 + h) * 12 + j)] * w[static_cast<size_t>(j)];
      EXPECT_NEAR(affine, direct[static_cast<size_t>(h)], 1e-9) << "rotation " << r << " step " << h;
    }
  }
  // Without a season every rotation is the same filter.
  m.spec.season_kind = Seasonality::none;
  const EtsWindowBase plain = ets_window_base(m, y, 12, 6);
  ASSERT_EQ(plain.rotations, 4);
  for (size_t i = 0; i < 6 * 12; ++i) EXPECT_EQ(plain.weights[i], plain.weights[3 * 6 * 12 + i]);
}

TEST(EtsWindow, OnASeriesTheModelFitsExactlyItForecastsAsTheFullHistoryFilter) {
  // y = 20 + 0.5 t + season, no noise, and the model's initial states the true ones: every
  // one-step error is 0, so the full filter continues the series exactly; the window filter
  // (profile from the fitted part, rotated as the window's position says) does too.
  EtsModel m;
  m.spec = {true, false, Seasonality::additive, 4};
  m.alpha = 0.4, m.beta = 0.1, m.gamma = 0.3, m.phi = 1;
  m.level0 = 19.5, m.trend0 = 0.5, m.season0 = {3, -2, 1, -2};
  std::vector<double> y;
  for (int t = 0; t < 60; ++t) y.push_back(20 + 0.5 * t + m.season0[t % 4]);
  const std::vector<double> fitted(y.begin(), y.begin() + 30);
  const EtsWindowBase base = ets_window_base(m, fitted, 8, 5);
  for (int64_t start : {30, 33, 41, 46}) {
    const std::vector<double> w(y.begin() + start, y.begin() + start + 8);
    const auto f = ets_window_forecast(m, base.profile, w, (start - 30) % 4, 5);
    const auto full = ets_forecast(m, y, {start + 8}, 5)[0];
    for (int h = 0; h < 5; ++h) {
      EXPECT_NEAR(f[static_cast<size_t>(h)], y[static_cast<size_t>(start + 8 + h)], 1e-9) << start << " " << h;
      EXPECT_NEAR(full[static_cast<size_t>(h)], y[static_cast<size_t>(start + 8 + h)], 1e-9) << start << " " << h;
    }
  }
}

}  // namespace
}  // namespace seqtorch::forecast
