// INI configuration: the apps' --config files (Boost.ProgramOptions with seqtorch's option
// checks, apps/common/cli.h) and the model descriptions stored in checkpoints (util::KeyValues).
#include "common/cli.h"

#include <seqtorch/util/spec_text.h>

#include "fuzz_support.h"

#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqtorch;
  const std::string text(reinterpret_cast<const char*>(data), size);
  apps::CommonOptions c;
  apps::po::options_description all;
  all.add(apps::runtime_options(c)).add(apps::training_options(c)).add(apps::model_options(c));
  apps::po::variables_map values;
  try {
    apps::store_config_beneath(text, "fuzz.ini", all, values);
  } catch (const apps::UsageError& e) {
    fuzz::check_message(e.what());
  }
  fuzz::refused_or_fine([&] {
    const util::KeyValues kv(text, "fuzz spec");
    if (kv.has("a")) fuzz::refused_or_fine([&] { kv.get_int("a"); kv.get_double("a"); kv.get_bool("a"); });
  });
  return 0;
}
