#!/usr/bin/env bash
# Developer build: compiles lstmrt._core into build/dev and copies it next to the Python sources,
# so that `PYTHONPATH=python python -m pytest` runs against the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build/dev}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build "$BUILD_DIR"
cp "$BUILD_DIR"/_core*.so python/lstmrt/
