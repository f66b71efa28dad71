// OpenBLAS core selection: which core replaces which, given the CPU's vector units.
#include <seqtorch/util/blas.h>

#include <gtest/gtest.h>

namespace seqtorch::util {
namespace {

TEST(BlasCore, GenericCoresAreReplacedByTheWidestTheCpuRuns) {
  EXPECT_EQ(better_openblas_core("Prescott", true, true), "SkylakeX");
  EXPECT_EQ(better_openblas_core("prescott", false, true), "Haswell");
  EXPECT_EQ(better_openblas_core("Sandybridge", false, true), "Haswell");
  EXPECT_EQ(better_openblas_core("Nehalem", true, true), "SkylakeX");
  EXPECT_EQ(better_openblas_core("Prescott", false, false), "");  // nothing wider to offer
}

TEST(BlasCore, CoresWithWideKernelsAreLeftAlone) {
  for (const char* core : {"SkylakeX", "Cooperlake", "SapphireRapids", "Haswell", "Zen", ""})
    EXPECT_EQ(better_openblas_core(core, true, true), "") << core;
}

// The test binary does not re-execute itself; it only reports what OpenBLAS runs.
TEST(BlasCore, ReportsTheCoreWhenTheBlasIsOpenBlas) {
  const std::string core = openblas_core();
  if (core.empty()) GTEST_SKIP() << "torch's BLAS is not OpenBLAS here";
  EXPECT_GT(core.size(), 2u) << core;  // a core name such as "Prescott" or "SkylakeX"
}

}  // namespace
}  // namespace seqtorch::util
