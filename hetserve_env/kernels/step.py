"""One environment step, compiled: :func:`env_step` = :func:`.fleet.fleet_update` then :func:`env_window`.

``HetServeEnv.step`` makes one call per step with the greedy router (``env_step``); with the LP router it
calls ``fleet_update``, routes in Python and then ``env_window`` with the routing. Inputs are the
environment's EnvParams and EnvState records; the results are written into a StepOutput of arrays the
environment allocates once (see :mod:`.records`): returning a fresh record boxed 16 objects per call, about
a tenth of the step's time.
"""

from __future__ import annotations

import numba
import numpy as np

from .evaluate import evaluate_core
from .fleet import fleet_update
from .observe import observe
from .records import FAMILY_INDEX, AllocationArrays, ProblemArrays
from .router import route_greedy_core

_jit = numba.njit(cache=True, nogil=True)

_TEMPLATE_FAMILY = np.array([k == "template" for k in FAMILY_INDEX])
_N_COST = 8  # len(records.COST_TERMS)


@_jit
def out_of_range(a, hi):
    """Index of the first entry of ``a`` outside 0..hi, or -1 (action validation without two numpy reductions)."""
    for k in range(a.shape[0]):
        if a[k] < 0 or a[k] > hi:
            return k
    return -1


@_jit
def billed_problem(params, fleet, pairs, rate):
    """The window's ProblemArrays on its billed templates only (the others carry no load and no cost), their
    indices, and their AllocationArrays' replicas (float) and serving replica-equivalents."""
    lim = params.limits
    target, available = fleet.target, fleet.available
    D = target.shape[0]
    I = rate.shape[0]
    m = 0
    for d in range(D):
        if target[d] != 0:
            m += 1
    billed = np.empty(m, dtype=np.int64)
    m = 0
    for d in range(D):
        if target[d] != 0:
            billed[m] = d
            m += 1
    cap = np.empty((I, m))
    lat = np.empty((I, m))
    slope = np.empty((I, m))
    err = np.empty((I, m))
    for i in range(I):
        for k in range(m):
            d = billed[k]
            cap[i, k] = pairs[0, i, d]
            lat[i, k] = pairs[1, i, d]
            slope[i, k] = pairs[2, i, d]
            err[i, k] = pairs[3, i, d]
    cost, tgpu, tart, gpus = np.empty(m), np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
    R, avail, serving = np.empty(m), np.empty(m), np.empty(m)
    for k in range(m):
        d = billed[k]
        cost[k], tgpu[k], tart[k], gpus[k] = lim.cost[d], lim.template_gpu[d], lim.template_artifact[d], lim.gpus[d]
        R[k] = target[d]
        avail[k] = available[d]
        serving[k] = min(available[d], R[k])
    p = ProblemArrays(rate, cap, lat, slope, err, params.error_slo, params.delay_slo, params.max_unmet,
                      params.unmet_penalty, params.delay_penalty, params.error_penalty, cost, tgpu, tart, gpus,
                      lim.inventory, lim.artifact_gb, lim.budget, lim.storage_gb, params.storage_cost,
                      params.window_s, params.n_gpu_types)
    return p, billed, R, avail, serving


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


@_jit
def _window_costs(out, ev, fleet, params):
    """The COST_TERMS of the window in $ into ``out`` (evaluate's $/h × window hours, the clip penalty, the total)."""
    hours = params.hours
    out[0] = ev.rental * hours
    out[1] = ev.cold_start * hours
    out[2] = ev.storage * hours
    out[3] = ev.unmet_penalty * hours
    out[4] = ev.delay_penalty * hours
    out[5] = ev.error_penalty * hours
    if fleet.clipped:
        dropped_cost = 0.0
        for d in range(fleet.dropped.shape[0]):
            dropped_cost += params.limits.cost[d] * fleet.dropped[d]
        out[6] = params.clip_penalty * dropped_cost * hours
    else:
        out[6] = 0.0
    total = 0.0
    for j in range(_N_COST - 1):
        total += out[j]
    out[_N_COST - 1] = total


@_jit
def clip_code(fleet):
    """``info["clip_reason"]``: bit 0 budget, bit 1 + g inventory of GPU type g, bit 1 + G storage (0 unclipped)."""
    if not fleet.clipped:
        return 0
    G = fleet.over_gpu.shape[0]
    code = 1 if fleet.over_budget else 0
    for g in range(G):
        if fleet.over_gpu[g]:
            code |= 1 << (1 + g)
    if fleet.over_storage:
        code |= 1 << (1 + G)
    return code


@_jit
def _write_violations(out, offsets, ev, billed):
    """Violation amounts at their fixed slots (family block + type/template/GPU index; 0 = not violated)."""
    v = out.violations
    for k in range(v.shape[0]):
        v[k] = 0.0
    for j in range(ev.families.shape[0]):
        f = ev.families[j]
        idx = ev.indices[j]
        if _TEMPLATE_FAMILY[f]:
            idx = billed[idx]
        v[offsets[f] + max(idx, 0)] = ev.amounts[j]


@_jit
def _write_fleet(out, fleet, billed, x, u):
    """Target replicas, the billed templates and the routing on them (columns ``:n_billed``)."""
    D = fleet.target.shape[0]
    m = billed.shape[0]
    I = u.shape[0]
    for d in range(D):
        out.target[d] = fleet.target[d]
    for k in range(m):
        out.billed[k] = billed[k]
    for i in range(I):
        out.unmet[i] = u[i]
        for k in range(m):
            out.routing[i, k] = x[i, k]
    out.flags[0] = 1 if fleet.clipped else 0
    out.flags[1] = clip_code(fleet)
    out.flags[2] = m


@_jit
def _record(state, t, fleet, served, gpus_by_type):
    """The per-step records for rendering (in place): available replica-equivalents, served req/s, GPUs."""
    for g in range(gpus_by_type.shape[0]):
        state.rec_gpus[t, g] = gpus_by_type[g]
    for d in range(fleet.available.shape[0]):
        state.rec_avail[t, d] = fleet.available[d]
    state.rec_served[t] = served


@_jit
def env_window(params, state, fleet, t, out, route_here, x_given, u_given):
    """Episode window ``t`` after the fleet update ``fleet``: route (greedy with ``route_here``, else the given
    x/u on the billed templates), evaluate, the window's money, per-type outcome, the render records (into
    ``state.rec_*``) and the next observation; everything is written into ``out`` (a StepOutput)."""
    pairs = params.pairs[state.perf_row[t]]
    rate = state.rate[t + params.history]
    p, billed, R, avail, serving = billed_problem(params, fleet, pairs, rate)
    if route_here:
        x, u = route_greedy_core(p, avail, np.int64(5))  # np.int64: the signature route() compiles, not a literal
    else:
        x, u = x_given, u_given
    ev = evaluate_core(p, AllocationArrays(R, serving, x, u), np.bool_(True), params.limits.tol)
    attain, served, unmet, overall, budget_used = outcome_stats(rate, ev.served_share, ev.on_time_share, u,
                                                                ev.billed, params.limits.budget)
    observe(out.obs, params, state, t + 1, attain, budget_used)
    _record(state, t, fleet, served, ev.gpus_by_type)
    _window_costs(out.costs, ev, fleet, params)
    out.rates[0], out.rates[1], out.rates[2], out.rates[3] = served, unmet, overall, budget_used
    for i in range(attain.shape[0]):
        out.attainment[i] = attain[i]
    for g in range(ev.gpus_by_type.shape[0]):
        out.gpus_by_type[g] = ev.gpus_by_type[g]
    _write_fleet(out, fleet, billed, x, u)
    _write_violations(out, params.violation_offsets, ev, billed)


@_jit
def env_step(params, state, action, t, out):
    """One environment step with the greedy router in one compiled call: fleet_update, then env_window.
    Updates ``state`` (cohorts, records) and writes the step's results into ``out`` (a StepOutput)."""
    fleet = fleet_update(action, params, state)
    env_window(params, state, fleet, t, out, np.bool_(True), np.zeros((0, 0)), np.zeros(0))
