"""Forecast-driven planners (forecast, then plan): GH or AGH plans each window for a forecast of its demand times
``1 + headroom``, the headroom a quantile of the forecaster's residuals chosen on validation days.

:class:`ForecastPolicy` is a :class:`baselines.policies.SolverPolicy` whose demand estimate
(:meth:`~baselines.policies.SolverPolicy.planning_problem`) is the forecast of the next window from everything a
policy may see (:mod:`baselines.forecast`: the series before the episode, then the episode's realised windows so
far); the last observed window's token means are kept. Fallbacks, plan cache, stats and the decision time
(forecast included) are SolverPolicy's: if the forecast times the headroom has no feasible plan, the window is
re-planned for the forecast alone (counted as ``headroom_dropped``).

**Calibration** (:func:`calibrate`, never on test days): the Holt-Winters parameters are fitted on the training
days; the residuals ``actual / forecast − 1`` of every validation window and type (pooled) give a candidate
headroom per quantile level of :data:`LEVELS`; each candidate is run through the validation days (exact replay,
noise 0) with ``choose_with`` (GH by default: AGH takes ~1 s a window, ~5 min per candidate) and the level with
the least mean episode cost is kept. The result, :class:`PlannerSettings`, is stored on the policy
(``policy.settings``), printed by the factories and written by ``scripts/bench_planners.py``.

Registered env policies (``hetserve evaluate/compare --policies …``; :data:`PLANNERS`): ``<solver>-<forecast>``
for solver gh/agh and forecast ``last`` (the reactive plan with a calibrated headroom), ``seasonal``
(same window yesterday), ``seasonal-max`` (max of last and yesterday) and ``hw`` (Holt-Winters). Importing this
module registers them (``agents.policies.load_policy`` does).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from hetserve_env.env import HetServeEnv
from hetserve_env.episodes import policy_act, run_episode
from hetserve_env.problem import Problem

from .forecast import Forecaster, make_forecaster, one_step_forecasts
from .policies import SolverPolicy, policy_names, register_policy
from .registry import get_solver

#: quantile levels of the validation residuals tried as headroom
LEVELS = (0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
#: registered policy suffix -> forecaster name
SHORT = {"last": "last", "seasonal": "seasonal-naive", "seasonal-max": "seasonal-max", "hw": "holt-winters"}
#: registered planner policies: name -> (solver, forecaster)
PLANNERS = {f"{m}-{s}": (m, f) for m in ("gh", "agh") for s, f in SHORT.items()}
#: in ``hetserve compare``'s default set: the forecaster with the least validation cost after the last window
#: (scripts/calibrate_planners.py on the default scenario: Holt-Winters; docs/agents.md)
IN_COMPARE = ("gh-hw",)


@dataclass
class PlannerSettings:
    """What :func:`calibrate` chose, and from what: forecaster, quantile level, headroom, validation costs."""

    scenario: str
    forecaster: str
    forecaster_params: dict[str, Any]
    level: float
    headroom: float
    chosen_with: str
    validation_days: tuple[int, ...]
    residual_quantiles: dict[float, float] = field(default_factory=dict)
    validation_cost: dict[float, float] = field(default_factory=dict)
    calibration_s: float = 0.0

    def line(self) -> str:
        """One printable line (factories print it; tables put it in the notes)."""
        what = "last-window estimate" if self.forecaster == "last" else f"{self.forecaster} forecast"
        return (f"{what}, headroom {self.headroom:.1%} = residual quantile {self.level:g} on "
                f"validation days {list(self.validation_days)} (level chosen with {self.chosen_with.upper()} by mean "
                f"validation episode cost ${self.validation_cost.get(self.level, float('nan')):,.2f})")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["validation_days"] = list(self.validation_days)
        d["residual_quantiles"] = {str(k): v for k, v in self.residual_quantiles.items()}
        d["validation_cost"] = {str(k): v for k, v in self.validation_cost.items()}
        return d


class ForecastPolicy(SolverPolicy):
    """A solver planning each window for ``forecaster``'s next-window forecast × (1 + ``headroom``)."""

    def __init__(self, env: Any, method: str, forecaster: Forecaster, headroom: float, *,
                 settings: PlannerSettings | None = None, solve_options: dict | None = None,
                 cache: dict | None = None, name: str | None = None) -> None:
        label = name or planner_label(method, forecaster.name, float(headroom))
        super().__init__(env, method, estimate="headroom", headroom=headroom, solve_options=solve_options,
                         cache=cache, name=label)
        self.forecaster = forecaster
        self.settings = settings
        self._history: list[list[np.ndarray]] = [[] for _ in range(self.access.num_envs)]
        self._base: list[int] = [0] * self.access.num_envs

    def observed_demand(self, k: int = 0) -> tuple[np.ndarray, Problem]:
        """Env ``k``'s demand as this policy may see it now ((t, I); see :mod:`baselines.forecast`) and the last
        observed window's Problem. Call once per step (it records the window just observed)."""
        t = self.access.attr("elapsed_steps", index=k)
        if t is None:
            raise RuntimeError("ForecastPolicy: reset the env before predict")
        hist = self._history[k]
        if t == 0:  # a new episode: the series before its first window, except the one the env observes
            demand = self.access.attr("scenario", index=k).demand
            days = self.access.attr("days", index=k)
            start = int(np.searchsorted(demand.day, days[0], "left"))
            hist.clear()
            hist.append(np.asarray(demand.rate[:max(start - 1, 0)], dtype=float))
            self._base[k] = len(hist[0])
        elif len(hist) != t + 1:
            raise RuntimeError(f"ForecastPolicy: env {k} is at window {t} but the policy saw {len(hist) - 1} "
                               "window(s) of this episode; call predict at every step")
        last = self.access.call("last_window_problem", index=k)
        hist.append(np.asarray(last.rate, dtype=float)[None, :])
        return np.concatenate(hist, axis=0), last

    def planning_problem(self, k: int) -> Problem:
        history, last = self.observed_demand(k)
        return last.with_rates(self.forecaster(history, 1)[0])


def planner_label(method: str, forecaster: str, headroom: float) -> str:
    """E.g. ``"GH (seasonal-max forecast, headroom 12%)"``."""
    what = "last window" if forecaster == "last" else f"{forecaster} forecast"
    return f"{get_solver(method).label} ({what}, headroom {headroom:.0%})"


# ============================================================================================ calibration
def _split_rows(demand: Any, split: str) -> np.ndarray:
    days = np.asarray(demand.split_day_ids(split))
    return np.flatnonzero(np.isin(demand.day, days))


def validation_env(env: Any) -> HetServeEnv:
    """A validation-split env like ``env`` (its scenario, router, R_max, clip penalty), exact replay."""
    get = (lambda n: env.get_attr(n, indices=[0])[0]) if hasattr(env, "env_method") else \
        (lambda n: getattr(env.unwrapped, n))
    return HetServeEnv(get("scenario"), split="validation", router=get("router"), max_replicas=get("max_replicas"),
                       clip_penalty=get("clip_penalty"), noise=0.0)


def residual_headrooms(forecaster: Forecaster, demand: Any, levels: Sequence[float] = LEVELS) -> dict[float, float]:
    """Per level q: ``max(0, quantile_q(actual / forecast − 1))`` over every validation window and type (the
    one-step forecasts of :func:`baselines.forecast.one_step_forecasts` on the series)."""
    rows = _split_rows(demand, "validation")
    if len(rows) == 0:
        raise ValueError("calibrate: the scenario's demand has no validation days")
    fc = one_step_forecasts(forecaster, demand.rate, int(rows[0]), int(rows[-1]) + 1)
    actual = demand.rate[rows[0]:rows[-1] + 1]
    r = actual / np.maximum(fc, 1e-9) - 1.0
    return {float(q): max(0.0, float(np.quantile(r, q))) for q in levels}


def calibrate(env: Any, forecaster_name: str, *, choose_with: str = "gh", levels: Sequence[float] = LEVELS,
              log: Callable[[str], None] | None = None) -> tuple[Forecaster, PlannerSettings]:
    """Fit ``forecaster_name`` on the training days and choose its headroom on the validation days (see the
    module docstring). ``env``: the env (or VecEnv) the planner will act in; its scenario defines the days."""
    t0 = time.perf_counter()
    venv = validation_env(env)
    demand, period = venv.scenario.demand, venv.windows_per_day
    train = _split_rows(demand, "train")
    forecaster = make_forecaster(forecaster_name, period, demand.rate[train] if len(train) else None)
    quant = residual_headrooms(forecaster, demand, levels)
    costs: dict[float, float] = {}
    cache: dict = {}
    seen: dict[float, float] = {}
    for q, h in quant.items():
        if h in seen:  # the same headroom as a lower level: the same plans
            costs[q] = seen[h]
            continue
        pol = ForecastPolicy(venv, choose_with, forecaster, h, cache=cache)
        eps = [run_episode(venv, policy_act(pol), d, None) for d in venv.split_days]
        costs[q] = seen[h] = float(np.mean([sum(i["cost"]["total"] for i in e.infos) for e in eps]))
        if log:
            log(f"  calibrate {forecaster.name}: level {q:g}, headroom {h:.1%}: validation cost ${costs[q]:,.2f}")
    best = min(costs, key=lambda q: (costs[q], q))
    settings = PlannerSettings(str(venv.scenario.name), forecaster.name, forecaster.params(), best, quant[best],
                               choose_with, tuple(venv.split_days), quant, costs, time.perf_counter() - t0)
    venv.close()
    return forecaster, settings


_CALIBRATED: dict[tuple, tuple[Forecaster, PlannerSettings]] = {}


def calibrated(env: Any, forecaster_name: str, choose_with: str = "gh") -> tuple[Forecaster, PlannerSettings]:
    """:func:`calibrate`, memoised per process (scenario, window, router, forecaster, solver)."""
    venv = validation_env(env)
    key = (venv.scenario.name, str(venv.scenario.source), venv.window_s, venv.router, forecaster_name, choose_with)
    venv.close()
    if key not in _CALIBRATED:
        _CALIBRATED[key] = calibrate(env, forecaster_name, choose_with=choose_with)
    return _CALIBRATED[key]


def make_planner(name: str, env: Any, *, cache: dict | None = None, log: Callable[[str], None] | None = print
                 ) -> ForecastPolicy:
    """The registered planner ``name`` (:data:`PLANNERS`) for ``env``, calibrated (memoised) and printed."""
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}; choose one of {sorted(PLANNERS)}")
    method, fname = PLANNERS[name]
    forecaster, settings = calibrated(env, fname)
    if log:
        log(f"{name}: {settings.line()}")
    return ForecastPolicy(env, method, forecaster, settings.headroom, settings=settings, cache=cache)


def _factory(name: str) -> Callable[[Any], ForecastPolicy]:
    return lambda env: make_planner(name, env)


for _name in PLANNERS:
    if _name not in policy_names():
        register_policy(_name, _factory(_name), compare=_name in IN_COMPARE)

__all__ = ["LEVELS", "PLANNERS", "ForecastPolicy", "PlannerSettings", "calibrate", "calibrated", "make_planner",
           "planner_label", "residual_headrooms", "validation_env"]
