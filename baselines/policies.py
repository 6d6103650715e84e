"""GH, AGH and the MILP as environment policies with Stable-Baselines3's ``predict`` signature.

A :class:`SolverPolicy` plans every window from scratch with :func:`baselines.solve` for a *demand estimate*
and maps the plan onto the environment's action (``env.action_from_replicas``):

* ``estimate="reactive"`` (default, the fair comparison): the last observed window's realised demand
  (``env.last_window_problem()``), i.e. what an operator knows when deciding the next window;
* ``estimate="headroom"``: the same, with every rate multiplied by ``1 + headroom``;
* ``estimate="oracle"``: the *true next window* (``env.next_window_problem()``). No real policy knows it; it is
  labelled "(next-window oracle)" everywhere it appears. It is not a bound on the best achievable cost (it
  still re-plans each window from scratch, blind to cold starts).

``predict(obs, state=None, episode_start=None, deterministic=True) -> (actions, state)`` behaves like
``model.predict``, so :func:`stable_baselines3.common.evaluation.evaluate_policy` scores a solver exactly as it
scores a trained model::

    import gymnasium as gym, hetserve_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from baselines.policies import SolverPolicy

    env = gym.make("hetserve_env/HetServeSmall-v1", split="test")
    policy = SolverPolicy(env, method="agh")
    mean_reward, std_reward = evaluate_policy(policy, env, n_eval_episodes=2)

The policy reads the environment it was given: a single Gymnasium env (wrapped or not; ``env.unwrapped``)
or an SB3 VecEnv (``DummyVecEnv``/``SubprocVecEnv``, through ``env_method``). It must be the env whose
observations are passed to ``predict`` (``evaluate_policy`` wraps a single env in a ``DummyVecEnv`` around
the same object, so this holds).

**No feasible plan.** When the solver returns no allocation (e.g. the estimated demand is more than the budget
can serve) the policy falls back instead of failing: with headroom it first re-plans without it; then it uses
the (infeasible) allocation the Solution carries if there is one, else keeps the current fleet. Every fallback
is counted (:attr:`SolverPolicy.stats`); a solver exception is caught, counted as ``"error"`` and also keeps
the fleet, so an evaluation never crashes on one window. A MILP plan that ended later than its time limit
allows (``Solution.stats["time_limit_overrun_s"]``) is counted as ``"time_limit_overrun"``.

**Decision time.** :attr:`SolverPolicy.decision_times` holds the wall-clock seconds of each decision (one
per env and step): building the window's problem, solving, mapping the plan to an action. Solutions can be shared between policies through a ``cache`` (a dict): the solvers are
deterministic and a plan depends only on the window's problem (never on the current fleet), so the reactive
and oracle policies, and the MILP's AGH warm start, reuse each other's plans. A cached plan is charged the
time it took when it was computed, so the reported decision time is the same with or without the cache.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from typing import Any, Callable, Mapping

import numpy as np

from hetserve_env.problem import Problem

from . import solve
from .registry import get_solver, solver_names
from .solution import Solution

ESTIMATES = ("reactive", "headroom", "oracle")

#: MILP defaults for per-step use: HiGHS, a per-window time limit and one thread (the MILP keeps its incumbent).
MILP_STEP_OPTIONS: dict[str, Any] = {"solver": "highs", "time_limit": 10.0, "threads": 1}

def policy_label(method: str, estimate: str = "reactive", headroom: float = 0.1) -> str:
    """The display name used in tables and plots, e.g. ``"AGH"``, ``"AGH (headroom 10%)"``,
    ``"AGH (next-window oracle)"`` (the solver's label from :mod:`baselines.registry`)."""
    name = get_solver(method).label
    if estimate == "oracle":
        return f"{name} (next-window oracle)"
    if estimate == "headroom":
        return f"{name} (headroom {headroom:.0%})"
    return name


def problem_key(problem: Problem) -> str:
    """A content key of a window's planning problem (demand and tokens on a scenario's templates)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((problem.type_names, problem.template_labels, float(problem.budget), float(problem.window_s))).encode())
    for arr in (problem.rate, problem.input_tokens, problem.output_tokens, problem.cost, problem.capacity):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()


class _EnvAccess:
    """Uniform access to the policy helpers of one Gymnasium env or of every env of an SB3 VecEnv."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.is_vec = hasattr(env, "env_method") and hasattr(env, "num_envs")
        if self.is_vec:
            self.num_envs = int(env.num_envs)
        else:
            self.num_envs = 1
            self.base = env.unwrapped if hasattr(env, "unwrapped") else env
            for name in ("last_window_problem", "next_window_problem", "action_from_replicas", "replicas"):
                if not hasattr(self.base, name):
                    raise TypeError(f"SolverPolicy needs a HetServeEnv (missing {name!r} on {type(self.base).__name__})")

    def call(self, name: str, *args: Any, index: int = 0) -> Any:
        if self.is_vec:
            return self.env.env_method(name, *args, indices=[index])[0]
        return getattr(self.base, name)(*args)

    def attr(self, name: str, index: int = 0) -> Any:
        if self.is_vec:
            return self.env.get_attr(name, indices=[index])[0]
        return getattr(self.base, name)


class SolverPolicy:
    """A reference solver as an SB3-style policy (see the module docstring).

    Parameters
    ----------
    env:
        The environment the policy acts in: a Gymnasium env (wrapped or not) or an SB3 VecEnv.
    method:
        A solver of :mod:`baselines.registry`: ``"gh"``, ``"agh"``, ``"milp"``, … .
    estimate:
        ``"reactive"`` (last observed window), ``"headroom"`` (last window × (1 + headroom)) or ``"oracle"``
        (true next window: the next-window oracle).
    headroom:
        Relative margin for ``estimate="headroom"``.
    solve_options:
        Options passed to :func:`baselines.solve`. For the MILP the defaults are :data:`MILP_STEP_OPTIONS`
        (HiGHS, ``time_limit=10`` s per window, one thread) and, unless ``warm_start`` is given, the AGH plan of
        the same window as warm start (shared through the cache).
    cache:
        A dict shared between policies to reuse plans of identical problems (see the module docstring);
        None = a private cache.
    name:
        Display name (default :func:`policy_label`).
    """

    def __init__(self, env: Any, method: str = "agh", estimate: str = "reactive", headroom: float = 0.1,
                 solve_options: Mapping[str, Any] | None = None, cache: dict | None = None, name: str | None = None) -> None:
        method = get_solver(method).name
        if estimate not in ESTIMATES:
            raise ValueError(f"estimate must be one of {list(ESTIMATES)}, got {estimate!r}")
        headroom = float(headroom)
        if not np.isfinite(headroom) or headroom < 0:
            raise ValueError(f"headroom must be >= 0, got {headroom!r}")
        self.access = _EnvAccess(env)
        self.method, self.estimate, self.headroom = method, estimate, headroom
        opts = dict(solve_options or {})
        if method == "milp":
            opts = {**MILP_STEP_OPTIONS, **opts}
        self.solve_options = opts
        self.cache: dict = {} if cache is None else cache
        self.name = name or policy_label(method, estimate, headroom)
        self.stats: Counter = Counter()
        #: first message of each exception type a window raised (counted in ``stats["error:<type>"]``)
        self.error_messages: dict[str, str] = {}
        self.decision_times: list[float] = []
        self.last_solutions: list[Solution | None] = [None] * self.access.num_envs
        self._fresh = 0.0

    # --------------------------------------------------------------------------------------------- API
    @property
    def is_oracle(self) -> bool:
        return self.estimate == "oracle"

    def reset_stats(self) -> None:
        self.stats.clear()
        self.decision_times.clear()

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """Plan the next window of every env: ``(actions, state)``, shaped as SB3 expects.

        A single observation of shape ``(obs_dim,)`` gives an action of shape ``(D,)``; a batch
        ``(n, obs_dim)`` gives ``(n, D)`` (n must be the number of envs the policy reads). ``state`` is passed
        through; ``episode_start`` and ``deterministic`` are accepted for compatibility (plans are
        deterministic).
        """
        obs = np.asarray(observation)
        batched = obs.ndim >= 2
        n = obs.shape[0] if batched else 1
        if n != self.access.num_envs:
            raise ValueError(f"predict got {n} observation(s) but the policy reads {self.access.num_envs} env(s)")
        actions = [self._act(k) for k in range(n)]
        out = np.stack(actions) if batched else actions[0]
        return out, state

    __call__ = predict

    # ------------------------------------------------------------------------------------- internals
    def planning_problem(self, k: int) -> Problem:
        """The window's demand estimate of env ``k`` before any headroom: the last observed window, or the true
        next one for the oracle. Subclasses plan for another estimate by overriding it (a forecast:
        :mod:`baselines.forecast_planner`); its time counts in the decision time."""
        fn = "next_window_problem" if self.estimate == "oracle" else "last_window_problem"
        return self.access.call(fn, index=k)

    def _solve(self, method: str, problem: Problem, options: dict[str, Any]) -> tuple[Solution, float]:
        """A (possibly cached) solution and the seconds it took to compute."""
        key = (method, repr(sorted((k, repr(v)) for k, v in options.items())), problem_key(problem))
        hit = self.cache.get(key)
        if hit is not None:
            self.stats["cache_hits"] += 1
            return hit
        t0 = time.perf_counter()
        sol = solve(problem, method, **options)
        out = (sol, time.perf_counter() - t0)
        self._fresh += out[1]
        self.cache[key] = out
        return out

    def _plan(self, problem: Problem) -> tuple[Solution, float]:
        opts = dict(self.solve_options)
        extra = 0.0
        if self.method == "milp" and "warm_start" not in opts:
            agh, extra = self._solve("agh", problem, {})
            opts["warm_start"] = agh.allocation if agh.feasible else False
        sol, dt = self._solve(self.method, problem, opts)
        return sol, dt + extra

    def _act(self, k: int) -> np.ndarray:
        t_start = time.perf_counter()
        self._fresh = 0.0  # seconds spent in solves computed in this call (the rest of elapsed came from the cache)
        elapsed = 0.0
        sol: Solution | None = None
        replicas = None
        try:
            problem = self.planning_problem(k)
            if self.estimate == "headroom" and self.headroom > 0:
                planned = problem.with_rates(problem.rate * (1.0 + self.headroom))
                sol, elapsed = self._plan(planned)
                if sol.allocation is None or not sol.feasible:
                    self.stats["headroom_dropped"] += 1
                    sol2, dt2 = self._plan(problem)
                    elapsed += dt2
                    if sol2.allocation is not None and (sol2.feasible or sol.allocation is None):
                        sol = sol2
            else:
                sol, elapsed = self._plan(problem)
            self.stats[f"status:{sol.status}"] += 1
            if "time_limit_overrun_s" in sol.stats:
                self.stats["time_limit_overrun"] += 1  # the MILP ended later than its limit allows (see the log)
            if sol.allocation is not None:
                replicas = sol.allocation.replicas
                if not sol.feasible:
                    self.stats["fallback_infeasible_plan"] += 1
            else:
                self.stats["fallback_keep_fleet"] += 1
        except Exception as exc:  # never crash an evaluation on one window: count it and keep the first message
            self.stats["error"] += 1
            self.stats[f"error:{type(exc).__name__}"] += 1
            self.error_messages.setdefault(type(exc).__name__, " ".join(str(exc).split())[:300])
        if replicas is None:
            replicas = self.access.attr("replicas", index=k)
        self.last_solutions[k] = sol
        action = np.asarray(self.access.call("action_from_replicas", np.asarray(replicas), index=k))
        # wall time of this call, with cached plans charged what they took when computed
        self.decision_times.append(time.perf_counter() - t_start - self._fresh + elapsed)
        self.stats["calls"] += 1
        return action

    def __repr__(self) -> str:
        return f"SolverPolicy({self.name!r}, method={self.method!r}, estimate={self.estimate!r})"


class RandomPolicy:
    """Uniformly random actions (seeded), with the same ``predict`` signature: the floor of every table."""

    name = "Random"

    def __init__(self, env: Any, seed: int = 0) -> None:
        self.action_space = env.action_space
        self.num_envs = int(getattr(env, "num_envs", 1))
        self.rng = np.random.default_rng(seed)
        self.decision_times: list[float] = []
        self.stats: Counter = Counter()

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        n = obs.shape[0] if obs.ndim >= 2 else 1
        t0 = time.perf_counter()
        nvec = np.asarray(self.action_space.nvec)
        a = (self.rng.random((n, *nvec.shape)) * nvec).astype(np.int64)
        self.decision_times.append((time.perf_counter() - t0) / n)
        return (a if obs.ndim >= 2 else a[0]), state

    def reset_stats(self) -> None:
        self.decision_times.clear()
        self.stats.clear()


def _hindsight(env: Any, **kwargs: Any) -> Any:
    from .hindsight import HindsightPolicy  # the episode's clairvoyant MILP plan (baselines/hindsight.py)

    return HindsightPolicy(env, **kwargs)


def _mpc(env: Any, **kwargs: Any) -> Any:
    from .mpc import MPCPolicy  # receding horizon over a forecast (baselines/mpc.py); options k, forecaster, …

    return MPCPolicy(env, **kwargs)


def _static_peak(env: Any, **kwargs: Any) -> Any:
    """``bau``: the static fleet sized for the training days' peak (:mod:`baselines.static_plan`)."""
    from .static_plan import StaticPeakPolicy

    return StaticPeakPolicy(env, **kwargs)


#: extra env policies by name (``random``, and any added with :func:`register_policy`): name -> factory(env)
_EXTRA_POLICIES: dict[str, Callable[..., Any]] = {
    "random": lambda env, seed=0: RandomPolicy(env, seed=seed), "hindsight": _hindsight, "mpc": _mpc,
    "mpc-oracle": lambda env, **kw: _mpc(env, **{"forecaster": "oracle", **kw}), "bau": _static_peak}
#: extra policies in ``hetserve compare``'s default set (:func:`compare_policies`)
_COMPARE_EXTRAS: list[str] = []


def register_policy(name: str, factory: Callable[..., Any], replace: bool = False, compare: bool = False) -> None:
    """Add an env policy ``name`` made by ``factory(env)`` (``hetserve evaluate/compare`` find it by name);
    ``compare=True`` puts it in ``hetserve compare``'s default set."""
    key = str(name).lower()
    if (key in _EXTRA_POLICIES or key in policy_names()) and not replace:
        raise ValueError(f"policy {key!r} is already registered (pass replace=True to replace it)")
    _EXTRA_POLICIES[key] = factory
    if compare and key not in _COMPARE_EXTRAS:
        _COMPARE_EXTRAS.append(key)


def unregister_policy(name: str) -> None:
    """Remove a policy added with :func:`register_policy` (``random`` stays)."""
    key = str(name).lower()
    if key == "random":
        raise ValueError("'random' is a built-in policy and cannot be removed")
    _EXTRA_POLICIES.pop(key, None)
    if key in _COMPARE_EXTRAS:
        _COMPARE_EXTRAS.remove(key)


def compare_policies() -> tuple[str, ...]:
    """``hetserve compare``'s default policies, from the registries: every solver's reactive policy it marks
    (``register_solver(compare=…)``), then its oracle ones, then its headroom ones, then the extras registered
    with ``compare=True`` (in registration order)."""
    names = []
    for estimate, suffix in (("reactive", ""), ("oracle", "-oracle"), ("headroom", "-headroom")):
        names += [f"{m}{suffix}" for m in solver_names() if estimate in get_solver(m).compare]
    return tuple(names + [k for k in _COMPARE_EXTRAS if k in _EXTRA_POLICIES])


def policy_names() -> tuple[str, ...]:
    """Every env policy name: each per-window solver of :mod:`baselines.registry` as ``<name>``,
    ``<name>-headroom`` and ``<name>-oracle``, then ``random`` and the registered extras."""
    names = [f"{m}{suffix}" for m in solver_names() if get_solver(m).per_window
             for suffix in ("", "-headroom", "-oracle")]
    return tuple(names + [k for k in _EXTRA_POLICIES if k not in names])


def solver_policy_spec(key: str) -> tuple[str, str] | None:
    """``(method, estimate)`` of a solver policy name, None if ``key`` is not one."""
    method, estimate = key, "reactive"
    for suffix, est in (("-headroom", "headroom"), ("-oracle", "oracle")):
        if key.endswith(suffix):
            method, estimate = key[: -len(suffix)], est
    if method in solver_names() and get_solver(method).per_window:
        return method, estimate
    return None


def make_policy(spec: str, env: Any, **kwargs: Any) -> Any:
    """A policy by name (:func:`policy_names`): a solver, its ``-headroom`` and ``-oracle`` variants, ``random``.

    ``kwargs`` go to :class:`SolverPolicy` (``headroom``, ``solve_options``, ``cache``, ``name``) or, for
    ``random``, ``seed``; a policy added with :func:`register_policy` is made with ``factory(env, **kwargs)``
    (e.g. ``make_policy("mpc", env, k=3)``)."""
    key = str(spec).lower()
    solver = solver_policy_spec(key)
    if solver is not None:
        kwargs.pop("seed", None)
        return SolverPolicy(env, solver[0], estimate=solver[1], **kwargs)
    if key in _EXTRA_POLICIES:
        if key == "random":
            return RandomPolicy(env, **{k: v for k, v in kwargs.items() if k == "seed"})
        return _EXTRA_POLICIES[key](env, **kwargs)
    raise ValueError(f"unknown policy {spec!r}; choose one of {sorted(policy_names())}")


__all__ = ["ESTIMATES", "MILP_STEP_OPTIONS", "RandomPolicy", "SolverPolicy", "compare_policies", "make_policy", "policy_label",
           "policy_names", "problem_key", "register_policy", "solver_policy_spec", "unregister_policy"]
