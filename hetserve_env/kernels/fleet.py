"""The window boundary, compiled: cohort ageing, the action, budget/inventory/storage enforcement.

:func:`fleet_update` is the first half of the environment's step; :func:`limits_broken` and
:func:`enforce_limits` are also what ``HetServeEnv.limits_broken`` / ``HetServeEnv.clip_to_limits`` run.
Limits come as a :class:`~hetserve_env.kernels.records.FleetLimits` record; its ``tol`` (``fleet_cost.LIMIT_TOL``,
set by ``env_params.fleet_limits``) is the one tolerance of the budget, inventory and storage checks alike.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .records import FleetUpdate

_jit = numba.njit(cache=True, nogil=True)


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
def limits_broken(target, lim):
    """Which limits of ``lim`` (FleetLimits) a fleet of ``target`` replicas breaks:
    (over_budget, over_gpu (G,), over_storage)."""
    billed = 0.0
    use = np.zeros(lim.inventory.shape[0])
    for d in range(target.shape[0]):
        billed += lim.cost[d] * target[d]
        use[lim.template_gpu[d]] += lim.gpus[d] * target[d]
    over_gpu = use > lim.inventory + lim.tol
    over_storage = False
    if lim.finite_storage:
        over_storage = _stored(target, lim.template_artifact, lim.artifact_gb)[1] > lim.storage_gb + lim.tol
    return billed > lim.budget + lim.tol, over_gpu, over_storage


@_jit
def _prefix_budget(n, kept, lim, fits):
    """$/h of the kept fleet and of each cheapest-first prefix of the new replicas ``n``; marks misfits."""
    D = n.shape[0]
    base_cost = 0.0
    for d in range(D):
        base_cost += lim.cost[d] * kept[d]
    cum_cost = np.empty(D)
    cs = 0.0
    for k in range(D):
        cs += n[k] * lim.cost[lim.cheap_first[k]]
        cum_cost[k] = base_cost + cs
        if not cum_cost[k] <= lim.budget + lim.tol:
            fits[k] = False
    return base_cost, cum_cost


@_jit
def _prefix_gpus(n, kept, lim, over_gpu, fits):
    """GPUs in use of the kept fleet and of each prefix, per GPU type the whole target overdraws; marks misfits.
    (Only the limits the whole target breaks can be broken by a prefix of it.)"""
    D = n.shape[0]
    G = lim.inventory.shape[0]
    base_gpu = np.zeros(G)
    cum_gpu = np.zeros((G, D))
    if over_gpu.any():
        for d in range(D):
            base_gpu[lim.template_gpu[d]] += lim.gpus[d] * kept[d]
        for g in range(G):
            if over_gpu[g]:
                cg = 0.0
                for k in range(D):
                    d = lim.cheap_first[k]
                    if lim.template_gpu[d] == g:
                        cg += lim.gpus[d] * n[k]
                    cum_gpu[g, k] = base_gpu[g] + cg
                    if not cum_gpu[g, k] <= lim.inventory[g] + lim.tol:
                        fits[k] = False
    return base_gpu, cum_gpu


@_jit
def _prefix_storage(n, kept, lim, over_storage, fits):
    """GB each prefix adds (its first replica of an artifact not stored yet) and stores in all; marks misfits."""
    D = n.shape[0]
    inc = np.zeros(D)
    cum_sto = np.zeros(D)
    if over_storage:
        seen, base_sto = _stored(kept, lim.template_artifact, lim.artifact_gb)
        ci = 0.0
        for k in range(D):
            a = lim.template_artifact[lim.cheap_first[k]]
            if n[k] > 0 and not seen[a]:
                inc[k] = lim.artifact_gb[a]
                seen[a] = True
            ci += inc[k]
            cum_sto[k] = base_sto + ci
            if not cum_sto[k] <= lim.storage_gb + lim.tol:
                fits[k] = False
    return inc, cum_sto


@_jit
def enforce_limits(target, current, lim):
    """Clip ``target`` to the limits ``lim`` (FleetLimits) by dropping new replicas (beyond ``current``), most
    expensive first.

    Dropping one new replica at a time from the most expensive template that has some (ties: higher index
    first) until every limit holds keeps the longest cheapest-first prefix of the new replicas that fits
    (every limit grows with the prefix); this finds that prefix in one pass. Returns (target, dropped,
    clipped, over_budget, over_gpu (G,), over_storage): the limits the original target broke, reported only
    when something was dropped.
    """
    D = target.shape[0]
    over_budget, over_gpu, over_storage = limits_broken(target, lim)
    no_drop = np.zeros(D, dtype=np.int64)
    if not (over_budget or over_gpu.any() or over_storage):
        return target, no_drop, False, over_budget, over_gpu, over_storage  # within every limit (the common case)
    kept = np.minimum(target, current)
    new = target - kept
    n = np.empty(D, dtype=np.int64)
    for k in range(D):
        n[k] = new[lim.cheap_first[k]]
    fits = np.ones(D, dtype=np.bool_)
    base_cost, cum_cost = _prefix_budget(n, kept, lim, fits)
    base_gpu, cum_gpu = _prefix_gpus(n, kept, lim, over_gpu, fits)
    inc, cum_sto = _prefix_storage(n, kept, lim, over_storage, fits)
    p = -1
    for k in range(D):
        if not fits[k]:
            p = k
            break
    if p < 0:  # round-off at a limit's edge: the whole target fits after all
        return target, no_drop, False, over_budget, over_gpu, over_storage
    # how many replicas of the boundary template still fit (the prefix before it fits every limit)
    d = lim.cheap_first[p]
    k_fit = n[p]
    prev_cost = cum_cost[p - 1] if p > 0 else base_cost
    by_budget = (lim.budget + lim.tol - prev_cost) / lim.cost[d] + 1e-12
    if by_budget < k_fit:
        k_fit = math.floor(by_budget)
    g = lim.template_gpu[d]
    if over_gpu[g]:
        prev_gpu = cum_gpu[g, p - 1] if p > 0 else base_gpu[g]
        k_fit = min(k_fit, int((lim.inventory[g] + lim.tol - prev_gpu) // lim.gpus[d]))
    if over_storage and inc[p] > 0 and cum_sto[p] > lim.storage_gb + lim.tol:
        k_fit = 0  # its weights do not fit in the storage left
    out = kept.copy()
    dropped = np.zeros(D, dtype=np.int64)
    for k in range(D):
        dk = lim.cheap_first[k]
        keep = n[k] if k < p else (max(k_fit, 0) if k == p else 0)
        out[dk] = kept[dk] + keep
        dropped[dk] = n[k] - keep
    return out, dropped, True, over_budget, over_gpu, over_storage


@_jit
def _age_cohorts(ready, warm):
    """Age the cohorts in place (the oldest starting cohort joins ``ready``); the replicas now billed (D,)."""
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
    return current


@_jit
def fleet_update(action, params, state):
    """The window boundary: age ``state``'s cohorts, apply the action, enforce ``params.limits``, remove
    replicas (cold-starting ones first, youngest first) and add new ones. Updates ``state.ready`` and
    ``state.warm`` in place (``warm[k]``: replicas asked for k windows ago still starting); returns a
    FleetUpdate whose ``available`` is the replica-equivalents serving in the window
    (``params.avail_by_age[k]``: the share of the window a replica of age k serves)."""
    ready, warm = state.ready, state.warm
    K, D = warm.shape
    current = _age_cohorts(ready, warm)
    if params.delta_mode:
        target = np.empty(D, dtype=np.int64)
        for d in range(D):
            v = current[d] + action[d] - 1
            target[d] = 0 if v < 0 else (params.max_replicas if v > params.max_replicas else v)
    else:
        target = action
    target, dropped, clipped, over_budget, over_gpu, over_storage = enforce_limits(target, current, params.limits)
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
            s += params.avail_by_age[k, d] * warm[k, d]
        available[d] = ready[d] + s
    return FleetUpdate(target, dropped, clipped, over_budget, over_gpu, over_storage, available)
