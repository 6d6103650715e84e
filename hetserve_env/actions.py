"""The environment's action rules: validation (a bad action is an error, never reinterpreted), the
per-dimension masks and the action that moves a fleet towards given replica counts.

Why a module of its own: the rules are the same for every episode and do not touch the episode state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .kernels.access import compiled as _kernels


def validate_action(action: Any, *, labels: np.ndarray, hi: int, what: str, mode: str) -> np.ndarray:
    """``action`` as int64 (a copy) if it is an integer array of shape (D,) with entries in 0..hi, else
    ValueError naming the index, the value, the allowed range and the template."""
    a = action if isinstance(action, np.ndarray) else np.asarray(action)
    D = labels.shape[0]
    if a.dtype.kind not in "iu":
        raise ValueError(f"{what} must be an integer array (MultiDiscrete), got dtype {a.dtype}; "
                         "floats and booleans are not converted")
    if a.shape != (D,):
        raise ValueError(f"{what} has shape {a.shape}, expected ({D},) — one entry per template")
    a64 = a.astype(np.int64)  # a copy; a value that wraps (uint64 >= 2**63) turns negative and is caught
    k = int(_kernels().out_of_range(a64, hi))
    if k >= 0:
        meaning = "target replicas" if mode == "target" else "0 remove one / 1 keep / 2 add one"
        raise ValueError(f"{what}[{k}] = {int(a[k])} is out of range 0..{hi} ({meaning}) for template {labels[k]!r}")
    return a64


def delta_mask(current: np.ndarray, max_replicas: int, value_ok: np.ndarray) -> np.ndarray:
    """Delta-mode mask, flat (D·3): remove iff the template has a replica, keep always, add iff the count plus
    one passes ``value_ok`` (R_max+1, D) and R_max."""
    D = current.shape[0]
    up = np.minimum(current + 1, max_replicas)
    add_ok = (current < max_replicas) & value_ok[up, np.arange(D)]
    return np.stack([current > 0, np.ones(D, dtype=bool), add_ok], axis=1).reshape(-1)


def toward_replicas(replicas: np.ndarray, current: np.ndarray, max_replicas: int, delta: bool) -> np.ndarray:
    """A valid action that moves ``current`` towards ``replicas`` (rounded, clipped to 0..R_max): the counts
    themselves in target mode, the sign of the change (+1/−1 per step) in delta mode."""
    r = np.clip(np.rint(np.asarray(replicas, dtype=float)), 0, max_replicas).astype(np.int64)
    if r.shape != current.shape:
        raise ValueError(f"replicas has shape {r.shape}, expected {current.shape}")
    return (np.sign(r - current) + 1).astype(np.int64) if delta else r
