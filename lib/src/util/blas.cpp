#include <seqtorch/util/blas.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace seqtorch::util {

std::string openblas_core() {
  using CoreName = char* (*)();
  auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (fn == nullptr) return {};
  const char* name = fn();
  return name ? std::string(name) : std::string();
}

std::string better_openblas_core(const std::string& current, bool avx512, bool avx2_fma) {
  std::string lower = current;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // OpenBLAS's cores without AVX2 kernels; Prescott is its fallback for unknown CPUs.
  static const char* generic[] = {"prescott", "core2", "penryn", "dunnington", "nehalem",
                                  "atom",     "katmai", "coppermine", "northwood", "banias",
                                  "sandybridge"};
  const bool is_generic = std::any_of(std::begin(generic), std::end(generic),
                                      [&](const char* g) { return lower == g; });
  if (!is_generic) return {};
  if (avx512) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return {};
}

void select_blas_core(char** argv) {
#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__))
  if (argv == nullptr || argv[0] == nullptr || std::getenv("OPENBLAS_CORETYPE") != nullptr ||
      std::getenv("SEQTORCH_KEEP_BLAS_CORE") != nullptr)
    return;
  // Re-executing loads the libraries a second time (about 0.5 s here): not worth it for a run
  // that only prints usage.
  if (argv[1] == nullptr) return;
  for (char** a = argv + 1; *a != nullptr; ++a)
    if (std::strcmp(*a, "--help") == 0 || std::strcmp(*a, "-h") == 0) return;
  const std::string current = openblas_core();
  if (current.empty()) return;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vl");
  const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const std::string better = better_openblas_core(current, avx512, avx2_fma);
  if (better.empty()) return;
  setenv("OPENBLAS_CORETYPE", better.c_str(), 1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // exec failed: go on with the core we have
#else
  (void)argv;
#endif
}

}  // namespace seqtorch::util
