// What the CPU can run, read once from cpuid/xgetbv.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lstmrt {

// Kernel paths, ordered from the most portable to the fastest.
enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2 };

struct CpuFeatures {
  std::string vendor;
  std::string brand;
  bool sse2 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512dq = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;  // VPDPBUSD on ZMM: the int8 dot product
  bool avx512bf16 = false;  // VDPBF16PS: the bfloat16 dot product
  bool avxvnni = false;     // VPDPBUSD on YMM without AVX-512
  bool amx_tile = false;    // AMX tiles, with amx_bf16 / amx_int8 their dot products
  bool amx_bf16 = false;
  bool amx_int8 = false;
  bool os_grants_amx = false;  // Linux granted this process the tile data state (arch_prctl)
  bool os_saves_ymm = false;  // XCR0 has the SSE and AVX state bits.
  bool os_saves_zmm = false;  // XCR0 has the opmask and ZMM state bits too.
  // The level-2 cache one core may count on (an L2 shared by several cores divided among them),
  // from Linux's sysfs; 0 where the OS does not say.
  int64_t l2_bytes_per_core = 0;
};

// The features of the CPU this process runs on (computed once).
const CpuFeatures& cpu_features();

const char* isa_name(Isa isa);
// Parses "generic", "avx2" or "avx512"; throws ValueError naming the accepted names otherwise.
Isa parse_isa(const std::string& name);
// Whether this build contains the kernels for `isa`.
bool isa_compiled(Isa isa);
// Whether this build contains `isa` and the CPU and OS can run it.
bool isa_supported(Isa isa);
// All ISAs that can run here, generic first.
std::vector<Isa> supported_isas();
std::vector<Isa> compiled_isas();

}  // namespace lstmrt
