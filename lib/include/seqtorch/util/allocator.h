#pragma once
// The C library's allocator, set up for training. A training step allocates and frees the same
// large tensors at every step; glibc serves big blocks with mmap and unmaps them on free (and
// trims freed memory at the heap's top), so each step page-faults its buffers in afresh and the
// kernel zeroes every page again. Measured: a translation step spent a third of its time in the
// kernel (clear_page, page faults, munmap) and ran 1.9x faster with every block kept in the
// heap; the W1 benchmark page-faulted about 70k times a second (12% of its profile), and 7x
// fewer times in all with this.

namespace seqtorch::util {

/// Tells glibc to serve every block from the heap (no mmap per block) and to keep up to 1 GB of
/// freed memory instead of returning it to the system. The process's peak memory stays reserved
/// (as PyTorch's CUDA caching allocator does on a GPU). Does nothing where the C library is not
/// glibc. Call early in main, before other threads start.
void keep_freed_memory();

}  // namespace seqtorch::util
