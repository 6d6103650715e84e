"""The observation vector, compiled: :func:`observe` writes each component at the offset the
:class:`hetserve_env.observation.ObservationLayout` gives it (``params.obs``, an ObsOffsets record), so the
layout is written down once, in that class.
"""

from __future__ import annotations

import numba

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _fleet_shares(obs, off, params, state):
    """Replicas fully serving / still cold-starting at the start of the next window, ÷ R_max."""
    ready, warm, next_full = state.ready, state.warm, params.next_full
    K, D = warm.shape
    inv_r = 1.0 / params.max_replicas
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
        obs[off.serving + d] = serving * inv_r
        obs[off.warming + d] = (total - serving) * inv_r


@_jit
def observe(obs, params, state, t, attain, budget_used):
    """Fill ``obs`` (float32, ``params.obs.size``) for episode window ``t`` about to be played, given the last
    window's per-type SLO attainment (I,) and budget share; returns ``obs``."""
    off = params.obs
    rate_obs, tok_obs = state.rate_obs, state.tok_obs
    I = rate_obs.shape[1]
    j = off.rate
    for h in range(t, t + params.history):
        for i in range(I):
            obs[j] = rate_obs[h, i]
            j += 1
    row = t + params.history - 1
    for i in range(I):
        obs[off.input_tokens + i] = tok_obs[row, i]
        obs[off.output_tokens + i] = tok_obs[row, I + i]
    _fleet_shares(obs, off, params, state)
    obs[off.time] = state.time_obs[t, 0]
    obs[off.time + 1] = state.time_obs[t, 1]
    for i in range(I):
        obs[off.slo_attainment + i] = attain[i]
    obs[off.budget_used] = min(max(budget_used, 0.0), 1.0)
    return obs
