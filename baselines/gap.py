"""Where the gap from an online policy to the hindsight bound goes (docs/hindsight.md, "Where the gap goes").

The gap is split by a chain of costs, each differing from the previous one in one respect, so that each
difference has one cause (:func:`gap_chain`). The pieces measured here:

* :func:`free_cold_start_env` — the same env with cold starts made free through the scenario's own option
  (``env.cold_start``: no boot, weights loaded at :data:`FREE_LOAD_GBPS`): new replicas serve from their first
  window and nothing is billed while warming; every other number of the env is unchanged;
* :class:`NextWindowPlanner` — a per-window planner told the true next window, with a headroom (the oracle
  variant of ``gh-headroom``), and :func:`choose_headroom`, its headroom chosen on the validation days;
* :func:`plan_model_value` — what the hindsight model (:mod:`baselines.horizon_model`) charges a given fleet
  plan (replicas per window, e.g. the one a policy played): the same fleet priced by the model instead of the
  env, which separates *which fleet* a policy chose from *how the env prices it*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from hetserve_env.env import HetServeEnv
from hetserve_env.episodes import EpisodeLog, policy_act, run_episode
from hetserve_env.problem import Problem
from hetserve_env.scenario import Scenario

from .hindsight import env_base, episode_model_inputs
from .horizon_model import build_horizon_model
from .horizon_solve import fixed_plan_lp
from .policies import SolverPolicy, policy_label

#: weight-load speed (GB/s) of the free-cold-start scenario: a 140 GB model loads in 1.4e-10 s
FREE_LOAD_GBPS = 1e12
#: headrooms of the ``<method>-headroom`` policies tried on the validation days by ``scripts/tune_headroom.py``
#: (results/headroom_validation.md)
VALIDATION_HEADROOM_GRID = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.4, 1.5, 1.6, 1.75, 2.0, 3.0)
#: headrooms of :class:`NextWindowPlanner` tried on the validation days: that grid with 0 and 10 % added (a planner
#: told the true next window may need less)
HEADROOM_GRID = (0.0, 0.1) + VALIDATION_HEADROOM_GRID


def free_cold_start_scenario(scenario: Scenario, load_gbps: float = FREE_LOAD_GBPS) -> Scenario:
    """``scenario`` with ``env.cold_start`` = no boot and weights loaded at ``load_gbps`` (everything else as it
    was: :meth:`Scenario.replace`, which re-applies the scenario's catalog options to its base catalog once)."""
    return scenario.replace(env={**dict(scenario.raw.get("env") or {}),
                                 "cold_start": {"boot_s": 0.0, "load_gbps": float(load_gbps)}})


def free_cold_start_env(env: Any, split: str | None = None) -> HetServeEnv:
    """An env like ``env`` (its split unless ``split`` is given, days per episode, router, R_max, noise, clip
    penalty) on :func:`free_cold_start_scenario` of its scenario."""
    b = env_base(env)
    return HetServeEnv(free_cold_start_scenario(b.scenario), split=split or b.split, episode_days=b.episode_days,
                       noise=b.noise, router=b.router, max_replicas=b.max_replicas, clip_penalty=b.clip_penalty)


class NextWindowPlanner(SolverPolicy):
    """A per-window solver planning each window for the **true next window** × (1 + ``headroom``): the oracle
    variant of ``<method>-headroom`` (not realisable; labelled "next-window oracle"). If the demand with headroom
    has no feasible plan the window is re-planned without it (counted as ``headroom_dropped``)."""

    def __init__(self, env: Any, method: str = "gh", headroom: float = 0.0, **kwargs: Any) -> None:
        name = kwargs.pop("name", None) or (f"{policy_label(method, 'oracle')[:-1]}, headroom {float(headroom):.0%})")
        super().__init__(env, method, estimate="headroom", headroom=headroom, name=name, **kwargs)

    @property
    def is_oracle(self) -> bool:  # tables note that it knows the next window (not realisable)
        return True

    def planning_problem(self, k: int) -> Problem:
        return self.access.call("next_window_problem", index=k)


def played_plan(log: EpisodeLog) -> np.ndarray:
    """(T, D) int64 billed replicas the env applied at each step of ``log`` (``info["replicas"]``, after any clip)."""
    if not log.infos:
        raise ValueError("played_plan: the episode log has no steps")
    return np.stack([np.asarray(i["replicas"], dtype=np.int64) for i in log.infos])


def choose_headroom(make: Callable[[Any, float], Any], env: Any, grid: Sequence[float] = HEADROOM_GRID,
                    windows: int | None = None) -> tuple[float, dict[float, float]]:
    """The headroom of ``grid`` with the least mean episode cost on ``env``'s split days (pass a validation env:
    never choose on test days); ``make(env, headroom)`` builds the policy; ``windows``: only the first windows of
    each day (None: whole days). Returns (headroom, cost per headroom); ties go to the smaller headroom."""
    if not grid:
        raise ValueError("choose_headroom: the grid of headrooms is empty")
    bad = [h for h in grid if not np.isfinite(h) or h < 0]
    if bad:
        raise ValueError(f"choose_headroom: headrooms must be finite and >= 0, got {bad}")
    base = env_base(env)
    costs: dict[float, float] = {}
    for h in grid:
        pol = make(env, float(h))
        costs[float(h)] = float(np.mean([run_episode(env, policy_act(pol), d, None, max_windows=windows).total_cost
                                         for d in base.split_days]))
    best = min(costs, key=lambda h: (costs[h], h))
    return best, costs


def plan_model_value(env: Any, plan: np.ndarray, load_cuts: bool = True, time_limit: float | None = None) -> float:
    """What the hindsight model charges the fleet ``plan`` (T, D) over windows t..t+T−1 from the env's current
    fleet (t = ``elapsed_steps``; reset the env to the day first for a whole episode): the replicas fixed, the
    routing and unmet shares the model's best for them ($). An env trajectory's own plan gets at most its env
    cost (docs/hindsight.md, "Why it is a lower bound"); a plan the model rejects raises ValueError, an LP that
    ends without a value for it (time limit) RuntimeError."""
    base = env_base(env)
    plan = np.asarray(plan)
    t = int(base.elapsed_steps)
    if plan.ndim != 2 or plan.shape[1] != base.n_templates or not 1 <= plan.shape[0] <= base.episode_length - t:
        raise ValueError(f"plan must have shape (T, {base.n_templates}) with 1 <= T <= {base.episode_length - t} "
                         f"(windows left), got {plan.shape}")
    if (plan < 0).any() or (plan != np.rint(plan)).any():
        raise ValueError("plan must hold integer replica counts >= 0")
    problems, start, avail = episode_model_inputs(base, t, plan.shape[0])
    model = build_horizon_model(problems, start, avail, base.max_replicas, load_cuts=load_cuts)
    out = fixed_plan_lp(model, plan.astype(np.int64), time_limit)
    if out == "Infeasible":
        raise ValueError(f"plan_model_value: the model rejects the plan (fixed-replica LP status {out!r}): "
                         "a window breaks the fleet limits")
    if isinstance(out, str):  # e.g. "Time limit reached": no value, and no verdict on the plan
        raise RuntimeError(f"plan_model_value: the fixed-replica LP ended with status {out!r}, no value")
    return float(out[0])


@dataclass(frozen=True)
class Step:
    """One link of the chain: from the cost named ``upper`` down to ``lower``; ``cause`` what differs."""

    cause: str
    upper: str
    lower: str
    delta: float


#: the chain of :func:`gap_chain`: (cause, from, to), each key a measured cost
CHAIN = (
    ("forecasting", "online", "next_window"),
    ("cold starts, for the planner", "next_window", "next_window_free"),
    ("env pricing of the same fleet (load-dependent delay beyond the cuts, greedy routing)", "next_window_free",
     "next_window_free_model"),
    ("per-window myopia (fleet chosen window by window vs the whole-day plan)", "next_window_free_model",
     "hindsight_free_plan"),
    ("integrality (best integer plan found vs the LP)", "hindsight_free_plan", "hindsight_free_lp"),
    ("cold starts, for the optimum (negative: they raise the bound)", "hindsight_free_lp", "bound"),
)


def gap_chain(costs: dict[str, float]) -> list[Step]:
    """The gap ``costs["online"] − costs["bound"]`` as the steps of :data:`CHAIN` (they sum to it exactly); every
    key of the chain must be in ``costs`` and finite (KeyError/ValueError naming it)."""
    for key in {k for _, a, b in CHAIN for k in (a, b)}:
        if key not in costs:
            raise KeyError(f"gap_chain: missing the cost {key!r}")
        if not np.isfinite(costs[key]):
            raise ValueError(f"gap_chain: costs[{key!r}] = {costs[key]!r} is not finite")
    return [Step(cause, a, b, float(costs[a] - costs[b])) for cause, a, b in CHAIN]


__all__ = ["CHAIN", "FREE_LOAD_GBPS", "HEADROOM_GRID", "VALIDATION_HEADROOM_GRID", "NextWindowPlanner", "Step",
           "choose_headroom", "free_cold_start_env", "free_cold_start_scenario", "gap_chain", "plan_model_value",
           "played_plan"]
