// Forecasting: splits and windows never touch the test part, metrics and baselines against
// hand-computed values, and each mode beating seasonal naive on the built-in series.
#include <seqtorch/data/series.h>
#include <seqtorch/forecast/backtest.h>
#include <seqtorch/forecast/window_task.h>
#include <seqtorch/metrics/forecast.h>
#include <seqtorch/train/optimizer.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace seqtorch::forecast {
namespace {

data::Series builtin(const std::vector<std::string>& targets = {"load"}) {
  return data::select_series(data::parse_csv(data::builtin_series_csv(), "builtin"), targets, {},
                             "hour", data::FillMethod::none);
}

TEST(ForecastMetrics, HandComputed) {
  auto f = torch::tensor({1.0, 2.0, 4.0}, torch::kDouble), a = torch::tensor({2.0, 2.0, 1.0}, torch::kDouble);
  EXPECT_DOUBLE_EQ(metrics::mae(f, a), 4.0 / 3);
  EXPECT_DOUBLE_EQ(metrics::rmse(f, a), std::sqrt(10.0 / 3));
  EXPECT_NEAR(metrics::smape(f, a), (200.0 * 1 / 3 + 0 + 200.0 * 3 / 5) / 3, 1e-12);
  EXPECT_DOUBLE_EQ(metrics::smape(torch::zeros({2}, torch::kDouble), torch::zeros({2}, torch::kDouble)), 0.0);
  // y = 1 3 2 5, m = 2: |2-1|, |5-3| -> 1.5
  EXPECT_DOUBLE_EQ(metrics::seasonal_naive_scale(torch::tensor({1.0, 3.0, 2.0, 5.0}, torch::kDouble), 2), 1.5);
  EXPECT_DOUBLE_EQ(metrics::coverage(torch::zeros({4}, torch::kDouble), torch::ones({4}, torch::kDouble),
                                     torch::tensor({0.5, 2.0, 1.0, -1.0}, torch::kDouble)), 0.5);
  EXPECT_NEAR(normal_quantile_central(0.8), 1.2815515655, 1e-9);
  EXPECT_NEAR(normal_quantile_central(0.95), 1.9599639845, 1e-9);
}

TEST(ForecastBaselines, HandComputed) {
  auto y = torch::arange(10, torch::kDouble).unsqueeze(1) * 10;  // 0 10 20 ... 90
  auto origins = torch::tensor({5, 7}, torch::kLong);
  auto naive = naive_forecast(y, origins, 3);
  EXPECT_TRUE(torch::equal(naive.squeeze(2), torch::tensor({{40.0, 40.0, 40.0}, {60.0, 60.0, 60.0}}, torch::kDouble)));
  auto sn = seasonal_naive_forecast(y, origins, 5, 2);  // origin 5: steps 5..9 <- 3 4 3 4 3
  EXPECT_TRUE(torch::equal(sn.squeeze(2)[0], torch::tensor({30.0, 40.0, 30.0, 40.0, 30.0}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(sn.squeeze(2)[1], torch::tensor({50.0, 60.0, 50.0, 60.0, 50.0}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(seasonal_naive_forecast(y, origins, 3, 1), naive));
}

TEST(ForecastData, SplitsAndScalerNeverSeeTheTestPart) {
  auto s = builtin();
  auto clean = prepare_series(s, 0.1, 0.2, data::ScalerKind::standard, 48, 24);
  EXPECT_EQ(clean.split.train + clean.split.val + clean.split.test, 2016);
  EXPECT_EQ(clean.split.test, 403);
  EXPECT_EQ(clean.split.val, 202);
  // Poison the test part: the scaler, the training windows and validation must not change.
  auto poisoned = s;
  poisoned.values = s.values.clone();
  poisoned.values.narrow(0, 2016 - 403, 403).fill_(std::nan(""));
  auto p = prepare_series(poisoned, 0.1, 0.2, data::ScalerKind::standard, 48, 24);
  EXPECT_TRUE(torch::equal(p.scaler.shift, clean.scaler.shift));
  EXPECT_TRUE(torch::equal(p.scaler.scale, clean.scaler.scale));
  torch::manual_seed(1);
  Forecaster m(ForecasterOptions(1, 48, 24).hidden_size(8));
  m->set_scaler(p.scaler);
  WindowTask task(m, p.scaled, p.split, 64, 1, torch::kCPU);
  EXPECT_EQ(task.train_windows(), p.split.train - 48 - 24 + 1);
  task.start_epoch(0);
  for (int64_t b = 0; b < task.batches_per_epoch(); ++b)
    EXPECT_TRUE(std::isfinite(task.train_loss(0, b).loss.item<double>())) << "batch " << b;
  for (auto [k, v] : task.evaluate()) EXPECT_TRUE(std::isfinite(v)) << k;
  // Minmax and none.
  auto mm = data::Scaler::fit(data::ScalerKind::minmax, torch::tensor({{1.0}, {3.0}}, torch::kDouble));
  EXPECT_TRUE(torch::equal(mm.transform(torch::tensor({{2.0}}, torch::kDouble)), torch::tensor({{0.5}}, torch::kDouble)));
  EXPECT_TRUE(test::throws_with([&] { prepare_series(s, 0.1, 0.2, data::ScalerKind::none, 1600, 24); },
                                {"fewer than window + horizon + test part", "1600 + 24 + 403"}));
  EXPECT_TRUE(test::throws_with([&] { Forecaster(ForecasterOptions(1, 48, 0)); }, {"horizon", ">= 1", "got 0"}));
}

// Trains one mode briefly and backtests it with season 24 (one day).
BacktestResult train_and_backtest(Mode mode, Loss loss, int64_t epochs) {
  auto p = prepare_series(builtin(), 0.1, 0.2, data::ScalerKind::standard, 48, 24);
  torch::manual_seed(3);
  Forecaster m(ForecasterOptions(1, 48, 24).mode(mode).loss(loss).hidden_size(32));
  m->set_scaler(p.scaler);
  WindowTask task(m, p.scaled, p.split, 32, 1, torch::kCPU);
  train::OptimizerOptions oo;
  oo.lr = 3e-3;
  auto opt = train::make_optimizer(m->parameters(), oo);
  train::LrSchedule sched(oo.lr, train::ScheduleOptions{});
  train::TrainerOptions to;
  to.epochs = epochs;
  to.quiet = true;
  to.clip_grad_norm = 1.0;
  train::train(task, *opt, sched, to);
  return backtest(m, builtin().values, p.split.train + p.split.val, 24, torch::kCPU);
}

TEST(ForecastModes, EachModeBeatsSeasonalNaiveOnTheBuiltInSeries) {
  for (Mode mode : {Mode::seq2vec, Mode::seq2seq, Mode::encdec}) {
    auto r = train_and_backtest(mode, Loss::mse, 6);
    std::cout << "[ info ] " << to_string(mode) << ": MASE " << r.model["mase"] << " vs seasonal naive "
              << r.seasonal_naive["mase"] << ", naive " << r.naive["mase"] << " (" << r.origins << " origins)\n";
    EXPECT_EQ(r.origins, 403 - 24 + 1);
    EXPECT_LT(r.model["mase"], r.seasonal_naive["mase"]) << to_string(mode);
  }
}

TEST(ForecastModes, GaussianIntervalsCoverRoughlyTheirLevel) {
  auto r = train_and_backtest(Mode::seq2vec, Loss::gaussian, 6);
  std::cout << "[ info ] gaussian: coverage80 " << r.coverage80 << ", coverage95 " << r.coverage95 << "\n";
  EXPECT_GT(r.coverage80, 0.6);
  EXPECT_GT(r.coverage95, r.coverage80);
  EXPECT_LT(r.model["mase"], r.seasonal_naive["mase"]);
}

}  // namespace
}  // namespace seqtorch::forecast
