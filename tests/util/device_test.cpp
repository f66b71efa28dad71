// Flushing subnormals to zero: on the calling thread, on every thread of the pool that torch's
// operators and OpenBLAS run on, and in threads started afterwards; and back off.
#include <seqtorch/util/device.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <thread>

namespace seqtorch::util {
namespace {

// 1e-30 * 1e-10 = 1e-40 is a float32 subnormal (the smallest normal is 1.18e-38): zero under FTZ.
// A subnormal times 1 is zero under DAZ. volatile keeps the compiler from folding either.
bool flushes_here() {
  volatile float tiny = 1e-30f, scale = 1e-10f, subnormal = 1e-40f, one = 1.0f;
  return tiny * scale == 0.0f && subnormal * one == 0.0f;
}

// Nonzero elements of 1e-30 * 1e-10 over 2^20 elements: torch's operator splits them over the
// pool's threads (libtorch's OpenMP code; this file is compiled without OpenMP).
int64_t kept_subnormals() {
  return (torch::full({1 << 20}, 1e-30f) * 1e-10f).count_nonzero().item<int64_t>();
}

struct FlushOff {
  ~FlushOff() { set_flush_denormal(false); }
};

TEST(FlushDenormal, ReachesEveryPoolThreadAndThreadsStartedLaterAndTurnsOff) {
  FlushOff restore;
  const int threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  EXPECT_EQ(kept_subnormals(), 1 << 20);  // the pool exists before the switch, and keeps them
  if (std::thread::hardware_concurrency() > 1) {
    // Switching the calling thread alone (what torch.set_flush_denormal does) leaves the pool's
    // threads keeping theirs: the operator did run on more than this thread.
    if (!at::globalContext().setFlushDenormal(true)) GTEST_SKIP() << "this CPU has no flush-to-zero switch";
    const int64_t kept = kept_subnormals();
    EXPECT_GT(kept, 0);
    EXPECT_LT(kept, 1 << 20);
    at::globalContext().setFlushDenormal(false);
  }
  if (!set_flush_denormal(true)) GTEST_SKIP() << "this CPU has no flush-to-zero switch";
  EXPECT_TRUE(flushes_here());
  EXPECT_EQ(kept_subnormals(), 0);
  bool started_later = false;
  std::thread([&] { started_later = flushes_here(); }).join();
  EXPECT_TRUE(started_later);

  ASSERT_TRUE(set_flush_denormal(false));
  EXPECT_FALSE(flushes_here());
  EXPECT_EQ(kept_subnormals(), 1 << 20);
}

}  // namespace
}  // namespace seqtorch::util
