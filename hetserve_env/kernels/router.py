"""The greedy router, compiled: :func:`route_greedy_core` (see :mod:`hetserve_env.routing` for the method).

``route(..., "greedy")`` and the environment's step call it with a ProblemArrays record; the helpers are its
passes. Every floating-point operation is in the order of the numpy implementation it replaced.
"""

from __future__ import annotations

import numba
import numpy as np

from .sums import argsort_stable, npsum

_jit = numba.njit(cache=True, nogil=True)


@_jit
def router_objective_core(p, x, u):
    """The router's objective in $/h for problem ``p`` (ProblemArrays): unmet + zero-load delay + error
    penalties, as evaluate counts them."""
    I, D = x.shape
    obj = 0.0
    b_l = np.empty(D)
    b_e = np.empty(D)
    for i in range(I):
        for d in range(D):
            b_l[d] = p.latency[i, d] * x[i, d]
            b_e[d] = p.error[i, d] * x[i, d]
        ex = npsum(b_e) - p.error_slo[i] * npsum(x[i])
        ex = ex if ex > 0.0 else 0.0
        obj += 3600.0 * p.rate[i] * (p.unmet_penalty[i] * u[i] + p.delay_penalty[i] * npsum(b_l)
                                     + p.error_penalty[i] * ex)
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
def zero_rate_share(i, x, u, capacity, avail, score):
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
def _error_mix(li, psi, c, ci, dc, gap, order, units, take, excess, delay):
    """The delay-cost fill ``take`` broke the type's error SLO: also pour in ascending delay + error cost
    (``order``) and keep the best convex combination of the two fills (the type's objective is piecewise
    linear along it: an end, or where the error SLO is met exactly). Updates ``take``; returns (excess, delay)."""
    n = c.shape[0]
    room1 = np.empty(n)
    for k in range(n):
        room1[k] = units[c[order[k]]] * ci[order[k]]
    take1 = _pour(li, room1)
    excess1 = 0.0
    delay1 = 0.0
    for k in range(n):
        excess1 += gap[order[k]] * take1[k]
        delay1 += dc[order[k]] * take1[k]
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
                take1_plain[order[k]] = take1[k]  # back to the plain order, then mix
            for k in range(n):
                take[k] = (1 - alpha) * take[k] + alpha * take1_plain[k]
            excess = (1 - alpha) * excess + alpha * excess1
            delay = (1 - alpha) * delay + alpha * delay1
    return excess, delay


@_jit
def _greedy_pass(rate, capacity, unmet_penalty, error_penalty, avail, order, plans, err_order, err_done, zscore):
    """One sequential pass over the types in ``order``: each pours its demand into its cheapest templates
    (then :func:`_error_mix` if that breaks its error SLO). Returns x, u, the router objective ($/h), whether
    some demand is unmet, whether an error SLO is broken and whether some template's capacity ran out.
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
            zero_rate_share(i, x, u, capacity, avail, zscore)
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
            excess, delay = _error_mix(li, psi, c, ci, dc, gap, err_order[i, :n], units, take, excess, delay)
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
            zero_rate_share(i, x, u, capacity, avail, zscore)
    return x, u


@_jit
def _better(obj, best):
    return obj < best - 1e-12 * max(1.0, abs(best))


@_jit
def _pair_tables(p, avail):
    """Per (type, template): delay cost, error gap to the SLO, whether it is worth using, the zero-rate score;
    per type: the req/s it could get with the fleet to itself and the replicas it could use."""
    I, D = p.capacity.shape
    delay_cost = np.empty((I, D))
    err_gap = np.empty((I, D))
    usable = np.zeros((I, D), dtype=np.bool_)
    zscore = np.empty((I, D))
    supply = np.zeros(I)
    replicas_usable = np.zeros(I)
    row = np.empty(D)
    for i in range(I):
        for d in range(D):
            dcv = p.delay_penalty[i] * p.latency[i, d]
            g = p.error[i, d] - p.error_slo[i]
            delay_cost[i, d] = dcv
            err_gap[i, d] = g
            zscore[i, d] = dcv + p.error_penalty[i] * g
            # worth using unless a request costs more than leaving it unmet even when the error SLO binds
            us = (p.capacity[i, d] > 0 and avail[d] > 0
                  and dcv + p.error_penalty[i] * (g if g > 0.0 else 0.0) < p.unmet_penalty[i])
            usable[i, d] = us
            row[d] = p.capacity[i, d] * avail[d] * (1.0 if us else 0.0)
            if us:
                replicas_usable[i] += avail[d]
        supply[i] = npsum(row)  # req/s type i could get with the fleet to itself
    return delay_cost, err_gap, usable, zscore, supply, replicas_usable


@_jit
def _contention_key(p, order, supply, usable, delay_cost):
    """The contention-aware pass's key (first order): a type also pays, per request, what the types after it
    would lose per replica-unit it takes (unmet penalty × the share of their demand their supply covers ×
    their capacity there), so it leaves contested replicas to the types that depend on them."""
    I, D = p.capacity.shape
    cover = np.zeros(I)
    for i in range(I):
        if supply[i] > 0:
            cover[i] = min(1.0, p.rate[i] / supply[i])
    key = delay_cost.copy()
    acc = np.zeros(D)
    for kk in range(I - 1, -1, -1):
        i = order[kk]
        w = p.unmet_penalty[i] * cover[i]
        for d in range(D):
            if usable[i, d]:
                key[i, d] = delay_cost[i, d] + acc[d] / p.capacity[i, d]
            else:
                key[i, d] = delay_cost[i, d] + 0.0
            acc[d] = acc[d] + (w * p.capacity[i, d] if usable[i, d] else w * p.capacity[i, d] * 0.0)
    return key


@_jit
def route_greedy_core(p, avail, passes):
    """Greedy routing of problem ``p`` (ProblemArrays) on ``avail`` replica-equivalents (D,) with up to
    ``passes`` passes (see :mod:`hetserve_env.routing`). Returns (x (I, D), u (I,))."""
    rate, capacity, unmet_penalty, error_penalty = p.rate, p.capacity, p.unmet_penalty, p.error_penalty
    I, D = capacity.shape
    delay_cost, err_gap, usable, zscore, supply, replicas_usable = _pair_tables(p, avail)
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
                x, u = _pair_pass(rate, capacity, unmet_penalty, error_penalty, avail, usable, delay_cost, err_gap,
                                  zscore)
                obj = router_objective_core(p, x, u)
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
            pl = _plans(usable, _contention_key(p, order, supply, usable, delay_cost), capacity, delay_cost, err_gap)
            done = np.zeros(I, dtype=np.bool_)
            o = order
        x, u, obj, _, _, _ = _greedy_pass(rate, capacity, unmet_penalty, error_penalty, avail, o, pl, err_order,
                                          done, zscore)
        if _better(obj, best_obj):
            best_obj, best_x, best_u = obj, x, u
    return best_x, best_u
