"""Compiled (numba) numeric cores of ``evaluate``, the greedy router and the environment's step.

Why compiled: one environment step works on a few hundred templates and a handful of query types; written
with numpy it was ~150 small array calls whose fixed per-call cost (1-5 µs each) was the whole step time.
These functions are *the* implementations, not copies: :func:`hetserve_env.allocation.evaluate` calls
:func:`.evaluate.evaluate_core`, ``route(..., "greedy")`` calls :func:`.router.route_greedy_core` and
``HetServeEnv.step`` calls :func:`.step.env_step` (which calls the same two).

Modules:

* :mod:`.records` — the named records (``collections.namedtuple``) every kernel takes and returns:
  ``ProblemArrays``, ``AllocationArrays``, ``EvaluationArrays``, ``FleetLimits``, ``ObsOffsets``,
  ``EnvParams``, ``EnvState``, ``FleetUpdate``, ``StepOutput``. numba-free (the env imports it).
* :mod:`.sums` — numpy's pairwise sum and stable argsort, bit for bit.
* :mod:`.evaluate` — ``evaluate_core``: cost terms and violations of one allocation.
* :mod:`.router` — ``route_greedy_core`` and the router objective.
* :mod:`.fleet` — the window boundary: cohort ageing, limit enforcement.
* :mod:`.observe` — the observation vector, written at the offsets of
  :class:`hetserve_env.observation.ObservationLayout`.
* :mod:`.step` — one environment step (fleet update, routing, evaluate, money, observation).
* :mod:`.batch` — N environment steps in one call over batched state (the native vector env).
* :mod:`.compiled` — all of the above in one namespace (what the Python wrappers load lazily), and
  ``bind``, which resolves a kernel's compiled overload once for callers whose argument types are fixed.

This package's ``__init__`` imports nothing, so ``import hetserve_env`` (and the numba-free
:mod:`.records`) never imports numba; the wrappers import :mod:`.compiled` on first call.
``cache=True``: numba stores the machine code in ``__pycache__`` next to each module, so later processes
(test workers, vector-env subprocesses) load it instead of recompiling.
"""
