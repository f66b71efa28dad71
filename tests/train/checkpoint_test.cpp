// Checkpoints: round trip, atomic writes (a writer killed midway leaves the previous file
// loadable), and one-line errors for missing, truncated, corrupted and mismatched files.
#include <seqtorch/nn/recurrent.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/util/atomic_file.h>

#include "support/cuda_tagged.h"
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

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(Checkpoint, RoundTripRestoresModelOptimizerProgressAndRng) {
  test::TempDir dir;
  const auto path = dir.file("ck.pt");
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
  const auto path = dir.file("ck.pt");
  auto a = make();
  save_checkpoint(path, info_for(1), *a, nullptr);
  const std::string& p = path;
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
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(dir.file("none.pt"), "", *same, nullptr, false); },
                                {"none.pt", "no such file"}));
  // Truncated.
  const std::string bytes = read_all(path);
  util::write_file_atomically(dir.file("cut.pt"), bytes.substr(0, bytes.size() / 2));
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(dir.file("cut.pt"), "", *same, nullptr, false); },
                                {"cut.pt", "truncated: the header says"}));
  // Not a checkpoint at all.
  util::write_file_atomically(dir.file("text.pt"), "hello\n");
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(dir.file("text.pt"), "", *same, nullptr, false); },
                                {"text.pt", "not a seqtorch checkpoint"}));
  // A folder.
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(dir.path, "", *same, nullptr, false); },
                                {dir.path, "is a folder, not a checkpoint file"}));
  // A torch archive that is not ours.
  torch::save(torch::ones({2}), dir.file("tensor.pt"));
  EXPECT_TRUE(test::throws_with([&] { load_checkpoint(dir.file("tensor.pt"), "", *same, nullptr, false); },
                                {"tensor.pt"}));
  // A failed load leaves the model unchanged.
  auto before = gru->parameters()[0].clone();
  EXPECT_ANY_THROW(load_checkpoint(path, "test", *gru, nullptr, false));
  EXPECT_TRUE(torch::equal(before, gru->parameters()[0]));
}

// ---- device rules: every checkpoint is read onto the CPU, then follows the model ------------

// One Adam step of `m` on input `x` (on m's device).
void adam_step(Recurrent& m, torch::optim::Optimizer& opt, const torch::Tensor& x) {
  opt.zero_grad();
  m->forward(x.to(m->parameters()[0].device())).output.sum().backward();
  opt.step();
}

TEST(Checkpoint, CudaRunCheckpointLoadsOnTheCpuWithItsOptimizerState) {
  test::TempDir dir;
  torch::manual_seed(1);
  auto a = make();
  auto opt_a = make_optimizer(a->parameters(), OptimizerOptions{});
  const auto x = torch::randn({4, 2, 3});
  adam_step(a, *opt_a, x);
  save_checkpoint(dir.file("cpu.pt"), info_for(2), *a, opt_a.get());
  ASSERT_GE(test::retag_storages_as_cuda(dir.file("cpu.pt"), dir.file("cuda.pt")), 1);
  if (!torch::cuda::is_available()) {
    torch::serialize::InputArchive raw;  // as the file says: onto a GPU this machine lacks
    EXPECT_ANY_THROW(raw.load_from(dir.file("cuda.pt")));
  }
  auto b = make();
  auto opt_b = make_optimizer(b->parameters(), OptimizerOptions{});
  auto info = load_checkpoint(dir.file("cuda.pt"), "test", *b, opt_b.get(), /*restore_rng=*/true);
  EXPECT_EQ(info.epoch, 2);
  for (const auto& p : b->parameters()) EXPECT_TRUE(p.device().is_cpu());
  // Adam's moments came back on the CPU: the next step matches the original's.
  adam_step(a, *opt_a, x);
  adam_step(b, *opt_b, x);
  for (const auto& p : a->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), b->named_parameters()[p.key()])) << p.key();
}

TEST(CheckpointCuda, ModelAndOptimizerFollowTheModelsDeviceBothWays) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  const torch::Device cuda(torch::kCUDA, 0);
  test::TempDir dir;
  const auto x = torch::randn({4, 2, 3}, torch::kDouble);
  for (bool from_gpu : {true, false}) {
    SCOPED_TRACE(from_gpu ? "GPU -> CPU" : "CPU -> GPU");
    torch::manual_seed(3);
    auto a = make();
    a->to(from_gpu ? cuda : torch::Device(torch::kCPU), torch::kDouble);
    auto opt_a = make_optimizer(a->parameters(), OptimizerOptions{});
    adam_step(a, *opt_a, x);
    save_checkpoint(dir.file("ck.pt"), info_for(1), *a, opt_a.get());
    auto b = make();
    b->to(from_gpu ? torch::Device(torch::kCPU) : cuda, torch::kDouble);
    auto opt_b = make_optimizer(b->parameters(), OptimizerOptions{});
    load_checkpoint(dir.file("ck.pt"), "test", *b, opt_b.get(), false);
    for (const auto& p : b->parameters()) EXPECT_EQ(p.device().is_cuda(), !from_gpu);
    adam_step(a, *opt_a, x);
    adam_step(b, *opt_b, x);  // fails if Adam's moments stayed on the other device
    for (const auto& p : a->named_parameters())
      EXPECT_TRUE(test::all_close(p.value(), b->named_parameters()[p.key()], 1e-10, p.key()));
  }
}

TEST(CheckpointCuda, CudaGeneratorStateIsSavedAndRestored) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  test::TempDir dir;
  auto a = make();
  torch::manual_seed(8);
  torch::rand({5}, torch::kCUDA);  // move the CUDA generator along
  save_checkpoint(dir.file("ck.pt"), info_for(1), *a, nullptr);
  const auto expected = torch::rand({5}, torch::kCUDA).cpu();
  torch::manual_seed(99);  // anything else
  load_checkpoint(dir.file("ck.pt"), "test", *a, nullptr, /*restore_rng=*/true);
  EXPECT_TRUE(torch::equal(torch::rand({5}, torch::kCUDA).cpu(), expected));
}

// ---- the checked container (format 2) -------------------------------------------------------

TEST(Checkpoint, EveryFlippedByteIsRefusedWithOneLine) {
  test::TempDir dir;
  torch::manual_seed(4);
  auto a = make();
  const auto path = dir.file("ck.pt");
  save_checkpoint(path, info_for(3), *a, nullptr);
  const std::string bytes = read_all(path);
  ASSERT_EQ(bytes.rfind("seqtorch-checkpoint 2\nbytes ", 0), 0u);
  // Every byte of the header and a spread of the content's (every 97th, and the last), each
  // with one bit and with all bits flipped: never loaded, always one line naming the file.
  std::vector<size_t> positions;
  const size_t header = bytes.find("\n\n") + 2;
  for (size_t i = 0; i < header; ++i) positions.push_back(i);
  for (size_t i = header; i < bytes.size(); i += 97) positions.push_back(i);
  positions.push_back(bytes.size() - 1);
  int refused = 0;
  for (size_t at : positions)
    for (unsigned char mask : {0x01, 0xff}) {
      std::string bad = bytes;
      bad[at] = static_cast<char>(static_cast<unsigned char>(bad[at]) ^ mask);
      util::write_file_atomically(dir.file("bad.pt"), bad);
      auto b = make();
      try {
        load_checkpoint(dir.file("bad.pt"), "test", *b, nullptr, false);
        ADD_FAILURE() << "byte " << at << " ^ " << int(mask) << ": loaded";
      } catch (const c10::Error& e) {
        const std::string msg = e.what_without_backtrace();
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        EXPECT_NE(msg.find("bad.pt"), std::string::npos) << msg;
        ++refused;
      }
    }
  EXPECT_EQ(refused, static_cast<int>(2 * positions.size()));
  // What the messages say for a changed content byte, a cut, an added byte and a newer format.
  std::string changed = bytes;
  changed[header + (bytes.size() - header) / 2] ^= 0x10;
  EXPECT_TRUE(test::throws_with([&] { checkpoint_archive(changed, "c.pt"); }, {"c.pt", "corrupted: its content's CRC-32 is"}));
  EXPECT_TRUE(test::throws_with([&] { checkpoint_archive(bytes + "x", "c.pt"); }, {"c.pt", "1 bytes more than its header says"}));
  EXPECT_TRUE(test::throws_with([&] { checkpoint_archive(bytes.substr(0, bytes.size() - 1), "c.pt"); },
                                {"c.pt", "truncated"}));
  std::string newer = bytes;
  newer[std::string("seqtorch-checkpoint ").size()] = '3';
  EXPECT_TRUE(test::throws_with([&] { checkpoint_archive(newer, "c.pt"); }, {"format 3", "written by a newer seqtorch?"}));
  EXPECT_TRUE(test::throws_with([&] { checkpoint_archive("", "c.pt"); }, {"c.pt", "the file is empty"}));
}

TEST(Checkpoint, FormatOneFilesStillLoadAndSkippedStepsRoundTrip) {
  test::TempDir dir;
  torch::manual_seed(5);
  auto a = make();
  CheckpointInfo info = info_for(2);
  info.skipped_steps = 7;
  save_checkpoint(dir.file("new.pt"), info, *a, nullptr);
  EXPECT_EQ(read_checkpoint_info(dir.file("new.pt")).skipped_steps, 7);
  // Format 1: the bare archive, as seqtorch wrote it before the header.
  const std::string archive = checkpoint_archive(read_all(dir.file("new.pt")), "new.pt");
  ASSERT_EQ(archive.rfind("PK\x03\x04", 0), 0u);
  util::write_file_atomically(dir.file("old.pt"), archive);
  auto b = make();
  EXPECT_EQ(load_checkpoint(dir.file("old.pt"), "test", *b, nullptr, false).epoch, 2);
  EXPECT_TRUE(torch::equal(a->parameters()[0], b->parameters()[0]));
  EXPECT_EQ(checkpoint_file(archive), read_all(dir.file("new.pt")));
}

TEST(Checkpoint, AFullDiskFailsWithOneLineAndKeepsThePreviousCheckpoint) {
  // A 256 KiB tmpfs (needs root: mount(2)); skipped where it cannot be mounted.
  test::TempDir dir;
  const std::string mnt = dir.file("small");
  util::create_directories(mnt);
  const std::string mount = "mount -t tmpfs -o size=256k seqtorch-test " + mnt + " 2>/dev/null";
  if (std::system(mount.c_str()) != 0) GTEST_SKIP() << "cannot mount a tmpfs here (not root?)";
  struct Unmount {
    std::string at;
    ~Unmount() {
      const int rc = std::system(("umount " + at).c_str());  // best effort
      (void)rc;
    }
  } unmount{mnt};
  torch::manual_seed(6);
  auto small = make();
  const std::string path = util::join_path(mnt, "checkpoints/last.pt");
  save_checkpoint(path, info_for(1), *small, nullptr);
  const std::string before = read_all(path);
  // A model whose checkpoint (~1 MB) cannot fit beside the first.
  auto big = Recurrent(RecurrentOptions(3, 256));
  try {
    save_checkpoint(path, info_for(2), *big, nullptr);
    ADD_FAILURE() << "a 1 MB checkpoint fitted in 256 KiB";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("last.pt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_EQ(read_all(path), before);
  EXPECT_EQ(util::list_directory(util::join_path(mnt, "checkpoints")), std::vector<std::string>{"last.pt"});
  auto b = make();
  EXPECT_EQ(load_checkpoint(path, "test", *b, nullptr, false).epoch, 1);
}

TEST(AtomicFile, ThrowingWriterLeavesOldFileAndNoTemporary) {
  test::TempDir dir;
  const auto path = dir.file("f.txt");
  util::write_file_atomically(path, "old");
  EXPECT_ANY_THROW(util::write_atomically(path, [](std::ostream& out) {
    out << "half";
    throw std::runtime_error("writer failed");
  }));
  EXPECT_EQ(read_all(path), "old");
  EXPECT_EQ(util::list_directory(dir.path), std::vector<std::string>{"f.txt"});
}

TEST(AtomicFile, AFolderIsRefusedByNameAndKept) {
  test::TempDir dir;
  const auto folder = dir.file("out");
  util::create_directories(folder);
  EXPECT_TRUE(test::throws_with([&] { util::write_file_atomically(folder, "x"); },
                                {"cannot write", folder, "is a folder, not a file"}));
  EXPECT_TRUE(util::is_directory(folder));
  EXPECT_EQ(util::list_directory(dir.path), std::vector<std::string>{"out"});  // no temporary left
}

TEST(AtomicFile, WriterKilledMidwayLeavesPreviousCheckpointLoadable) {
  test::TempDir dir;
  const auto path = dir.file("last.pt");
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
