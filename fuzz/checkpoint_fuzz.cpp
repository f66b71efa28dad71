// Checkpoint files (train/checkpoint.h): the library's own reading of the header and its checks
// of length and CRC-32 (what reaches torch's zip reader has passed them).
#include <seqtorch/train/checkpoint.h>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqtorch;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::refused_or_fine([&] {
    const std::string archive = train::checkpoint_archive(bytes, "fuzz.pt");
    // Accepted: a bare archive (format 1), or content whose length and checksum match, which
    // written again gives the same file.
    if (bytes.rfind("PK\x03\x04", 0) != 0) fuzz::expect(train::checkpoint_file(archive) == bytes, "accepted a file seqtorch would not write");
  });
  return 0;
}
