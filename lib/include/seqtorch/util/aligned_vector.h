#pragma once
// std::vector whose storage starts on a 64-byte boundary (a cache line, one AVX-512 register):
// vectorised loops that stream it load whole lines instead of lines split in two (malloc gives
// 16 bytes).
#include <cstddef>
#include <new>
#include <vector>

namespace seqtorch::util {

template <class T>
struct CacheAlignedAllocator {
  using value_type = T;
  static constexpr std::size_t kAlignment = 64;
  CacheAlignedAllocator() = default;
  template <class U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{kAlignment}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{kAlignment}); }
  template <class U>
  bool operator==(const CacheAlignedAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CacheAlignedAllocator<U>&) const noexcept { return false; }
};

template <class T>
using AlignedVector = std::vector<T, CacheAlignedAllocator<T>>;

}  // namespace seqtorch::util
