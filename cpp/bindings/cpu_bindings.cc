// cpu_info(), and choosing the kernel path.
#include <pybind11/stl.h>

#include "bindings.h"
#include "cpu/tuning.h"
#include "lstmrt/cpu_features.h"
#include "cpu/kernels.h"
#include "cpu/threading.h"

namespace lstmrt {

void register_cpu(py::module_& m) {
  m.def("cpu_info", []() {
    const CpuFeatures& f = cpu_features();
    py::dict features;
    features["sse2"] = f.sse2;
    features["avx"] = f.avx;
    features["avx2"] = f.avx2;
    features["fma"] = f.fma;
    features["f16c"] = f.f16c;
    features["avx512f"] = f.avx512f;
    features["avx512dq"] = f.avx512dq;
    features["avx512bw"] = f.avx512bw;
    features["avx512vl"] = f.avx512vl;
    features["os_saves_ymm"] = f.os_saves_ymm;
    features["os_saves_zmm"] = f.os_saves_zmm;
    features["avx512_vnni"] = f.avx512vnni;
    features["avx512_bf16"] = f.avx512bf16;
    features["avx_vnni"] = f.avxvnni;
    features["amx_tile"] = f.amx_tile;
    features["amx_bf16"] = f.amx_bf16;
    features["amx_int8"] = f.amx_int8;
    features["os_grants_amx"] = f.os_grants_amx;
    py::list supported, compiled;
    for (Isa isa : supported_isas()) supported.append(isa_name(isa));
    for (Isa isa : compiled_isas()) compiled.append(isa_name(isa));
    py::dict info;
    info["isa"] = isa_name(kernels().isa);
    info["supported_isas"] = supported;
    info["compiled_isas"] = compiled;
    info["vendor"] = f.vendor;
    info["brand"] = f.brand;
    info["features"] = features;
    info["default_threads"] = default_num_threads();
    info["worker_spin_us"] = worker_spin_microseconds();
    info["l2_bytes_per_core"] = f.l2_bytes_per_core;  // 0: the OS did not say
    // Which kernel each low-precision type runs on the active path; "generic" and the emulations
    // ("avx2" and "avx512" for bf16, "avx2" for int8) give the same bits as the native
    // instructions, only slower.
    const KernelTable& kt = kernels();
    py::dict precision;
    precision["bf16"] = kt.bf16_variant;
    precision["bf16_native"] = std::string(kt.bf16_variant) == "avx512_bf16" || std::string(kt.bf16_variant) == "amx";
    precision["int8"] = kt.i8_variant;
    const std::string i8 = kt.i8_variant;
    precision["int8_native"] = i8 == "avx2_vnni" || i8 == "avx512_vnni" || i8 == "amx";
    info["precision_kernels"] = precision;
    return info;
  }, "What the CPU has and which kernel path (ISA) is in use.");
  m.def("tuning", []() {
    const Tuning& t = tuning();
    py::dict d;
    d["l2_bytes"] = t.l2_bytes;
    d["tuned_l2_bytes"] = t.tuned_l2_bytes;
    d["min_step_flops_for_threads"] = t.min_step_flops_for_threads;
    d["min_call_flops_for_threads"] = t.min_call_flops_for_threads;
    d["min_call_flops_to_wake_workers"] = t.min_call_flops_to_wake_workers;
    d["min_rows_per_thread_to_split_rows"] = t.min_rows_per_thread_to_split_rows;
    d["max_shared_recurrent_bytes"] = t.max_shared_recurrent_bytes;
    d["min_rows_per_thread_to_share_more"] = t.min_rows_per_thread_to_share_more;
    d["max_shared_recurrent_bytes_many_rows"] = t.max_shared_recurrent_bytes_many_rows;
    d["max_direction_share_bytes_in_turn"] = t.max_direction_share_bytes_in_turn;
    d["min_rows_for_step_projection"] = t.min_rows_for_step_projection;
    d["max_step_projection_weight_bytes"] = t.max_step_projection_weight_bytes;
    d["max_whole_copy_bytes"] = t.max_whole_copy_bytes;
    d["gemm_min_flops_for_threads"] = t.gemm_min_flops_for_threads;
    d["gemm_min_rows_per_thread"] = t.gemm_min_rows_per_thread;
    d["gemm_max_shared_weight_bytes"] = t.gemm_max_shared_weight_bytes;
    d["gemm_row_block_floats"] = kGemmRowBlockFloats;
    d["cold_output_bytes"] = kColdOutputBytes;
    d["streamed_weight_bytes"] = kStreamedWeightBytes;
    return d;
  }, "The thresholds that decide how calls run (a copy; cpp/src/cpu/tuning.h says what each decides, "
     "bench/TUNING.md how it was measured). l2_bytes: the L2 per core they are seeded from.");
  m.def("set_isa", [](const std::string& name) { return std::string(isa_name(set_active_isa(parse_isa(name)))); },
        py::arg("name"), "Forces the kernel path for the process; returns the previous one.");
  m.def("get_isa", []() { return std::string(isa_name(kernels().isa)); });
}

}  // namespace lstmrt
