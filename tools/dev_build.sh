#!/usr/bin/env bash
# Developer build: compiles lstmrt._core into build/dev and copies it next to the Python sources,
# so that `PYTHONPATH=python python -m pytest` runs against the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build build/dev
cp build/dev/_core*.so python/lstmrt/
