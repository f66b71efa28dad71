// One training run per run folder: a second lock fails naming the holder; a lock file left by a
// killed run is taken over.
#include <seqtorch/util/file_system.h>
#include <seqtorch/util/run_lock.h>

#include "support/test_util.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

namespace seqtorch::util {
namespace {

TEST(RunLock, SecondRunIsRefusedNamingTheHolder) {
  test::TempDir dir;
  const std::string out = dir.file("run");
  {
    RunLock first(out);
    EXPECT_TRUE(first.stale_holder().empty());
    EXPECT_TRUE(path_exists(first.path()));
    EXPECT_TRUE(test::throws_with([&] { RunLock second(out); },
                                  {out, "is in use by another training run (pid " + std::to_string(::getpid()),
                                   "give another --out"}));
  }
  EXPECT_FALSE(path_exists(join_path(out, ".lock")));  // released and removed
  RunLock again(out);
  EXPECT_TRUE(again.stale_holder().empty());
}

TEST(RunLock, TheLockOfAKilledRunIsTakenOver) {
  test::TempDir dir;
  const std::string out = dir.file("run");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    RunLock held(out);
    std::raise(SIGKILL);  // no destructor: the file stays, the kernel drops the lock
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_TRUE(path_exists(join_path(out, ".lock")));
  RunLock taken(out);
  EXPECT_NE(taken.stale_holder().find("pid " + std::to_string(child)), std::string::npos) << taken.stale_holder();
  EXPECT_TRUE(test::throws_with([&] { RunLock second(out); }, {"in use"}));
}

}  // namespace
}  // namespace seqtorch::util
