"""The hindsight solution of one episode: the multi-period model (:mod:`baselines.horizon_model`) over every window
of the episode with its realised demand, solved once (:mod:`baselines.horizon_solve`).

It gives two references (docs/hindsight.md):

* the **bound** — a valid lower bound on the env cost of every policy on that episode (HiGHS's MILP dual bound
  at the time limit, or the LP relaxation's optimum; ``bound_kind`` says which);
* the **incumbent** plan executed in the env through the one episode runner (:func:`hetserve_env.episodes.
  run_episode`) by :class:`HindsightPolicy` — an achievable clairvoyant reference, priced by the env.

Usage::

    import gymnasium as gym, hetserve_env
    from baselines.hindsight import hindsight
    env = gym.make("hetserve_env/HetServeSmall-v1", split="test")
    r = hindsight(env, day=12, seed=0, windows=12, time_limit=30)
    print(r.bound, r.bound_kind, r.env_cost)
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetserve_env.env_params import cold_start
from hetserve_env.episodes import run_episode, policy_act

from .horizon_model import StartFleet, build_horizon_model
from .horizon_solve import HorizonSolution, solve_horizon, solve_lp

#: default MILP time limit (s) of the hindsight solve
TIME_LIMIT = 60.0
MIN_SOLVE_S = 0.1  # what the horizon solve gets when the cut LP used up the budget (it then reports "no time left")


def env_base(env: Any) -> Any:
    """The HetServeEnv under a (wrapped) Gymnasium env; TypeError for anything else."""
    base = env.unwrapped if hasattr(env, "unwrapped") else env
    for name in ("window_problem", "fleet_cohorts", "action_from_replicas", "elapsed_steps", "episode_length"):
        if not hasattr(base, name):
            raise TypeError(f"the hindsight solution needs a HetServeEnv (missing {name!r} on {type(base).__name__})")
    return base


def episode_model_inputs(env: Any, first: int, windows: int) -> tuple[list, StartFleet, np.ndarray]:
    """The Problems of episode windows ``first``..``first + windows − 1`` (realised demand), the fleet after the
    last step and the env's cold-start shares (K, D): the model's inputs, read through the env's public API."""
    base = env_base(env)
    problems = [base.window_problem(t) for t in range(first, first + windows)]
    ready, warm = base.fleet_cohorts()
    avail = cold_start(base.scenario, base.window_s).avail_by_age
    return problems, StartFleet(ready, warm), avail


def solve_episode(env: Any, windows: int | None = None, time_limit: float = TIME_LIMIT, lp_only: bool = False,
                  mip_rel_gap: float = 1e-3, max_utilisation: float = 1.0, plan_model: str = "cuts") -> HorizonSolution:
    """The hindsight model of the env's current episode (call right after ``reset``), its first ``windows``
    windows (default all), solved: bound and incumbent plan.

    ``plan_model``: ``"cuts"`` solves the model with the load cuts (tighter bound, larger) as the MILP;
    ``"plain"`` solves the MILP without them (faster on big episodes) and takes the bound as the larger of its
    dual bound and the LP relaxation of the model with cuts (both are valid bounds; ``bound_kind`` says which:
    ``"lp (load cuts)"``). ``max_utilisation`` < 1 plans with slack; its value is then no bound."""
    base = env_base(env)
    if base.elapsed_steps != 0:
        raise RuntimeError(f"solve_episode needs an env just reset (elapsed_steps = {base.elapsed_steps})")
    T = base.episode_length if windows is None else int(windows)
    if not 1 <= T <= base.episode_length:
        raise ValueError(f"windows must be 1..{base.episode_length} (the episode's length), got {windows!r}")
    if plan_model not in ("cuts", "plain"):
        raise ValueError(f"plan_model must be 'cuts' or 'plain', got {plan_model!r}")
    problems, start, avail = episode_model_inputs(base, 0, T)
    t0 = time.perf_counter()
    cut_lp = None
    if plan_model == "plain" and max_utilisation >= 1.0:
        cut_model = build_horizon_model(problems, start, avail, base.max_replicas, load_cuts=True)
        cut_status, cut_lp, _ = solve_lp(cut_model, max(time_limit - (time.perf_counter() - t0), MIN_SOLVE_S))
    model = build_horizon_model(problems, start, avail, base.max_replicas, max_utilisation, plan_model == "cuts")
    left = time_limit - (time.perf_counter() - t0)  # time_limit is the budget of the whole solve, cut LP included
    sol = solve_horizon(model, time_limit=max(left, MIN_SOLVE_S), lp_only=lp_only, mip_rel_gap=mip_rel_gap)
    sol.runtime_s = time.perf_counter() - t0
    sol.stats["horizon_time_limit"] = max(left, MIN_SOLVE_S)
    sol.stats["before_horizon_s"] = time_limit - left
    sol.stats["plan_model"] = plan_model
    if plan_model == "plain" and max_utilisation >= 1.0:
        sol.stats["lp_with_cuts_status"] = cut_status  # "Time limit reached": no cut bound, said here
    if cut_lp is not None:
        sol.stats["lp_with_cuts"] = cut_lp
        if sol.bound is None or cut_lp > sol.bound:
            sol.bound, sol.bound_kind = cut_lp, "lp (load cuts)"
    if max_utilisation < 1.0:  # a restricted model: its value bounds nothing
        sol.stats["value_not_a_bound"], sol.bound = sol.bound, None
        sol.bound_kind = "none (max_utilisation < 1)"
    return sol


class HindsightPolicy:
    """Plays the hindsight incumbent of the current episode (SB3's ``predict`` signature): at the first window of
    an episode it solves the episode's hindsight model (it reads the whole realised demand: not a realisable
    policy), then returns the plan window by window. ``decision_times`` charges the solve to the first window.
    ``solutions`` keeps each episode's :class:`HorizonSolution`; ``stats`` counts plan sources and fallbacks."""

    def __init__(self, env: Any, time_limit: float = TIME_LIMIT, windows: int | None = None, lp_only: bool = False,
                 max_utilisation: float = 1.0, plan_model: str = "cuts",
                 name: str = "Hindsight (clairvoyant plan)") -> None:
        self.base = env_base(env)
        self.time_limit, self.windows, self.lp_only, self.name = time_limit, windows, lp_only, name
        self.max_utilisation, self.plan_model = float(max_utilisation), plan_model
        self.decision_times: list[float] = []
        self.solutions: list[HorizonSolution] = []
        self.stats: Counter = Counter()
        self._plan: np.ndarray | None = None

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        if np.asarray(observation).ndim >= 2:
            raise ValueError("HindsightPolicy reads one env: pass one observation, not a batch")
        t0 = time.perf_counter()
        t = int(self.base.elapsed_steps)
        if t == 0:
            sol = solve_episode(self.base, self.windows, self.time_limit, self.lp_only,
                                max_utilisation=self.max_utilisation, plan_model=self.plan_model)
            self.solutions.append(sol)
            self.stats[f"plan:{sol.plan_kind}"] += 1
            self.stats[f"bound:{sol.bound_kind}"] += 1
            self._plan = sol.plan
        if self._plan is None or t >= len(self._plan):
            self.stats["fallback_keep_fleet"] += 1
            replicas = self.base.replicas
        else:
            replicas = self._plan[t]
        action = np.asarray(self.base.action_from_replicas(replicas))
        self.decision_times.append(time.perf_counter() - t0)
        return action, state

    __call__ = predict

    def reset_stats(self) -> None:
        self.decision_times.clear()
        self.stats.clear()


@dataclass
class HindsightResult:
    """The hindsight solution of one episode and its incumbent's env cost (money in $ over ``steps`` windows)."""

    day: int
    seed: int | None
    steps: int
    solution: HorizonSolution
    env_cost: float | None
    env_cost_parts: dict[str, float] | None

    @property
    def bound(self) -> float | None:
        return self.solution.bound

    @property
    def gap_to_env(self) -> float | None:
        """(incumbent env cost − bound) / incumbent env cost."""
        b, c = self.solution.bound, self.env_cost
        return None if b is None or c is None or c <= 0 else (c - b) / c


def hindsight(env: Any, day: int, seed: int | None = 0, windows: int | None = None, time_limit: float = TIME_LIMIT,
              lp_only: bool = False, max_utilisation: float = 1.0, plan_model: str = "cuts") -> HindsightResult:
    """Reset ``env`` to ``day`` (noise seeded by ``seed``), solve the episode's first ``windows`` windows in
    hindsight and run the incumbent through the episode runner. Returns bound, incumbent env cost and the solve."""
    policy = HindsightPolicy(env, time_limit=time_limit, windows=windows, lp_only=lp_only,
                             max_utilisation=max_utilisation, plan_model=plan_model)
    log = run_episode(env, policy_act(policy), day, seed, max_windows=windows)
    sol = policy.solutions[-1]
    played = sol.plan is not None
    parts = log.cost_parts() if played else None
    return HindsightResult(int(day), seed, log.steps, sol, sum(parts.values()) if parts else None, parts)
