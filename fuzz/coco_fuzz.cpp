// Caption JSON (data/coco.h): COCO captions or a Karpathy split, every split.
#include <seqtorch/data/coco.h>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqtorch;
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* split : {"all", "train", "val", "test"}) {
    fuzz::refused_or_fine([&] {
      const auto set = data::parse_caption_json(text, "fuzz.json", split);
      fuzz::expect(!set.images.empty(), "a data set without images and no error");
      for (const auto& image : set.images) fuzz::expect(!image.captions.empty(), "an image without captions");
    });
  }
  return 0;
}
