#include <seqtorch/util/allocator.h>

// A C library header first: __GLIBC__ comes from <features.h>, which it includes (without one,
// the check below was always false and this function did nothing).
#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace seqtorch::util {

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace seqtorch::util
