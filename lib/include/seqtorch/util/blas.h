#pragma once
// OpenBLAS core selection. Debian's OpenBLAS (0.3.21, built for every x86 core) picks its kernels
// by CPU model at start-up; on CPUs it does not know (measured: this project's Sapphire Rapids
// VMs) it falls back to the SSE3 "Prescott" kernels and runs sgemm at a fifth of the speed the
// CPU's AVX-512 kernels give (63 against 300 GFLOP/s on 2 cores). It reads OPENBLAS_CORETYPE only
// while loading, before main, so the fix is to re-execute the program with it set.
#include <string>

namespace seqtorch::util {

/// The core OpenBLAS runs its kernels for ("Prescott", "SkylakeX", ...); empty when the BLAS
/// torch uses is not OpenBLAS (e.g. MKL in the official LibTorch).
std::string openblas_core();

/// The core OpenBLAS should use instead of `current`, given what the CPU supports: "SkylakeX"
/// with AVX-512 (F, CD, BW, DQ, VL), "Haswell" with AVX2 and FMA; empty when `current` is
/// already a core with wide vectors, is unknown to this function, or the CPU has neither.
std::string better_openblas_core(const std::string& current, bool avx512, bool avx2_fma);

/// When OpenBLAS runs a generic pre-AVX2 core on a CPU with AVX2 or AVX-512, and neither
/// OPENBLAS_CORETYPE nor SEQTORCH_KEEP_BLAS_CORE is set, re-executes this program with
/// OPENBLAS_CORETYPE set to the better core (same pid, arguments and environment otherwise).
/// The second start costs the library loading once more (about 0.5 s here), so runs without
/// arguments or with --help / -h are left alone. Returns when there is nothing to do (also for
/// a null argv), or when the re-execution failed.
/// Call first in main, before any other thread starts.
void select_blas_core(char** argv);

}  // namespace seqtorch::util
