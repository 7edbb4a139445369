"""Shared pytest setup for the lstmrt tests.

The helper modules (reference, configs, checks, ort_helpers, onnx_backend)
live next to the tests and are imported as top-level modules; this puts
their directory on sys.path whatever import mode pytest runs in.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
