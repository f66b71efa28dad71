// Checkpoints: round trip, atomic writes (a writer killed midway leaves the previous file
// loadable), and one-line errors for missing, truncated, corrupted and mismatched files.
#include <seqtorch/nn/recurrent.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/util/atomic_file.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

namespace seqtorch::train {
namespace {

using nn::CellKind;
using nn::Recurrent;
using nn::RecurrentOptions;

Recurrent make(CellKind cell = CellKind::lstm, int64_t hidden = 6) {
  return Recurrent(RecurrentOptions(3, hidden).cell(cell));
}

CheckpointInfo info_for(int64_t epoch) {
  CheckpointInfo info;
  info.app = "test";
  info.config = "[model]\ncell=lstm\n";
  info.epoch = epoch;
  info.step = 10 * epoch;
  info.best_metric = 0.5;
  info.schedule_state = {1.0, 0.5, 0.0};
  return info;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(Checkpoint, RoundTripRestoresModelOptimizerProgressAndRng) {
  test::TempDir dir;
  const auto path = dir.path / "ck.pt";
  torch::manual_seed(1);
  auto a = make();
  auto opt_a = make_optimizer(a->parameters(), OptimizerOptions{});
  auto x = torch::randn({4, 2, 3});
  auto first = [&] {
    opt_a->zero_grad();
    a->forward(x).output.sum().backward();
    opt_a->step();
  };
  first();
  save_checkpoint(path, info_for(3), *a, opt_a.get());
  const auto after_save = torch::rand({3});

  torch::manual_seed(2);
  auto b = make();
  auto opt_b = make_optimizer(b->parameters(), OptimizerOptions{});
  auto info = load_checkpoint(path, "test", *b, opt_b.get(), /*restore_rng=*/true);
  EXPECT_TRUE(torch::equal(torch::rand({3}), after_save)) << "RNG state restored";
  EXPECT_EQ(info.epoch, 3);
  EXPECT_EQ(info.step, 30);
  EXPECT_EQ(info.best_metric, 0.5);
  EXPECT_EQ(info.config, "[model]\ncell=lstm\n");
  EXPECT_EQ(info.schedule_state, (std::vector<double>{1.0, 0.5, 0.0}));
  // The next step is identical: Adam's moments came back too.
  auto step = [&](Recurrent& m, torch::optim::Optimizer& opt) {
    opt.zero_grad();
    m->forward(x).output.sum().backward();
    opt.step();
  };
  step(a, *opt_a);
  step(b, *opt_b);
  for (const auto& p : a->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), b->named_parameters()[p.key()])) << p.key();
  EXPECT_EQ(read_checkpoint_info(path).app, "test");
}

TEST(Checkpoint, ErrorsNameTheFileAndTheMismatch) {
  test::TempDir dir;
  const auto path = dir.path / "ck.pt";
  auto a = make();
  save_checkpoint(path, info_for(1), *a, nullptr);
  const std::string p = path.string();
  auto gru = make(CellKind::gru);
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(path, "test", *gru, nullptr, false); },
                                {p, "weight_ih_l0", "[24, 3]", "[18, 3]"}));
  auto wide = make(CellKind::lstm, 8);
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(path, "test", *wide, nullptr, false); },
                                {p, "weight_ih_l0", "has shape [24, 3]", "expects [32, 3]"}));
  auto same = make();
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(path, "forecast", *same, nullptr, false); },
                                {p, "seqtorch-test", "not by seqtorch-forecast"}));
  auto opt = make_optimizer(same->parameters(), OptimizerOptions{});
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(path, "test", *same, opt.get(), false); },
                                {p, "no optimizer state"}));
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(dir.path / "none.pt", "", *same, nullptr, false); },
                                {"none.pt", "no such file"}));
  // Truncated.
  const std::string bytes = read_all(path);
  util::write_file_atomically(dir.path / "cut.pt", bytes.substr(0, bytes.size() / 2));
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(dir.path / "cut.pt", "", *same, nullptr, false); },
                                {"cut.pt", "cannot be read (truncated or corrupted?)"}));
  // Not a checkpoint at all.
  util::write_file_atomically(dir.path / "text.pt", "hello\n");
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(dir.path / "text.pt", "", *same, nullptr, false); },
                                {"text.pt", "cannot be read"}));
  // A torch archive that is not ours.
  torch::save(torch::ones({2}), (dir.path / "tensor.pt").string());
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(dir.path / "tensor.pt", "", *same, nullptr, false); },
                                {"tensor.pt"}));
  // A failed load leaves the model unchanged.
  auto before = gru->parameters()[0].clone();
  EXPECT_ANY_THROW(load_checkpoint(path, "test", *gru, nullptr, false));
  EXPECT_TRUE(torch::equal(before, gru->parameters()[0]));
}

TEST(AtomicFile, ThrowingWriterLeavesOldFileAndNoTemporary) {
  test::TempDir dir;
  const auto path = dir.path / "f.txt";
  util::write_file_atomically(path, "old");
  EXPECT_ANY_THROW(util::write_atomically(path, [](std::ostream& out) {
    out << "half";
    throw std::runtime_error("writer failed");
  }));
  EXPECT_EQ(read_all(path), "old");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFile, WriterKilledMidwayLeavesPreviousCheckpointLoadable) {
  test::TempDir dir;
  const auto path = dir.path / "last.pt";
  torch::manual_seed(3);
  auto a = make();
  save_checkpoint(path, info_for(1), *a, nullptr);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child starts replacing the file and is killed halfway through the write.
    util::write_atomically(path, [](std::ostream& out) {
      out << std::string(1 << 16, 'x');
      out.flush();
      std::raise(SIGKILL);
    });
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  auto b = make();
  auto info = load_checkpoint(path, "test", *b, nullptr, false);
  EXPECT_EQ(info.epoch, 1);
  EXPECT_TRUE(torch::equal(a->parameters()[0], b->parameters()[0]));
}

}  // namespace
}  // namespace seqtorch::train
