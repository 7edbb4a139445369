"""pytest setup for the benchmarks: shows the machine and the versions being
compared in the report header."""

import os


def pytest_report_header(config):
    lines = []
    try:
        import lstmrt

        info = lstmrt.cpu_info()
        lines.append(f"lstmrt {lstmrt.__version__}: isa={info['isa']} "
                     f"supported={info['supported_isas']} threads={info.get('default_threads')}")
    except Exception as e:  # the header must not hide the real import error from the tests
        lines.append(f"lstmrt: not importable ({e})")
    try:
        import onnxruntime

        lines.append(f"onnxruntime {onnxruntime.__version__}")
    except Exception:
        lines.append("onnxruntime: not installed (its benchmarks are skipped)")
    lines.append(f"cpus visible: {os.cpu_count()}")
    return lines
