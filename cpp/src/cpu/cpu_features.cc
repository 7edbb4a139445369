#include "lstmrt/cpu_features.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lstmrt/errors.h"

#if defined(__x86_64__) || defined(__i386__)
#define LSTMRT_X86_CPU 1
#include <cpuid.h>
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#define LSTMRT_LINUX_AMX 1
#endif
#endif

namespace lstmrt {
namespace {

#if LSTMRT_X86_CPU
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) { __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]); }

unsigned long long xgetbv0() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}
#endif

// Linux hands the 8 KiB of AMX tile state to a process only on request; without it the first
// tile instruction faults. Asked once, at detection, and only when the CPU has the tiles.
bool request_amx() {
#if LSTMRT_LINUX_AMX
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

// The first line of a sysfs file, without its newline; empty when it cannot be read. C stdio,
// as in threading.cc: iostreams crashed in a process whose first libstdc++ was another build's.
std::string read_line(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) return "";
  char buffer[256] = {0};
  const bool ok = std::fgets(buffer, sizeof(buffer), file) != nullptr;
  std::fclose(file);
  std::string line = ok ? buffer : "";
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  return line;
}

// How many CPUs a sysfs CPU list names ("0-3,8,10-11" is 7); 0 when it cannot be parsed.
int count_cpu_list(const std::string& list) {
  int count = 0;
  const char* p = list.c_str();
  while (*p != '\0') {
    char* end = nullptr;
    const long first = std::strtol(p, &end, 10);
    if (end == p) return 0;
    long last = first;
    p = end;
    if (*p == '-') {
      last = std::strtol(p + 1, &end, 10);
      if (end == p + 1) return 0;
      p = end;
    }
    count += static_cast<int>(last - first + 1);
    if (*p == ',') ++p;
  }
  return count;
}

// CPU 0's level-2 cache divided among the cores that share it (hyperthreads of one core count
// as one), from /sys/devices/system/cpu/cpu0/cache/index*; 0 when sysfs does not say.
int64_t detect_l2_bytes_per_core() {
  const std::string cpu0 = "/sys/devices/system/cpu/cpu0/";
  for (int index = 0; index < 8; ++index) {
    const std::string dir = cpu0 + "cache/index" + std::to_string(index) + "/";
    if (read_line(dir + "level") != "2") continue;
    const std::string type = read_line(dir + "type");
    if (type != "Unified" && type != "Data") continue;
    const std::string size = read_line(dir + "size");  // "2048K", "1M"
    char* end = nullptr;
    int64_t bytes = std::strtoll(size.c_str(), &end, 10);
    if (end == size.c_str() || bytes <= 0) return 0;
    if (*end == 'K') bytes <<= 10;
    else if (*end == 'M') bytes <<= 20;
    const int sharing = count_cpu_list(read_line(dir + "shared_cpu_list"));
    const int siblings = count_cpu_list(read_line(cpu0 + "topology/thread_siblings_list"));
    const int cores = sharing > 0 && siblings > 0 && sharing >= siblings ? sharing / siblings : 1;
    return bytes / cores;
  }
  return 0;
}

CpuFeatures detect() {
  CpuFeatures f;
  f.l2_bytes_per_core = detect_l2_bytes_per_core();
#if LSTMRT_X86_CPU
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  char vendor[13] = {0};
  std::memcpy(vendor, &r[1], 4);
  std::memcpy(vendor + 4, &r[3], 4);
  std::memcpy(vendor + 8, &r[2], 4);
  f.vendor = vendor;
  cpuid(0x80000000u, 0, r);
  if (r[0] >= 0x80000004u) {
    char brand[49] = {0};
    for (unsigned i = 0; i < 3; ++i) {
      cpuid(0x80000002u + i, 0, r);
      std::memcpy(brand + 16 * i, r, 16);
    }
    f.brand = brand;
    while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
    while (!f.brand.empty() && f.brand.front() == ' ') f.brand.erase(f.brand.begin());
  }
  if (max_leaf >= 1) {
    cpuid(1, 0, r);
    f.sse2 = (r[3] >> 26) & 1;
    f.fma = (r[2] >> 12) & 1;
    f.avx = (r[2] >> 28) & 1;
    f.f16c = (r[2] >> 29) & 1;
    const bool osxsave = (r[2] >> 27) & 1;
    if (osxsave) {
      // The OS must save the wide registers on context switches, or using them corrupts state.
      const unsigned long long xcr0 = xgetbv0();
      f.os_saves_ymm = (xcr0 & 0x6) == 0x6;
      f.os_saves_zmm = (xcr0 & 0xe6) == 0xe6;
    }
  }
  if (max_leaf >= 7) {
    cpuid(7, 0, r);
    f.avx2 = (r[1] >> 5) & 1;
    f.avx512f = (r[1] >> 16) & 1;
    f.avx512dq = (r[1] >> 17) & 1;
    f.avx512bw = (r[1] >> 30) & 1;
    f.avx512vl = (r[1] >> 31) & 1;
    f.avx512vnni = (r[2] >> 11) & 1;
    f.amx_bf16 = (r[3] >> 22) & 1;
    f.amx_tile = (r[3] >> 24) & 1;
    f.amx_int8 = (r[3] >> 25) & 1;
    if (f.amx_tile && (f.amx_int8 || f.amx_bf16)) f.os_grants_amx = request_amx();
    const unsigned max_sub = r[0];
    if (max_sub >= 1) {
      cpuid(7, 1, r);
      f.avxvnni = (r[0] >> 4) & 1;
      f.avx512bf16 = (r[0] >> 5) & 1;
    }
  }
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Generic:
      return "generic";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "unknown";
}

Isa parse_isa(const std::string& name) {
  if (name == "generic") return Isa::Generic;
  if (name == "avx2") return Isa::Avx2;
  if (name == "avx512") return Isa::Avx512;
  throw ValueError("unknown ISA '" + name + "': expected one of 'generic', 'avx2', 'avx512'");
}

bool isa_compiled(Isa isa) {
  switch (isa) {
    case Isa::Generic:
      return true;
    case Isa::Avx2:
#if LSTMRT_HAVE_AVX2
      return true;
#else
      return false;
#endif
    case Isa::Avx512:
#if LSTMRT_HAVE_AVX512
      return true;
#else
      return false;
#endif
  }
  return false;
}

namespace {

// LSTMRT_DISABLE_ISA=avx512[,avx2] treats those paths as absent, as on a CPU without them: to
// avoid a path (AVX-512 lowers the clock of some older Intel CPUs), and to test the refusal of
// a path the CPU lacks on a machine that has them all. The generic path cannot be disabled.
bool isa_disabled(Isa isa) {
  static const std::string disabled = [] {
    const char* env = std::getenv("LSTMRT_DISABLE_ISA");
    return "," + std::string(env ? env : "") + ",";
  }();
  return isa != Isa::Generic && disabled.find("," + std::string(isa_name(isa)) + ",") != std::string::npos;
}

}  // namespace

bool isa_supported(Isa isa) {
  if (!isa_compiled(isa) || isa_disabled(isa)) return false;
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::Generic:
      return true;
    case Isa::Avx2:
      return f.avx && f.avx2 && f.fma && f.os_saves_ymm;
    case Isa::Avx512:
      return f.avx512f && f.avx512dq && f.avx512bw && f.avx512vl && f.avx2 && f.fma && f.os_saves_zmm;
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

std::vector<Isa> compiled_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512})
    if (isa_compiled(isa)) out.push_back(isa);
  return out;
}

}  // namespace lstmrt
