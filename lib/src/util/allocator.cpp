#include <seqtorch/util/allocator.h>

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
