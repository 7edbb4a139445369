// cpu_info(), and choosing the kernel path.
#include <pybind11/stl.h>

#include "bindings.h"
#include "lstmrt/cpu_features.h"
#include "lstmrt/kernels.h"
#include "lstmrt/threading.h"

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
  m.def("set_isa", [](const std::string& name) { return std::string(isa_name(set_active_isa(parse_isa(name)))); },
        py::arg("name"), "Forces the kernel path for the process; returns the previous one.");
  m.def("get_isa", []() { return std::string(isa_name(kernels().isa)); });
}

}  // namespace lstmrt
