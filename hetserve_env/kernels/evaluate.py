"""``evaluate_core``: the cost terms, per-type/template arrays and every violation of one allocation.

:func:`hetserve_env.allocation.evaluate` (and the environment's step) call it; see ``evaluate`` for the
meaning of every term. The helpers below are its stages, in its order of floating-point operations (the
golden numbers depend on that order).
"""

from __future__ import annotations

import numba
import numpy as np

from .records import EvaluationArrays
from .sums import npsum

_jit = numba.njit(cache=True, nogil=True)

(V_COVERAGE, V_MAX_UNMET, V_CAPACITY, V_ERROR_SLO, V_DELAY_SLO, V_UNSERVABLE, V_ROUTING_RANGE, V_UNMET_RANGE,
 V_INTEGRALITY, V_BUDGET, V_INVENTORY, V_STORAGE) = range(12)


@_jit
def _npmax(a, b):
    """``np.maximum`` of two floats (NaN propagates, unlike ``max``)."""
    if np.isnan(a) or np.isnan(b):
        return np.nan
    return a if a >= b else b


@_jit
def _nanmax_col(x, d, mask_ok, ok, absval):
    """numpy's column max of ``x[:, d]`` (NaN propagates); with ``mask_ok`` entries where ``ok`` are 0."""
    m = -np.inf
    for i in range(x.shape[0]):
        v = x[i, d]
        if mask_ok:
            v = v * (0.0 if ok[i, d] else 1.0)
        if absval:
            v = abs(v)
        if np.isnan(v):
            return v
        if v > m:
            m = v
    return m


@_jit
def _load_and_latency(p, serving, x, load_latency):
    """Load (replica-units) and utilisation per template and the latency the penalties use (I, D)."""
    I, D = p.capacity.shape
    load = np.zeros(D)
    for i in range(I):
        li = p.rate[i]
        for d in range(D):
            c = p.capacity[i, d]
            if c > 0:
                load[d] += li * x[i, d] / c
            else:
                load[d] += li * x[i, d] * 0.0
    util = np.empty(D)
    for d in range(D):
        if serving[d] > 0:
            util[d] = load[d] / serving[d]
        else:
            util[d] = np.inf if load[d] > 0 else 0.0
    if load_latency:
        lat = np.empty((I, D))
        for i in range(I):
            for d in range(D):
                denom = 1.0 - util[d] * p.load_slope[i, d]
                v = p.latency[i, d] / denom if denom > 0 else np.inf
                lat[i, d] = p.window_s if v > p.window_s else v
    else:
        lat = p.latency
    return load, util, lat


@_jit
def _fleet_money(p, R, serving):
    """Billed and rental $/h, the GB of weights deployed and the GPUs in use per GPU type."""
    D = R.shape[0]
    billed = 0.0
    rental = 0.0
    for d in range(D):
        billed += p.cost[d] * R[d]
        rental += p.cost[d] * serving[d]
    deployed = np.zeros(p.artifact_gb.shape[0], dtype=np.bool_)
    for d in range(D):
        if R[d] > 0:
            deployed[p.template_artifact[d]] = True
    storage_used = npsum(p.artifact_gb[deployed])
    gpus_by_type = np.zeros(p.n_gpu_types)
    for d in range(D):
        gpus_by_type[p.template_gpu[d]] += R[d] * p.gpus[d]
    return billed, rental, storage_used, gpus_by_type


@_jit
def _type_sums(p, lat, x):
    """Per type: served share, error-weighted share, latency-weighted share and share served late."""
    I, D = x.shape
    served = np.zeros(I)
    err_sum = np.zeros(I)
    lat_sum = np.zeros(I)
    late = np.zeros(I)
    b_x = np.empty(D)
    b_e = np.empty(D)
    b_l = np.empty(D)
    b_t = np.empty(D)
    for i in range(I):
        thr = p.delay_slo[i] * (1 + 1e-9)
        for d in range(D):
            xv = x[i, d]
            b_x[d] = xv
            b_e[d] = p.error[i, d] * xv
            b_l[d] = lat[i, d] * xv
            b_t[d] = xv if lat[i, d] > thr else 0.0
        served[i], err_sum[i], lat_sum[i], late[i] = npsum(b_x), npsum(b_e), npsum(b_l), npsum(b_t)
    return served, err_sum, lat_sum, late


@_jit
def _violations(p, a, load, ok, served, err_excess, late, billed, storage_used, gpus_by_type, load_latency, tol):
    """Every violation (family code, index, amount), in evaluate's order (family, then index)."""
    I, D = p.capacity.shape
    G = p.n_gpu_types
    x, u, R, serving = a.routing, a.unmet, a.replicas, a.serving
    cap_v = 3 * I + 5 * I + 4 * D + G + 2
    vf = np.empty(cap_v, dtype=np.int64)
    vi = np.empty(cap_v, dtype=np.int64)
    va = np.empty(cap_v)
    n = 0
    for i in range(I):
        gap = abs(served[i] + u[i] - 1)
        if gap > tol:
            vf[n], vi[n], va[n] = V_COVERAGE, i, gap
            n += 1
    for i in range(I):
        if u[i] > p.max_unmet[i] + tol:
            vf[n], vi[n], va[n] = V_MAX_UNMET, i, u[i] - p.max_unmet[i]
            n += 1
    for d in range(D):
        if load[d] > serving[d] + tol * max(1.0, serving[d]):
            vf[n], vi[n], va[n] = V_CAPACITY, d, load[d] - serving[d]
            n += 1
    for i in range(I):
        if err_excess[i] > tol:
            vf[n], vi[n], va[n] = V_ERROR_SLO, i, err_excess[i]
            n += 1
    if load_latency:
        for i in range(I):
            if late[i] > tol:
                vf[n], vi[n], va[n] = V_DELAY_SLO, i, late[i]
                n += 1
    n = _routing_violations(x, ok, u, R, tol, vf, vi, va, n)
    if billed > p.budget + tol:
        vf[n], vi[n], va[n] = V_BUDGET, -1, billed - p.budget
        n += 1
    for g in range(G):
        if gpus_by_type[g] > p.inventory[g] + tol:
            vf[n], vi[n], va[n] = V_INVENTORY, g, gpus_by_type[g] - p.inventory[g]
            n += 1
    if storage_used > p.storage_gb + tol:
        vf[n], vi[n], va[n] = V_STORAGE, -1, storage_used - p.storage_gb
        n += 1
    return vf[:n], vi[:n], va[:n]


@_jit
def _routing_violations(x, ok, u, R, tol, vf, vi, va, n):
    """Append the unservable-route, routing-range, unmet-range and integrality violations; the new count."""
    I, D = x.shape
    for d in range(D):
        bad = False
        for i in range(I):
            if not ok[i, d] and x[i, d] > tol:
                bad = True
        if bad:
            vf[n], vi[n], va[n] = V_UNSERVABLE, d, _nanmax_col(x, d, True, ok, False)
            n += 1
    for d in range(D):
        bad = False
        for i in range(I):
            if x[i, d] < -tol or x[i, d] > 1 + tol:
                bad = True
        if bad:
            vf[n], vi[n], va[n] = V_ROUTING_RANGE, d, _nanmax_col(x, d, False, ok, True)
            n += 1
    for i in range(I):
        if u[i] < -tol:
            vf[n], vi[n], va[n] = V_UNMET_RANGE, i, -u[i]
            n += 1
    for d in range(D):
        frac = abs(R[d] - np.round(R[d]))
        if frac > tol or R[d] < 0:
            vf[n], vi[n], va[n] = V_INTEGRALITY, d, _npmax(frac, -R[d])
            n += 1
    return n


@_jit
def evaluate_core(p, a, load_latency, tol):
    """Cost terms, per-type/template arrays and every violation of allocation ``a`` (an AllocationArrays) on
    problem ``p`` (a ProblemArrays): an EvaluationArrays. ``load_latency`` selects the load-dependent latency."""
    I = p.rate.shape[0]
    x, u = a.routing, a.unmet
    load, util, lat = _load_and_latency(p, a.serving, x, load_latency)
    billed, rental, storage_used, gpus_by_type = _fleet_money(p, a.replicas, a.serving)
    served, err_sum, lat_sum, late = _type_sums(p, lat, x)
    err_excess = err_sum - p.error_slo * served
    unmet_pen = 0.0
    delay_pen = 0.0
    error_pen = 0.0
    for i in range(I):
        ph = 3600.0 * p.rate[i]
        unmet_pen += ph * (p.unmet_penalty[i] * u[i])
        delay_pen += ph * (p.delay_penalty[i] * lat_sum[i])
        error_pen += ph * (p.error_penalty[i] * _npmax(err_excess[i], 0.0))
    storage = p.storage_cost * storage_used
    mean_error = np.zeros(I)
    for i in range(I):
        if served[i] > 0:
            mean_error[i] = err_sum[i] / served[i]
    vf, vi, va = _violations(p, a, load, p.capacity > 0, served, err_excess, late, billed, storage_used,
                             gpus_by_type, load_latency, tol)
    return EvaluationArrays(billed, rental, billed - rental, storage, unmet_pen, delay_pen, error_pen,
                            billed + storage + unmet_pen + delay_pen + error_pen, storage_used, util, lat, served,
                            served - late, mean_error, gpus_by_type, vf, vi, va)
