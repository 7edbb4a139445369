#!/usr/bin/env bash
# Builds lstmrt._core with AddressSanitizer and UndefinedBehaviorSanitizer (LSTMRT_SANITIZE=ON)
# into build/sanitize and runs a representative part of the test suite on it: the layers on every
# ISA, sessions, streams, pools, bad input, the fuzz corpus replay and the low-precision paths. Any sanitizer report fails.
# Arguments, when given, replace that selection (pytest arguments: paths, -k, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build/sanitize}"
PKG="$BUILD_DIR/pkg"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLSTMRT_SANITIZE=ON \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build "$BUILD_DIR"
# The Python sources with the sanitized module beside them, apart from any other build.
rm -rf "$PKG" && mkdir -p "$PKG"
cp -r python/lstmrt "$PKG/lstmrt"
rm -f "$PKG"/lstmrt/_core*.so
cp "$BUILD_DIR"/_core*.so "$PKG/lstmrt/"
# Python itself is not instrumented: the ASan runtime is preloaded (with libstdc++, whose
# __cxa_throw ASan must find at start-up), and leaks are not checked (the interpreter keeps its
# objects to the end); an allocation too large for the machine fails as it would without ASan
# instead of aborting. Any report aborts the run; pytest captures only sys.stderr, so the
# report reaches the terminal.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export PYTHONPATH="$PWD/$PKG"
python3 -c "import lstmrt, sys; assert lstmrt.__file__.startswith('$PWD/$PKG'), lstmrt.__file__"
if [ "$#" -eq 0 ]; then
  set -- tests/test_isa_paths.py tests/test_layers.py tests/test_layer_stream.py tests/test_bad_input.py \
    tests/test_session_api.py tests/test_session_errors.py tests/test_session_ops.py tests/test_session_rnn.py \
    tests/test_session_stream.py tests/test_stream_carry.py tests/test_session_robustness.py tests/fuzz \
    tests/test_lowp_kernels.py tests/test_precision.py tests/test_session_quantized.py \
    tests/test_isa_window.py tests/test_session_conv.py tests/test_session_conv_shifted.py \
    tests/test_session_conv_zero_tail.py tests/test_session_reduce_rows.py tests/test_session_profile.py \
    tests/test_session_conv_paths_random.py tests/test_session_conv_fft.py tests/test_session_conv_thread_split.py \
    tests/test_session_conv_shared_scratch.py tests/test_session_spectral.py
fi
exec python3 -m pytest -q -p no:cacheprovider --capture=sys "$@"
