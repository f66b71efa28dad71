#include <seqtorch/util/aligned_vector.h>
#include <seqtorch/util/allocator.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

// mallinfo2 (size_t fields) since glibc 2.33.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define SEQTORCH_TEST_MALLINFO2 1
#endif

// keep_freed_memory() must reach glibc: a block far above glibc's default mmap threshold then
// comes from the heap (no mmap'd bytes added), and freeing it does not shrink the heap. (Its
// first version never called mallopt at all: the __GLIBC__ check came before any C library
// header, so the apps and the benchmark page-faulted every training buffer in afresh.)
TEST(Allocator, KeepFreedMemoryServesLargeBlocksFromTheHeapAndKeepsThem) {
#if !defined(SEQTORCH_TEST_MALLINFO2)
  GTEST_SKIP() << "not glibc 2.33 or later";
#elif defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces the C library's allocator";
#else
  seqtorch::util::keep_freed_memory();
  constexpr size_t kBytes = 64u << 20;
  const struct mallinfo2 before = mallinfo2();
  void* block = std::malloc(kBytes);
  ASSERT_NE(block, nullptr);
  static_cast<volatile char*>(block)[kBytes - 1] = 1;
  const struct mallinfo2 during = mallinfo2();
  EXPECT_EQ(during.hblkhd, before.hblkhd) << "the block was mmap'd";
  EXPECT_GE(during.uordblks, before.uordblks + kBytes) << "the heap did not hold the block";
  std::free(block);
  const struct mallinfo2 after = mallinfo2();
  EXPECT_GE(after.arena, during.arena) << "freeing the block shrank the heap";
#endif
}

// AlignedVector's storage starts on a cache line at every size and after growing, also once
// keep_freed_memory() has moved large blocks onto the heap (malloc's 16-byte alignment there had
// put the batch-1 generator's weights across cache lines: its matrix-vector stream ran at 0.6 of
// the speed).
TEST(Allocator, AlignedVectorStartsOnACacheLine) {
  seqtorch::util::keep_freed_memory();
  std::vector<seqtorch::util::AlignedVector<float>> kept;
  for (size_t n : {1u, 3u, 17u, 1000u, 98304u, 1u << 20}) {
    for (int k = 0; k < 4; ++k) {
      std::vector<char> spacer(16 * static_cast<size_t>(k) + 8);  // moves the heap's next block
      kept.emplace_back(n, 1.f);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(kept.back().data()) % 64, 0u) << n;
    }
  }
  seqtorch::util::AlignedVector<int8_t> grown;
  for (int i = 0; i < 5000; ++i) {
    grown.push_back(static_cast<int8_t>(i));
    ASSERT_EQ(reinterpret_cast<uintptr_t>(grown.data()) % 64, 0u) << i;
  }
  EXPECT_EQ(grown[4999], static_cast<int8_t>(4999));  // the values moved with the storage
}
