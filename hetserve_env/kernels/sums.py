"""numpy's reductions bit for bit, compiled: pairwise sum and stable argsort.

Why: the kernels replaced numpy code whose ``.sum()`` results decided thresholds such as ``u > 1e-12``;
summing in numpy's order keeps every number identical to it, not just equal to round-off.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _block(a, lo, n):
    """numpy's pairwise-summation leaf: ``a[lo:lo + n]`` with n <= 128 (8 accumulators, then the rest)."""
    if n < 8:
        res = 0.0
        for k in range(lo, lo + n):
            res += a[k]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    k = 8
    stop = n - n % 8
    while k < stop:
        b = lo + k
        r0 += a[b]
        r1 += a[b + 1]
        r2 += a[b + 2]
        r3 += a[b + 3]
        r4 += a[b + 4]
        r5 += a[b + 5]
        r6 += a[b + 6]
        r7 += a[b + 7]
        k += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < n:
        res += a[lo + k]
        k += 1
    return res


@_jit
def _pairwise(a):
    """numpy's pairwise summation of ``a`` (blocks of <= 128 halved at multiples of 8), without recursion."""
    n = a.shape[0]
    if n <= 128:
        return _block(a, 0, n)
    los = np.empty(128, dtype=np.int64)
    ns = np.empty(128, dtype=np.int64)
    done = np.empty(128, dtype=np.bool_)
    vals = np.empty(128)
    top = 0
    nv = 0
    los[0], ns[0], done[0] = 0, n, False
    top = 1
    while top > 0:
        top -= 1
        lo, m, children_done = los[top], ns[top], done[top]
        if m <= 128:
            vals[nv] = _block(a, lo, m)
            nv += 1
        elif children_done:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
        else:
            n2 = m // 2
            n2 -= n2 % 8
            los[top], ns[top], done[top] = lo, m, True
            los[top + 1], ns[top + 1], done[top + 1] = lo + n2, m - n2, False
            los[top + 2], ns[top + 2], done[top + 2] = lo, n2, False  # the left half first
            top += 3
    return vals[0]


@_jit
def npsum(a):
    """``a.sum()`` for a 1-D float64 array, bit for bit as numpy computes it (identity 0, then pairwise).

    Used wherever the numpy implementation summed with ``.sum()``, so results match it exactly rather than to
    round-off (thresholds such as ``u > 1e-12`` then decide the same way).
    """
    return 0.0 + _pairwise(a)


@_jit
def _lt(a, b):
    """numpy's sort order for floats: NaN after everything."""
    return a < b or (np.isnan(b) and not np.isnan(a))


@_jit
def argsort_stable(v):
    """``np.argsort(v, kind="stable")``: insertion sort for the short rows the router sorts, merge sort beyond."""
    n = v.shape[0]
    if n > 24:
        return np.argsort(v, kind="mergesort")
    o = np.empty(n, dtype=np.int64)
    for i in range(n):
        key = v[i]
        j = i - 1
        while j >= 0 and _lt(key, v[o[j]]):
            o[j + 1] = o[j]
            j -= 1
        o[j + 1] = i
    return o


