"""N environment steps in one compiled call: :func:`env_step_batch` runs :func:`.step.env_step` for each active
environment of a vector, on batched state.

Why: a vector of N Python environments pays the step's Python part (validation, argument passing, info) N
times; here the Python part is paid once per batch. The batched records are the single env's EnvState and
StepOutput with a leading environment axis on every array; the loop takes row ``n`` of each (a C-contiguous
view, the types the single step is compiled for), so every environment runs exactly the single env's step.
The kernel releases the GIL (``nogil``): the vector env spreads the rows over threads by calling it with
disjoint ``active`` masks (numba's ``parallel=True`` cannot pass records of arrays into a ``prange`` body).
"""

from __future__ import annotations

import numba

from .records import EnvState, StepOutput
from .step import env_step

_jit = numba.njit(cache=True, nogil=True)


@_jit
def state_row(states, n):
    """Environment ``n``'s EnvState: row ``n`` of every batched array (views)."""
    return EnvState(states.ready[n], states.warm[n], states.rate[n], states.rate_obs[n], states.tok_obs[n],
                    states.time_obs[n], states.perf_row[n], states.rec_avail[n], states.rec_served[n],
                    states.rec_gpus[n])


@_jit
def output_row(outs, n):
    """Environment ``n``'s StepOutput: row ``n`` of every batched array (views)."""
    return StepOutput(outs.obs[n], outs.target[n], outs.billed[n], outs.routing[n], outs.unmet[n], outs.costs[n],
                      outs.rates[n], outs.flags[n], outs.attainment[n], outs.gpus_by_type[n], outs.violations[n])


@_jit
def env_step_batch(params, states, actions, t, outs, active):
    """Step every environment ``n`` with ``active[n]`` at its episode window ``t[n]`` with ``actions[n]``:
    updates row ``n`` of ``states`` and writes row ``n`` of ``outs`` (the others are left untouched)."""
    for n in range(actions.shape[0]):
        if active[n]:
            env_step(params, state_row(states, n), actions[n], t[n], output_row(outs, n))

