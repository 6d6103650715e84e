"""Compiled (numba) numeric cores: ``evaluate``, the greedy router and the environment's fleet update.

Why compiled: one environment step works on a few hundred templates and a handful of query types; written
with numpy it was ~150 small array calls whose fixed per-call cost (1-5 µs each) was the whole step time.
These functions are *the* implementations, not copies: :func:`hetserve_env.allocation.evaluate` calls
:func:`evaluate_core`, ``route(..., "greedy")`` calls :func:`route_greedy_core`, and ``HetServeEnv.step``
calls :func:`env_step` (which calls the same two). The Python wrappers validate inputs, coerce dtypes (one
compiled specialisation: float64 / int64, C-contiguous) and build the user-facing objects.

``cache=True``: numba compiles on first use and stores the machine code in ``__pycache__`` next to this file,
so later processes (test workers, vector-env subprocesses) load it instead of recompiling. This module
imports numba; ``import hetserve_env`` does not import it (the wrappers import this module on first call).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)

# ------------------------------------------------------------------------------------------- sums
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


# ------------------------------------------------------------------------------------------- evaluate
#: Violation families in the order evaluate reports them (codes returned by evaluate_core).
VIOLATION_FAMILIES = ("coverage", "max_unmet", "capacity", "error_slo", "delay_slo", "unservable_route",
                      "routing_range", "unmet_range", "integrality", "budget", "inventory", "storage")
#: What the index of each family refers to: type, template, GPU type or nothing.
FAMILY_INDEX = ("type", "type", "template", "type", "type", "template", "template", "type", "template", "", "gpu", "")
_TEMPLATE_FAMILY = np.array([k == "template" for k in FAMILY_INDEX])
(V_COVERAGE, V_MAX_UNMET, V_CAPACITY, V_ERROR_SLO, V_DELAY_SLO, V_UNSERVABLE, V_ROUTING_RANGE, V_UNMET_RANGE,
 V_INTEGRALITY, V_BUDGET, V_INVENTORY, V_STORAGE) = range(12)

#: Positions in evaluate_core's scalar output.
S_BILLED, S_RENTAL, S_COLD_START, S_STORAGE, S_UNMET, S_DELAY, S_ERROR, S_OBJECTIVE, S_STORAGE_USED = range(9)


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
def evaluate_core(rate, capacity, latency, load_slope, error, error_slo, delay_slo, max_unmet, unmet_penalty,
                  delay_penalty, error_penalty, cost, template_gpu, template_artifact, gpus, inventory, artifact_gb,
                  budget, storage_gb, storage_cost, window_s, n_gpu_types, R, serving, x, u, load_latency, tol):
    """Cost terms, per-type/template arrays and every violation (family, index, amount) of one allocation.

    Returns (scalars (9,), utilisation (D,), latency (I, D), served (I,), on_time (I,), mean_error (I,),
    gpus_by_type (G,), violation family codes, indices, amounts, number of violations). See
    :func:`hetserve_env.allocation.evaluate` for the meaning of every term.
    """
    I, D = capacity.shape
    ok = capacity > 0
    # capacity: sum_i rate_i x_id / mu_id <= serving_d
    load = np.zeros(D)
    for i in range(I):
        li = rate[i]
        for d in range(D):
            c = capacity[i, d]
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
                denom = 1.0 - util[d] * load_slope[i, d]
                v = latency[i, d] / denom if denom > 0 else np.inf
                lat[i, d] = window_s if v > window_s else v
    else:
        lat = latency

    billed = 0.0
    rental = 0.0
    for d in range(D):
        billed += cost[d] * R[d]
        rental += cost[d] * serving[d]
    n_art = artifact_gb.shape[0]
    deployed = np.zeros(n_art, dtype=np.bool_)
    for d in range(D):
        if R[d] > 0:
            deployed[template_artifact[d]] = True
    storage_used = npsum(artifact_gb[deployed])

    served = np.zeros(I)
    err_sum = np.zeros(I)
    lat_sum = np.zeros(I)
    late = np.zeros(I)
    b_x = np.empty(D)
    b_e = np.empty(D)
    b_l = np.empty(D)
    b_t = np.empty(D)
    for i in range(I):
        thr = delay_slo[i] * (1 + 1e-9)
        for d in range(D):
            xv = x[i, d]
            b_x[d] = xv
            b_e[d] = error[i, d] * xv
            b_l[d] = lat[i, d] * xv
            b_t[d] = xv if lat[i, d] > thr else 0.0
        served[i], err_sum[i], lat_sum[i], late[i] = npsum(b_x), npsum(b_e), npsum(b_l), npsum(b_t)
    err_excess = err_sum - error_slo * served
    unmet_pen = 0.0
    delay_pen = 0.0
    error_pen = 0.0
    for i in range(I):
        ph = 3600.0 * rate[i]
        unmet_pen += ph * (unmet_penalty[i] * u[i])
        delay_pen += ph * (delay_penalty[i] * lat_sum[i])
        error_pen += ph * (error_penalty[i] * _npmax(err_excess[i], 0.0))
    storage = storage_cost * storage_used
    mean_error = np.zeros(I)
    for i in range(I):
        if served[i] > 0:
            mean_error[i] = err_sum[i] / served[i]
    gpus_by_type = np.zeros(n_gpu_types)
    for d in range(D):
        gpus_by_type[template_gpu[d]] += R[d] * gpus[d]

    # violations, in evaluate's order (family, then index)
    cap_v = 3 * I + 5 * I + 4 * D + n_gpu_types + 2
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
        if u[i] > max_unmet[i] + tol:
            vf[n], vi[n], va[n] = V_MAX_UNMET, i, u[i] - max_unmet[i]
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
    if billed > budget + tol:
        vf[n], vi[n], va[n] = V_BUDGET, -1, billed - budget
        n += 1
    for g in range(n_gpu_types):
        if gpus_by_type[g] > inventory[g] + tol:
            vf[n], vi[n], va[n] = V_INVENTORY, g, gpus_by_type[g] - inventory[g]
            n += 1
    if storage_used > storage_gb + tol:
        vf[n], vi[n], va[n] = V_STORAGE, -1, storage_used - storage_gb
        n += 1

    scalars = np.empty(9)
    scalars[S_BILLED] = billed
    scalars[S_RENTAL] = rental
    scalars[S_COLD_START] = billed - rental
    scalars[S_STORAGE] = storage
    scalars[S_UNMET] = unmet_pen
    scalars[S_DELAY] = delay_pen
    scalars[S_ERROR] = error_pen
    scalars[S_OBJECTIVE] = billed + storage + unmet_pen + delay_pen + error_pen
    scalars[S_STORAGE_USED] = storage_used
    return scalars, util, lat, served, served - late, mean_error, gpus_by_type, vf[:n], vi[:n], va[:n], n


# ---------------------------------------------------------------------------------------- greedy router
@_jit
def router_objective_core(rate, latency, error, error_slo, unmet_penalty, delay_penalty, error_penalty, x, u):
    """The router's objective in $/h: unmet + zero-load delay + error penalties, as evaluate counts them."""
    I, D = x.shape
    obj = 0.0
    b_l = np.empty(D)
    b_e = np.empty(D)
    for i in range(I):
        for d in range(D):
            b_l[d] = latency[i, d] * x[i, d]
            b_e[d] = error[i, d] * x[i, d]
        ex = npsum(b_e) - error_slo[i] * npsum(x[i])
        ex = ex if ex > 0.0 else 0.0
        obj += 3600.0 * rate[i] * (unmet_penalty[i] * u[i] + delay_penalty[i] * npsum(b_l) + error_penalty[i] * ex)
    return obj


@_jit
def _plans(usable, key, capacity, delay_cost, err_gap):
    """Per type, its usable templates in ascending ``key`` (stable): (count, templates, capacity, delay cost,
    error gap, key), each (I, D) with the first count[i] entries of row i in use."""
    I, D = usable.shape
    count = np.zeros(I, dtype=np.int64)
    cand = np.zeros((I, D), dtype=np.int64)
    cap = np.zeros((I, D))
    dc = np.zeros((I, D))
    gap = np.zeros((I, D))
    ks = np.zeros((I, D))
    idx = np.empty(D, dtype=np.int64)
    for i in range(I):
        n = 0
        for d in range(D):
            if usable[i, d]:
                idx[n] = d
                n += 1
        vals = np.empty(n)
        for k in range(n):
            vals[k] = key[i, idx[k]]
        o = argsort_stable(vals)
        for k in range(n):
            d = idx[o[k]]
            cand[i, k] = d
            cap[i, k] = capacity[i, d]
            dc[i, k] = delay_cost[i, d]
            gap[i, k] = err_gap[i, d]
            ks[i, k] = key[i, d]
        count[i] = n
    return count, cand, cap, dc, gap, ks


@_jit
def _pour(demand, room):
    """Fill ``demand`` into templates in the given order up to each one's ``room``; the amount each takes."""
    n = room.shape[0]
    take = np.empty(n)
    cs = 0.0
    for k in range(n):
        r = room[k]
        cs += r
        before = cs - r  # capacity ahead (exactly 0 for the first: no round-off for tiny demands)
        t = demand - before
        t = t if t > 0.0 else 0.0
        take[k] = t if t < r else r
    return take


@_jit
def _zero_rate(i, x, u, capacity, avail, score):
    """A type with no demand: give its (load-free) share to the best servable template so no unmet share shows."""
    D = capacity.shape[1]
    best_live, best_any = -1, -1
    for d in range(D):
        if capacity[i, d] > 0:
            if best_any < 0 or score[i, d] < score[i, best_any]:
                best_any = d
            if avail[d] > 0 and (best_live < 0 or score[i, d] < score[i, best_live]):
                best_live = d
    if best_any < 0:
        return  # u stays 1: nothing could serve it (evaluate reports max_unmet although the rate is 0)
    d = best_live if best_live >= 0 else best_any
    x[i, d] = 1.0
    u[i] = 0.0


@_jit
def _greedy_pass(rate, capacity, unmet_penalty, error_penalty, avail, order, plans, err_order, err_done, zscore):
    """One sequential pass over the types in ``order``: each pours its demand into its cheapest templates.

    If the delay-cost fill breaks the type's error SLO it also pours in ascending delay + error cost and keeps
    the best convex combination of the two fills (the type's objective is piecewise linear along it: an end,
    or where the error SLO is met exactly). Returns x, u, the router objective ($/h), whether some demand is
    unmet, whether an error SLO is broken and whether some template's capacity ran out.
    ``err_order``/``err_done`` cache the delay + error order per type (shared by passes with the same plans).
    """
    count, cand, pcap, pdc, pgap, pkey = plans
    I, D = capacity.shape
    x = np.zeros((I, D))
    u = np.ones(I)
    units = avail.copy()
    obj = 0.0
    short = False
    errs = False
    drained = False
    for i in order:
        li = rate[i]
        if li <= 0:
            _zero_rate(i, x, u, capacity, avail, zscore)
            continue
        n = count[i]
        if n == 0:
            obj += li * unmet_penalty[i]
            short = True
            continue
        c = cand[i, :n]
        ci = pcap[i, :n]
        dc = pdc[i, :n]
        gap = pgap[i, :n]
        room = np.empty(n)
        for k in range(n):
            room[k] = units[c[k]] * ci[k]  # req/s each template can still take
        take = _pour(li, room)  # error SLO ignored (multiplier 0)
        excess = 0.0
        delay = 0.0
        for k in range(n):
            excess += gap[k] * take[k]
            delay += dc[k] * take[k]
        psi = error_penalty[i]
        if excess > 0 and n > 1:
            if not err_done[i]:
                v = np.empty(n)
                for k in range(n):
                    v[k] = pkey[i, k] + psi * gap[k]
                err_order[i, :n] = argsort_stable(v)
                err_done[i] = True
            o1 = err_order[i, :n]
            room1 = np.empty(n)
            for k in range(n):
                room1[k] = units[c[o1[k]]] * ci[o1[k]]
            take1 = _pour(li, room1)
            excess1 = 0.0
            delay1 = 0.0
            for k in range(n):
                excess1 += gap[o1[k]] * take1[k]
                delay1 += dc[o1[k]] * take1[k]
            if excess1 < excess:
                best = delay + psi * excess
                alpha = 0.0
                n_a = 2 if excess1 < 0 else 1
                for j in range(n_a):
                    a = 1.0 if j == 0 else excess / (excess - excess1)
                    mix = (1 - a) * excess + a * excess1
                    val = (1 - a) * delay + a * delay1 + psi * (mix if mix > 0.0 else 0.0)
                    if val < best - 1e-15:
                        best = val
                        alpha = a
                if alpha > 0:
                    take1_plain = np.empty(n)
                    for k in range(n):
                        take1_plain[o1[k]] = take1[k]  # back to the plain order, then mix
                    for k in range(n):
                        take[k] = (1 - alpha) * take[k] + alpha * take1_plain[k]
                    excess = (1 - alpha) * excess + alpha * excess1
                    delay = (1 - alpha) * delay + alpha * delay1
        for k in range(n):
            d = c[k]
            x[i, d] = take[k] / li
            left = units[d] - take[k] / ci[k]
            if left <= 1e-12:
                left = 0.0
                drained = True
            units[d] = left
        ui = 1.0 - npsum(take) / li
        ui = ui if ui > 0 else 0.0
        u[i] = ui
        if ui > 1e-12:
            short = True
        if excess > 1e-12 * li:
            errs = True
        obj += li * unmet_penalty[i] * ui + delay + psi * (excess if excess > 0 else 0.0)
    return x, u, 3600.0 * obj, short, errs, drained


@_jit
def _pair_pass(rate, capacity, unmet_penalty, error_penalty, avail, usable, delay_cost, err_gap, zscore):
    """Route pair by pair in descending net value per replica-unit, capacity × (unmet penalty − the request's
    own delay and error cost): the fractional-knapsack order of the overloaded LP."""
    I, D = capacity.shape
    m = 0
    for i in range(I):
        if rate[i] > 0:
            for d in range(D):
                if usable[i, d]:
                    m += 1
    ii = np.empty(m, dtype=np.int64)
    dd = np.empty(m, dtype=np.int64)
    neg = np.empty(m)
    m = 0
    for i in range(I):
        if rate[i] > 0:
            for d in range(D):
                if usable[i, d]:
                    g = err_gap[i, d]
                    own = delay_cost[i, d] + error_penalty[i] * (g if g > 0.0 else 0.0)
                    ii[m], dd[m] = i, d
                    neg[m] = -(capacity[i, d] * (unmet_penalty[i] - own))
                    m += 1
    o = argsort_stable(neg)
    rem = rate.copy()
    units = avail.copy()
    x = np.zeros((I, D))
    for k in range(m):
        i, d = ii[o[k]], dd[o[k]]
        c = capacity[i, d]
        r, un = rem[i], units[d]
        if r <= 0 or un <= 0:
            continue
        room = un * c
        take = r if r < room else room
        x[i, d] = take / rate[i]
        rem[i] = r - take
        units[d] = un - take / c if take < room else 0.0
    u = np.empty(I)
    for i in range(I):
        v = 1.0 - npsum(x[i])
        u[i] = v if v > 0.0 else 0.0
    for i in range(I):
        if rate[i] <= 0:
            _zero_rate(i, x, u, capacity, avail, zscore)
    return x, u


@_jit
def _better(obj, best):
    return obj < best - 1e-12 * max(1.0, abs(best))


@_jit
def route_greedy_core(rate, capacity, latency, error, error_slo, unmet_penalty, delay_penalty, error_penalty,
                      avail, passes):
    """Greedy routing (see :mod:`hetserve_env.routing`). Returns (x (I, D), u (I,))."""
    I, D = capacity.shape
    delay_cost = np.empty((I, D))
    err_gap = np.empty((I, D))
    usable = np.zeros((I, D), dtype=np.bool_)
    zscore = np.empty((I, D))
    supply = np.zeros(I)
    replicas_usable = np.zeros(I)
    row = np.empty(D)
    for i in range(I):
        for d in range(D):
            dcv = delay_penalty[i] * latency[i, d]
            g = error[i, d] - error_slo[i]
            delay_cost[i, d] = dcv
            err_gap[i, d] = g
            zscore[i, d] = dcv + error_penalty[i] * g
            # worth using unless a request costs more than leaving it unmet even when the error SLO binds
            us = capacity[i, d] > 0 and avail[d] > 0 and dcv + error_penalty[i] * (g if g > 0.0 else 0.0) < unmet_penalty[i]
            usable[i, d] = us
            row[d] = capacity[i, d] * avail[d] * (1.0 if us else 0.0)
            if us:
                replicas_usable[i] += avail[d]
        supply[i] = npsum(row)  # req/s type i could get with the fleet to itself
    tight = np.empty(I)
    for i in range(I):
        tight[i] = supply[i] / rate[i] if rate[i] > 0 else np.inf
    order = argsort_stable(tight)  # tightest type first
    plans = _plans(usable, delay_cost, capacity, delay_cost, err_gap)
    err_order = np.zeros((I, D), dtype=np.int64)
    err_done = np.zeros(I, dtype=np.bool_)
    x, u, obj, short, errs, drained = _greedy_pass(rate, capacity, unmet_penalty, error_penalty, avail, order,
                                                   plans, err_order, err_done, zscore)
    if passes <= 1 or not (short or errs) or not drained or I == 1:
        return x, u  # no template ran out, so no type's choice depended on the others: the order is irrelevant
    best_obj, best_x, best_u = obj, x, u
    # contested capacity: more candidates, the cheapest routing wins (in this order, so ties keep the earlier):
    # j=0 the reversed type order, j=1 descending unmet value per replica, j=2 the pair-by-pair fill when demand
    # is unmet, j=3 the contention-aware pass. (One call site per pass kind keeps the compiled code small.)
    density = np.empty(I)
    for i in range(I):
        density[i] = -(unmet_penalty[i] * supply[i] / max(replicas_usable[i], 1e-12)) if rate[i] > 0 else -0.0
    for j in range(4):
        if j == 2:
            if short and passes >= 5:
                # overload: fill (type, template) pairs by net value per replica-unit (fractional knapsack)
                x, u = _pair_pass(rate, capacity, unmet_penalty, error_penalty, avail, usable, delay_cost, err_gap, zscore)
                obj = router_objective_core(rate, latency, error, error_slo, unmet_penalty, delay_penalty, error_penalty, x, u)
                if _better(obj, best_obj):
                    best_obj, best_x, best_u = obj, x, u
            continue
        if j < 2:
            if j >= passes - 2:
                continue
            o = order[::-1].copy() if j == 0 else argsort_stable(density)
            same = True
            for k in range(I):
                if o[k] != order[k]:
                    same = False
            if same:
                continue
            pl = plans
            done = err_done
        else:
            if passes < 4:
                continue
            # contention-aware pass (first order): a type also pays, per request, what the types after it would
            # lose per replica-unit it takes (unmet penalty × the share of their demand their supply covers ×
            # their capacity there), so it leaves contested replicas to the types that depend on them
            cover = np.zeros(I)
            for i in range(I):
                if supply[i] > 0:
                    cover[i] = min(1.0, rate[i] / supply[i])
            key = delay_cost.copy()
            acc = np.zeros(D)
            for kk in range(I - 1, -1, -1):
                i = order[kk]
                w = unmet_penalty[i] * cover[i]
                for d in range(D):
                    if usable[i, d]:
                        key[i, d] = delay_cost[i, d] + acc[d] / capacity[i, d]
                    else:
                        key[i, d] = delay_cost[i, d] + 0.0
                    acc[d] = acc[d] + (w * capacity[i, d] if usable[i, d] else w * capacity[i, d] * 0.0)
            pl = _plans(usable, key, capacity, delay_cost, err_gap)
            done = np.zeros(I, dtype=np.bool_)
            o = order
        x, u, obj, _, _, _ = _greedy_pass(rate, capacity, unmet_penalty, error_penalty, avail, o, pl, err_order, done, zscore)
        if _better(obj, best_obj):
            best_obj, best_x, best_u = obj, x, u
    return best_x, best_u


# ------------------------------------------------------------------------------------------ environment
@_jit
def _stored(counts, template_artifact, artifact_gb):
    """The weight artifacts a fleet with replica ``counts`` deploys (bool (A,)) and their GB."""
    dep = np.zeros(artifact_gb.shape[0], dtype=np.bool_)
    for d in range(counts.shape[0]):
        if counts[d] > 0:
            dep[template_artifact[d]] = True
    s = 0.0
    for a in range(dep.shape[0]):
        if dep[a]:
            s += artifact_gb[a]
    return dep, s


@_jit
def limits_broken(target, cost, template_gpu, gpus, inventory, budget, tol, finite_storage, artifact_gb,
                  template_artifact, storage_gb):
    """Which limits a fleet of ``target`` replicas breaks: (over_budget, over_gpu (G,), over_storage)."""
    billed = 0.0
    use = np.zeros(inventory.shape[0])
    for d in range(target.shape[0]):
        billed += cost[d] * target[d]
        use[template_gpu[d]] += gpus[d] * target[d]
    over_gpu = use > inventory
    over_storage = False
    if finite_storage:
        over_storage = _stored(target, template_artifact, artifact_gb)[1] > storage_gb + tol
    return billed > budget + tol, over_gpu, over_storage

@_jit
def enforce_limits(target, current, cost, template_gpu, gpus, inventory, budget, tol, finite_storage, artifact_gb,
                   template_artifact, storage_gb, cheap_first):
    """Clip ``target`` to budget, inventory and storage by dropping new replicas, most expensive first.

    Dropping one new replica at a time from the most expensive template that has some (ties: higher index
    first) until every limit holds keeps the longest cheapest-first prefix of the new replicas that fits
    (every limit grows with the prefix); this finds that prefix in one pass. Returns (target, dropped,
    clipped, over_budget, over_gpu (G,), over_storage): the limits the original target broke, reported only
    when something was dropped.
    """
    D = target.shape[0]
    G = inventory.shape[0]
    A = artifact_gb.shape[0]
    over_budget, over_gpu, over_storage = limits_broken(target, cost, template_gpu, gpus, inventory, budget, tol,
                                                        finite_storage, artifact_gb, template_artifact, storage_gb)
    any_gpu = over_gpu.any()
    no_drop = np.zeros(D, dtype=np.int64)
    if not (over_budget or any_gpu or over_storage):
        return target, no_drop, False, over_budget, over_gpu, over_storage  # within every limit (the common case)
    kept = np.minimum(target, current)
    new = target - kept
    n = np.empty(D, dtype=np.int64)
    for k in range(D):
        n[k] = new[cheap_first[k]]
    base_cost = 0.0
    for d in range(D):
        base_cost += cost[d] * kept[d]
    fits = np.ones(D, dtype=np.bool_)
    cum_cost = np.empty(D)
    cs = 0.0
    for k in range(D):
        cs += n[k] * cost[cheap_first[k]]
        cum_cost[k] = base_cost + cs
        if not cum_cost[k] <= budget + tol:
            fits[k] = False
    base_gpu = np.zeros(G)
    cum_gpu = np.zeros((G, D))
    if any_gpu:  # only the limits the whole target breaks can be broken by a prefix of it
        for d in range(D):
            base_gpu[template_gpu[d]] += gpus[d] * kept[d]
        for g in range(G):
            if over_gpu[g]:
                cg = 0.0
                for k in range(D):
                    d = cheap_first[k]
                    if template_gpu[d] == g:
                        cg += gpus[d] * n[k]
                    cum_gpu[g, k] = base_gpu[g] + cg
                    if not cum_gpu[g, k] <= inventory[g]:
                        fits[k] = False
    inc = np.zeros(D)
    cum_sto = np.zeros(D)
    if over_storage:
        seen, base_sto = _stored(kept, template_artifact, artifact_gb)
        ci = 0.0
        for k in range(D):
            a = template_artifact[cheap_first[k]]
            if n[k] > 0 and not seen[a]:  # the first new replica of an artifact not stored yet
                inc[k] = artifact_gb[a]
                seen[a] = True
            ci += inc[k]
            cum_sto[k] = base_sto + ci
            if not cum_sto[k] <= storage_gb + tol:
                fits[k] = False
    p = -1
    for k in range(D):
        if not fits[k]:
            p = k
            break
    if p < 0:  # round-off at a limit's edge: the whole target fits after all
        return target, no_drop, False, over_budget, over_gpu, over_storage
    # how many replicas of the boundary template still fit (the prefix before it fits every limit)
    d = cheap_first[p]
    k_fit = n[p]
    prev_cost = cum_cost[p - 1] if p > 0 else base_cost
    by_budget = (budget + tol - prev_cost) / cost[d] + 1e-12
    if by_budget < k_fit:
        k_fit = math.floor(by_budget)
    g = template_gpu[d]
    if over_gpu[g]:
        prev_gpu = cum_gpu[g, p - 1] if p > 0 else base_gpu[g]
        k_fit = min(k_fit, int((inventory[g] - prev_gpu) // gpus[d]))
    if over_storage and inc[p] > 0 and cum_sto[p] > storage_gb + tol:
        k_fit = 0  # its weights do not fit in the storage left
    out = kept.copy()
    dropped = np.zeros(D, dtype=np.int64)
    for k in range(D):
        dk = cheap_first[k]
        keep = n[k] if k < p else (max(k_fit, 0) if k == p else 0)
        out[dk] = kept[dk] + keep
        dropped[dk] = n[k] - keep
    return out, dropped, True, over_budget, over_gpu, over_storage


@_jit
def fleet_update(action, delta_mode, ready, warm, max_replicas, avail_by_age, cost, template_gpu, gpus, inventory,
                 budget, tol, finite_storage, artifact_gb, template_artifact, storage_gb, cheap_first):
    """The window boundary: age the cohorts (in place), apply the action, enforce the limits, remove replicas
    (cold-starting ones first, youngest first) and add new ones. ``warm[k]`` holds replicas asked for k windows
    ago that are still starting; ``avail_by_age[k]`` the share of the window a replica of that age serves.

    Returns (target, dropped, clipped, over_budget, over_gpu, over_storage, available replica-equivalents).
    """
    K, D = warm.shape
    for d in range(D):
        ready[d] += warm[K - 1, d]
    for k in range(K - 1, 0, -1):
        for d in range(D):
            warm[k, d] = warm[k - 1, d]
    current = ready.copy()
    for d in range(D):
        warm[0, d] = 0
        for k in range(1, K):
            current[d] += warm[k, d]
    if delta_mode:
        target = np.empty(D, dtype=np.int64)
        for d in range(D):
            v = current[d] + action[d] - 1
            target[d] = 0 if v < 0 else (max_replicas if v > max_replicas else v)
    else:
        target = action
    target, dropped, clipped, over_budget, over_gpu, over_storage = enforce_limits(
        target, current, cost, template_gpu, gpus, inventory, budget, tol, finite_storage, artifact_gb,
        template_artifact, storage_gb, cheap_first)
    for d in range(D):
        diff = target[d] - current[d]
        if diff < 0:
            rem = -diff
            for k in range(1, K):  # youngest cold-starting cohorts first
                take = min(warm[k, d], rem)
                warm[k, d] -= take
                rem -= take
            ready[d] -= rem
        else:
            warm[0, d] = diff
    available = np.empty(D)
    for d in range(D):
        s = 0.0
        for k in range(K):
            s += avail_by_age[k, d] * warm[k, d]
        available[d] = ready[d] + s
    return target, dropped, clipped, over_budget, over_gpu, over_storage, available


@_jit
def window_outcome(target, available, pairs, rate, delay_slo, error_slo, max_unmet, unmet_penalty, delay_penalty,
                   error_penalty, cost, template_gpu, template_artifact, gpus, inventory, artifact_gb, budget, storage_gb,
                   storage_cost, window_s, n_gpu_types, tol, route_here, x_given, u_given):
    """Route and price one window on the billed templates only (the others carry no load and no cost).

    ``pairs`` (4, I, D): capacity, latency, load slope, error of the window's token mix. With ``route_here``
    the greedy router places the demand; otherwise ``x_given``/``u_given`` (on the billed templates) are used.
    Returns (billed template indices, their availability, x, u, evaluate_core's outputs).
    """
    D = target.shape[0]
    I = rate.shape[0]
    m = 0
    for d in range(D):
        if target[d] != 0:
            m += 1
    act = np.empty(m, dtype=np.int64)
    m = 0
    for d in range(D):
        if target[d] != 0:
            act[m] = d
            m += 1
    cap = np.empty((I, m))
    lat = np.empty((I, m))
    slope = np.empty((I, m))
    err = np.empty((I, m))
    for i in range(I):
        for k in range(m):
            d = act[k]
            cap[i, k] = pairs[0, i, d]
            lat[i, k] = pairs[1, i, d]
            slope[i, k] = pairs[2, i, d]
            err[i, k] = pairs[3, i, d]
    cost_a = np.empty(m)
    tgpu_a = np.empty(m, dtype=np.int64)
    tart_a = np.empty(m, dtype=np.int64)
    gpus_a = np.empty(m, dtype=np.int64)
    R = np.empty(m)
    avail_a = np.empty(m)
    serving = np.empty(m)
    for k in range(m):
        d = act[k]
        cost_a[k], tgpu_a[k], tart_a[k], gpus_a[k] = cost[d], template_gpu[d], template_artifact[d], gpus[d]
        R[k] = target[d]
        avail_a[k] = available[d]
        serving[k] = min(available[d], R[k])
    if route_here:
        x, u = route_greedy_core(rate, cap, lat, err, error_slo, unmet_penalty, delay_penalty, error_penalty, avail_a,
                                 np.int64(5))  # np.int64: the signature route() compiles, not a literal
    else:
        x, u = x_given, u_given
    ev = evaluate_core(rate, cap, lat, slope, err, error_slo, delay_slo, max_unmet, unmet_penalty, delay_penalty,
                       error_penalty, cost_a, tgpu_a, tart_a, gpus_a, inventory, artifact_gb, budget, storage_gb,
                       storage_cost, window_s, n_gpu_types, R, serving, x, u, np.bool_(True), tol)
    return act, avail_a, x, u, ev


@_jit
def observe(obs, t, history, rate_obs, tok_obs, time_obs, ready, warm, next_full, max_replicas, attain, budget_used):
    """Fill the observation vector (layout in HetServeEnv's docstring) for the window ``t`` about to be played."""
    I = rate_obs.shape[1]
    K, D = warm.shape
    j = 0
    for h in range(t, t + history):
        for i in range(I):
            obs[j] = rate_obs[h, i]
            j += 1
    row = t + history - 1
    for i in range(tok_obs.shape[1]):
        obs[j] = tok_obs[row, i]
        j += 1
    inv_r = 1.0 / max_replicas
    for d in range(D):
        serving = ready[d]
        total = ready[d]
        if K > 1:
            for k in range(K):
                total += warm[k, d]
                if next_full[k, d]:
                    serving += warm[k, d]
        else:  # one cohort (cold starts within a window, the common case): it serves fully from the next window
            serving += warm[0, d]
            total += warm[0, d]
        obs[j + d] = serving * inv_r
        obs[j + D + d] = (total - serving) * inv_r
    j += 2 * D
    obs[j] = time_obs[t, 0]
    obs[j + 1] = time_obs[t, 1]
    j += 2
    for i in range(I):
        obs[j + i] = attain[i]
    j += I
    obs[j] = min(max(budget_used, 0.0), 1.0)
    return obs


#: Layout of env_window's float output (after these come on_time (I,), gpus_by_type (G,), over_gpu (G,)).
N_COST = 8  # rental, cold_start, storage, unmet_penalty, delay_penalty, error_penalty, clip_penalty, total ($)
(E_SERVED, E_UNMET, E_OVERALL, E_BUDGET_USED, E_CLIPPED, E_OVER_BUDGET, E_OVER_STORAGE, E_N_VIOL) = range(N_COST, N_COST + 8)
E_HEAD = N_COST + 8


@_jit
def env_window(target, dropped, clipped, over_budget, over_gpu, over_storage, available, pairs_all, row, rate_all, h,
               delay_slo, error_slo, max_unmet, unmet_penalty, delay_penalty, error_penalty, storage_cost, window_s,
               n_gpu_types, cost, template_gpu, template_artifact, gpus, inventory, artifact_gb, budget, storage_gb, tol,
               hours, clip_penalty, obs, t, history, rate_obs, tok_obs, time_obs, ready, warm, next_full, max_replicas,
               rec_avail, rec_served, rec_gpus, route_here, x_given, u_given):
    """The window after the fleet update: route (greedy, or the given x/u on the billed templates), evaluate,
    money of the window in $, per-type outcome, records for rendering and the next observation (into ``obs``).

    Returns (billed templates, x, u, floats, violations) with few arrays (each returned array costs boxing
    time): floats = the N_COST money terms, served, unmet, overall attainment, budget share, clipped, over
    budget, over storage, number of violations, then on_time (I,), gpus_by_type (G,), over_gpu (G,);
    violations = (family, index) pairs, template indices in the full template set.
    """
    pairs = pairs_all[row]
    rate = rate_all[h]
    act, avail_a, x, u, ev = window_outcome(
        target, available, pairs, rate, delay_slo, error_slo, max_unmet, unmet_penalty, delay_penalty, error_penalty,
        cost, template_gpu, template_artifact, gpus, inventory, artifact_gb, budget, storage_gb, storage_cost, window_s,
        n_gpu_types, tol, route_here, x_given, u_given)
    scalars, served_share, on_time_share, gpus_by_type = ev[0], ev[3], ev[4], ev[6]
    vf, vi, n_viol = ev[7], ev[8], ev[10]
    attain, served, unmet, overall, budget_used = outcome_stats(rate, served_share, on_time_share, u, scalars[S_BILLED],
                                                                budget)
    observe(obs, t + 1, history, rate_obs, tok_obs, time_obs, ready, warm, next_full, max_replicas, attain, budget_used)
    I = rate.shape[0]
    G = n_gpu_types
    D = target.shape[0]
    out = np.empty(E_HEAD + I + 2 * G)
    out[0] = scalars[S_RENTAL] * hours
    out[1] = scalars[S_COLD_START] * hours
    out[2] = scalars[S_STORAGE] * hours
    out[3] = scalars[S_UNMET] * hours
    out[4] = scalars[S_DELAY] * hours
    out[5] = scalars[S_ERROR] * hours
    if clipped:
        dropped_cost = 0.0
        for d in range(D):
            dropped_cost += cost[d] * dropped[d]
        out[6] = clip_penalty * dropped_cost * hours
    else:
        out[6] = 0.0
    total = 0.0
    for j in range(7):
        total += out[j]
    out[7] = total
    out[E_SERVED] = served
    out[E_UNMET] = unmet
    out[E_OVERALL] = overall
    out[E_BUDGET_USED] = budget_used
    out[E_CLIPPED] = 1.0 if clipped else 0.0
    out[E_OVER_BUDGET] = 1.0 if over_budget else 0.0
    out[E_OVER_STORAGE] = 1.0 if over_storage else 0.0
    out[E_N_VIOL] = n_viol
    for i in range(I):
        out[E_HEAD + i] = attain[i]
    for g in range(G):
        out[E_HEAD + I + g] = gpus_by_type[g]
        rec_gpus[t, g] = gpus_by_type[g]
        out[E_HEAD + I + G + g] = 1.0 if over_gpu[g] else 0.0
    for d in range(D):
        rec_avail[t, d] = available[d]
    rec_served[t] = served
    viol = np.empty(2 * n_viol, dtype=np.int64)
    for j in range(n_viol):
        f = vf[j]
        viol[2 * j] = f
        viol[2 * j + 1] = act[vi[j]] if _TEMPLATE_FAMILY[f] else vi[j]
    return act, x, u, out, viol


@_jit
def env_step(action, row, h, t, obs, clip_penalty, delta_mode, ready, warm, max_replicas, avail_by_age, cost, template_gpu, gpus,
             inventory, budget, tol, finite_storage, artifact_gb, template_artifact, storage_gb, cheap_first, pairs_all,
             rate_all, delay_slo, error_slo, max_unmet, unmet_penalty, delay_penalty, error_penalty, storage_cost,
             window_s, n_gpu_types, hours, history, rate_obs, tok_obs, time_obs, next_full, rec_avail,
             rec_served, rec_gpus):
    """One environment step with the greedy router in one compiled call: fleet_update, then env_window.

    The per-step arguments come first (the environment passes the rest as one tuple built at reset).
    Returns (target, billed templates, x, u, floats, violations) (see env_window).
    """
    target, dropped, clipped, over_budget, over_gpu, over_storage, available = fleet_update(
        action, delta_mode, ready, warm, max_replicas, avail_by_age, cost, template_gpu, gpus, inventory, budget, tol,
        finite_storage, artifact_gb, template_artifact, storage_gb, cheap_first)
    act, x, u, out, viol = env_window(
        target, dropped, clipped, over_budget, over_gpu, over_storage, available, pairs_all, row, rate_all, h,
        delay_slo, error_slo, max_unmet, unmet_penalty, delay_penalty, error_penalty, storage_cost, window_s,
        n_gpu_types, cost, template_gpu, template_artifact, gpus, inventory, artifact_gb, budget, storage_gb, tol,
        hours, clip_penalty, obs, t, history, rate_obs, tok_obs, time_obs, ready, warm, next_full, max_replicas,
        rec_avail, rec_served, rec_gpus, np.bool_(True), np.zeros((0, 0)), np.zeros(0))
    return target, act, x, u, out, viol


@_jit
def out_of_range(a, hi):
    """Index of the first entry of ``a`` outside 0..hi, or -1 (action validation without two numpy reductions)."""
    for k in range(a.shape[0]):
        if a[k] < 0 or a[k] > hi:
            return k
    return -1


@_jit
def outcome_stats(rate, served_share, on_time_share, u, billed, budget):
    """SLO attainment per type (clipped to [0, 1]; 1 for a type without demand), served and unmet
    req/s, overall attainment and the budget share of the new fleet (``billed`` $/h, evaluate_core's)."""
    I = rate.shape[0]
    attain = np.empty(I)
    served = 0.0
    unmet = 0.0
    on_time = 0.0
    lam_sum = 0.0
    for i in range(I):
        v = on_time_share[i] if rate[i] > 0 else 1.0
        attain[i] = min(max(v, 0.0), 1.0)
        on_time += rate[i] * on_time_share[i]
        served += rate[i] * served_share[i]
        unmet += rate[i] * u[i]
        lam_sum += rate[i]
    overall = min(max(on_time / lam_sum, 0.0), 1.0) if lam_sum > 0 else 1.0
    return attain, served, unmet, overall, billed / budget
