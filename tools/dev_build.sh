#!/usr/bin/env bash
# Developer build: compiles lstmrt._core into build/dev and copies it next to the Python sources,
# so that `PYTHONPATH=python python -m pytest` runs against the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build/dev}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build "$BUILD_DIR"
# Copy, then rename over the old file: a process that has the old module loaded keeps its
# (now unlinked) file instead of crashing with SIGBUS when the file changes under it.
for so in "$BUILD_DIR"/_core*.so; do
  cp "$so" "python/lstmrt/.$(basename "$so").tmp"
  mv -f "python/lstmrt/.$(basename "$so").tmp" "python/lstmrt/$(basename "$so")"
done
