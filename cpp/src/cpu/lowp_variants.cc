#include "cpu/lowp_variants.h"

#include "cpu/lowp_convert.h"
#include "lstmrt/cpu_features.h"

namespace lstmrt {
namespace {

struct Candidate {
  const char* name;
  WeightType type;
  Isa isa;          // the kernel path it belongs to (its base instructions)
  bool extension;   // the extra CPU feature it needs beyond that path
  LowpGemmFn (*get)();
};

std::vector<Candidate> candidates() {
  const CpuFeatures& f = cpu_features();
  std::vector<Candidate> c = {{"generic", WeightType::I8, Isa::Generic, true, &lowp_generic_i8},
                              {"generic", WeightType::BF16, Isa::Generic, true, &lowp_generic_bf16}};
#if LSTMRT_HAVE_LOWP_AVX2
  c.push_back({"avx2", WeightType::I8, Isa::Avx2, true, &lowp_avx2_i8});
  c.push_back({"avx2", WeightType::BF16, Isa::Avx2, true, &lowp_avx2_bf16});
  c.push_back({"avx2_vnni", WeightType::I8, Isa::Avx2, f.avxvnni, &lowp_avx2_vnni_i8});
#endif
#if LSTMRT_HAVE_LOWP_AVX512
  c.push_back({"avx512", WeightType::BF16, Isa::Avx512, true, &lowp_avx512_bf16});
  c.push_back({"avx512_vnni", WeightType::I8, Isa::Avx512, f.avx512vnni, &lowp_avx512_vnni_i8});
  c.push_back({"avx512_bf16", WeightType::BF16, Isa::Avx512, f.avx512bf16, &lowp_avx512_bf16_bf16});
  c.push_back({"amx", WeightType::I8, Isa::Avx512, f.avx512vnni && f.amx_tile && f.amx_int8 && f.os_grants_amx,
               &lowp_amx_i8});
  c.push_back({"amx", WeightType::BF16, Isa::Avx512, f.avx512bf16 && f.amx_tile && f.amx_bf16 && f.os_grants_amx,
               &lowp_amx_bf16});
#endif
  return c;
}

}  // namespace

const std::vector<LowpVariant>& lowp_variants() {
  static const std::vector<LowpVariant> all = [] {
    std::vector<LowpVariant> out;
    for (const Candidate& c : candidates())
      out.push_back({c.name, c.type, isa_supported(c.isa) && c.extension, c.get()});
    return out;
  }();
  return all;
}

void fill_lowp_kernels(KernelTable& t, Isa isa) {
  t.quantize_u8 = &quantize_row_u8;
  t.convert_bf16 = &convert_row_bf16;
#if LSTMRT_HAVE_LOWP_AVX512
  if (isa == Isa::Avx512 && isa_supported(Isa::Avx512)) {
    t.quantize_u8 = lowp_avx512_quantize_u8();
    t.convert_bf16 = lowp_avx512_convert_bf16();
  }
#endif
  // Candidates run from the most portable to the fastest: the last one this path may use wins.
  for (const Candidate& c : candidates()) {
    if (static_cast<int>(c.isa) > static_cast<int>(isa) || !c.extension) continue;
    if (isa != Isa::Generic && !isa_supported(c.isa)) continue;
    if (c.type == WeightType::I8) {
      t.gemm_i8 = c.get();
      t.i8_variant = c.name;
    } else {
      t.gemm_bf16 = c.get();
      t.bf16_variant = c.name;
    }
  }
}

}  // namespace lstmrt
