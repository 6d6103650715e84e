"""A receding-horizon planner (MPC): every window, solve the multi-period model (:mod:`baselines.horizon_model`, the
hindsight model's blocks) over the next ``k`` windows of a demand *forecast*, starting from the env's current fleet
(warming replicas included), and apply the first window's fleet.

Unlike the per-window planners (GH/AGH/MILP policies), it is cold-start aware: it sees that a replica asked for
now serves only part of this window, and that keeping a replica through a dip can be cheaper than a cold start
at the next ramp.

Forecasts: a callable ``forecaster(history, horizon) -> (horizon, I)`` of request rates, where ``history`` (n, I)
holds the realised rates observed so far (the env's history windows, then every played window, oldest first), or a
name: ``"persistence"`` (the last observed window repeated) or ``"oracle"`` (the true future windows, tokens
included: not a realisable policy, labelled so). Forecast rates are planned with the last observed window's token
means. ``headroom`` scales a forecast (not the oracle) by ``1 + headroom``.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

import numpy as np

from .horizon_model import StartFleet, build_horizon_model
from .horizon_solve import solve_horizon
from .hindsight import env_base, episode_model_inputs

Forecaster = Callable[[np.ndarray, int], np.ndarray]

#: MPC defaults: look-ahead windows, MILP seconds per decision, MILP relative gap
HORIZON, TIME_LIMIT, MIP_GAP = 6, 5.0, 1e-2


def persistence(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last observed window's rates, repeated ``horizon`` times."""
    return np.repeat(np.asarray(history, dtype=float)[-1:], horizon, axis=0)


FORECASTERS: dict[str, Forecaster | None] = {"persistence": persistence, "oracle": None}


def check_forecast(f: Any, horizon: int, n_types: int) -> np.ndarray:
    """A forecast as a float (horizon, I) array of finite rates ≥ 0, else ValueError naming what is wrong."""
    a = np.asarray(f, dtype=float)
    if a.shape != (horizon, n_types):
        raise ValueError(f"forecast must have shape ({horizon}, {n_types}) (horizon, types), got {a.shape}")
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        j, i = np.argwhere(bad)[0]
        raise ValueError(f"forecast[{j}, {i}] = {float(a[j, i])!r}: rates must be finite and >= 0")
    return a


class MPCPolicy:
    """Receding-horizon planner with SB3's ``predict`` signature (see the module docstring).

    ``k``: look-ahead windows (cut at the episode's end); ``forecaster``: a callable or a name of
    :data:`FORECASTERS`; ``time_limit``/``mip_rel_gap``: the MILP's per-decision limits (its incumbent at the limit
    is used; without one, the LP relaxation's replicas rounded down; without that, the fleet is kept — counted in
    ``stats``). ``decision_times`` holds each window's seconds (forecast, model, solve)."""

    def __init__(self, env: Any, k: int = HORIZON, forecaster: str | Forecaster = "persistence",
                 time_limit: float = TIME_LIMIT, mip_rel_gap: float = MIP_GAP, headroom: float = 0.0,
                 name: str | None = None) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k (look-ahead windows) must be an integer >= 1, got {k!r}")
        if isinstance(forecaster, str):
            if forecaster not in FORECASTERS:
                raise ValueError(f"forecaster must be a callable or one of {list(FORECASTERS)}, got {forecaster!r}")
            self.forecast_name, self.forecaster = forecaster, FORECASTERS[forecaster]
        elif callable(forecaster):
            self.forecast_name, self.forecaster = getattr(forecaster, "__name__", "custom"), forecaster
        else:
            raise ValueError(f"forecaster must be a callable or one of {list(FORECASTERS)}, got {forecaster!r}")
        if not np.isfinite(headroom) or headroom < 0:
            raise ValueError(f"headroom must be >= 0, got {headroom!r}")
        self.base = env_base(env)
        self.k, self.time_limit, self.mip_rel_gap, self.headroom = int(k), float(time_limit), float(mip_rel_gap), float(headroom)
        self.is_oracle = self.forecaster is None
        self.name = name or (f"MPC (k={self.k}, {'true future: oracle' if self.is_oracle else self.forecast_name}"
                             + (f", headroom {headroom:.0%}" if headroom and not self.is_oracle else "") + ")")
        self.decision_times: list[float] = []
        self.stats: Counter = Counter()
        self._history: list[np.ndarray] = []

    def _observed(self, t: int) -> np.ndarray:
        """Realised rates of windows −history..t−1 (kept across calls; rebuilt at an episode's start)."""
        if t == 0 or len(self._history) > t + self.base.history:
            self._history = [self.base.window_problem(s).rate for s in range(-self.base.history, 0)]
        while len(self._history) < t + self.base.history:
            self._history.append(self.base.window_problem(len(self._history) - self.base.history).rate)
        return np.stack(self._history)

    def _problems(self, t: int, h: int) -> list:
        if self.is_oracle:
            return [self.base.window_problem(t + j) for j in range(h)]
        last = self.base.window_problem(t - 1)
        f = check_forecast(self.forecaster(self._observed(t), h), h, last.n_types) * (1.0 + self.headroom)
        return [last.with_rates(f[j]) for j in range(h)]

    def plan(self) -> np.ndarray | None:
        """The fleet (D,) for the next window, or None when the solve gave no plan."""
        t = int(self.base.elapsed_steps)
        h = min(self.k, self.base.episode_length - t)
        problems = self._problems(t, h)
        _, start, avail = episode_model_inputs(self.base, t, 0)
        model = build_horizon_model(problems, start, avail, self.base.max_replicas)
        sol = solve_horizon(model, time_limit=self.time_limit, mip_rel_gap=self.mip_rel_gap)
        self.stats[f"plan:{sol.plan_kind}"] += 1
        self.stats[f"status:{sol.status}"] += 1
        return None if sol.plan is None else sol.plan[0]

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        if np.asarray(observation).ndim >= 2:
            raise ValueError("MPCPolicy reads one env: pass one observation, not a batch")
        t0 = time.perf_counter()
        replicas = self.plan()
        if replicas is None:
            self.stats["fallback_keep_fleet"] += 1
            replicas = self.base.replicas
        action = np.asarray(self.base.action_from_replicas(replicas))
        self.decision_times.append(time.perf_counter() - t0)
        self.stats["calls"] += 1
        return action, state

    __call__ = predict

    def reset_stats(self) -> None:
        self.decision_times.clear()
        self.stats.clear()
