"""How Python code reaches the compiled kernels: loaded on first use, with arguments in the one dtype and layout
each kernel is compiled for (float64 / int64, C-contiguous), so every caller hits the same specialisation.

numba-free: importing this module does not import numba; :func:`compiled` does, on its first call.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

_LOADED: list[ModuleType] = []


def compiled() -> ModuleType:
    """:mod:`hetserve_env.kernels.compiled` (numba and the machine code load on the first call)."""
    if not _LOADED:
        from . import compiled as module

        _LOADED.append(module)
    return _LOADED[0]


def as_float64(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous float64 array (no copy when it already is one)."""
    return np.ascontiguousarray(a, dtype=np.float64)


def as_int64(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous int64 array (no copy when it already is one)."""
    return np.ascontiguousarray(a, dtype=np.int64)
