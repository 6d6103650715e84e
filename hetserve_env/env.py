"""HetServeEnv: provision a heterogeneous GPU fleet for LLM inference, window after window (DESIGN §5).

See :class:`HetServeEnv` for the full specification and ``docs/environment.md`` for the design notes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .allocation import TOL, Allocation, _f, _i, _kernels, evaluate
from .problem import Problem
from .routing import ROUTERS, route
from .rules import ENV_RULES, Rule, check_int, check_number
from .scenario import SCENARIO_RULES, Scenario, load_scenario
from .traces.series import SPLIT_NAMES

ACTION_MODES = ("target", "delta")

#: Observation scales and clipping bounds (documented in the class docstring).
TOKEN_SCALE = 1000.0  # tokens are observed in thousands
RATE_OBS_MAX = 100.0  # rate / mean rate is clipped to [0, RATE_OBS_MAX]
TOKEN_OBS_MAX = 1000.0  # tokens / 1000 clipped to [0, TOKEN_OBS_MAX]

_COST_TERMS = ("rental", "cold_start", "storage", "unmet_penalty", "delay_penalty", "error_penalty", "clip_penalty", "total")
_TYPE_STATIC = ("delay_slo", "error_slo", "max_unmet", "unmet_penalty", "delay_penalty", "error_penalty")


def _trusted_problem(fields: dict[str, Any]) -> Problem:
    """A Problem from arrays that are already validated (slices of a validated Problem): skips ``__post_init__``.

    The environment builds one Problem per step from precomputed arrays; validating them again each step would
    cost more than the step itself. The fields are exactly those ``Scenario.compile`` produces (tests check it).
    """
    p = object.__new__(Problem)
    p.__dict__.update(fields)
    return p


class _LastStep(dict):
    """The last step's record (for ``render`` and tests). The window's Problem, Allocation and Evaluation are
    built on first access (the step itself never needs them as objects); the Evaluation is ``evaluate``'s,
    on the same inputs as the step's own compiled call, so its numbers are the step's."""

    def __init__(self, env: "HetServeEnv", t: int, act: np.ndarray, target: np.ndarray, x: np.ndarray, u: np.ndarray,
                 cost: dict[str, float]) -> None:
        super().__init__(t=t, act=act, cost=cost)
        self._env, self._target, self._x, self._u, self._rec = env, target, x, u, env._rec_avail

    def __missing__(self, key: str) -> Any:
        if key == "available":
            value = self._rec[self["t"]][self["act"]]
        elif key == "target":
            value = self._target[self["act"]]
        elif key == "problem":
            value = self._env._window_problem(self["t"], self["act"])
        elif key == "allocation":
            value = Allocation(self["target"].copy(), self._x, self._u)
        elif key == "evaluation":
            value = evaluate(self["problem"], self["allocation"], latency="load", available=self["available"])
        else:
            raise KeyError(key)
        self[key] = value
        return value


class HetServeEnv(gym.Env[np.ndarray, np.ndarray]):
    """
    ## Description

    An agent rents a heterogeneous GPU fleet to serve LLM inference requests, one planning window at a time
    (10 minutes by default; 5 in the paper-like variant), over real trace-driven demand. Each *template* is one
    replica of a model on a GPU type at a precision with a tensor/pipeline-parallel degree (e.g.
    ``Qwen2.5-32B@A100-80GB/int8 TP2 PP1``); the scenario (``hetserve_env/scenarios/*.yaml``) defines the query
    types (rate, token mix, delay and error SLOs, penalties), the templates, the budget ($/h) and the
    inventory (GPUs per type). Every step the agent sets how many replicas of each template it wants; a
    router then places the window's demand on the replicas that are serving and
    :func:`hetserve_env.allocation.evaluate` prices the window. The environment implements the dynamic
    version of arXiv 2604.07472 (Cheng & Nguyen, 2026); the same ``evaluate`` scores the GH/AGH/MILP baselines.

    One step = one window of the scenario's demand series. Within a step:

    1. The action is validated (shape, dtype, range: a bad action raises ``ValueError`` naming the index,
       the value and the allowed range; nothing is reinterpreted) and turned into target replica counts.
    2. Budget, inventory and storage are enforced: if the targets break a limit, *newly added* replicas are
       dropped, most expensive template first (one replica at a time, ties by higher template index), until
       every limit holds. Replicas kept from the previous window are never dropped (they were within limits).
       The step is flagged (``info["clipped"]``, ``info["clip_reason"]``) and penalised with
       ``clip_penalty`` × the window's rental of the dropped replicas ($, ``info["cost"]["clip_penalty"]``).
    3. Cold starts: a replica added in this step is billed for the whole window but starts serving only after
       ``boot_s + weight_gb / load_gbps`` seconds (scenario ``env.cold_start``), so in the window it becomes
       ready in it serves ``max(0, 1 - remaining / window_s)`` of the window, and fully afterwards.
       Removals take effect at once; replicas still starting are removed first (youngest first).
    4. Demand: the series' rate for the window times seeded log-normal noise ``exp(noise · N(0, 1))`` per type
       (``noise=0`` replays the series exactly); token means are the series'.
    5. Routing (``router="greedy"``, or the exact ``"lp"``; :mod:`hetserve_env.routing`) places the realised
       demand on the serving replica-equivalents without exceeding any template's capacity; what cannot be
       placed is unmet (not capped at the type's ζ: exceeding ζ is reported as a ``max_unmet`` violation).
    6. ``evaluate(problem, allocation, latency="load", available=serving)`` gives every $ term: latency is
       load-dependent (``latency / (1 - utilisation · load_slope)``), so a fleet run near saturation pays a
       higher delay penalty, and demand beyond capacity is unmet and misses its SLO.

    ## Action Space

    ``action_mode="target"`` (default): ``MultiDiscrete([R_max + 1] * D)``, the target number of replicas of
    each of the D templates (``R_max`` = scenario ``env.max_replicas`` unless ``max_replicas`` is given).
    Solver policies map ``Allocation.replicas`` straight onto it (:meth:`action_from_replicas`).

    ``action_mode="delta"``: ``MultiDiscrete([3] * D)``; 0 removes one replica of the template, 1 keeps the
    count, 2 adds one. The count saturates at 0 and ``R_max`` (removing from zero keeps zero).

    Integer arrays of shape ``(D,)`` only (any integer dtype); floats, booleans, other shapes or values out of
    range raise ``ValueError``.

    ``action_masks()`` (for sb3-contrib's MaskablePPO; also ``info["action_mask"]``) is a flat bool array of
    length ``sum(nvec)``. In target mode value ``v`` of template ``d`` is allowed iff ``v · gpus_d`` fits its
    GPU type's inventory, ``v · cost_d`` fits the budget and (for ``v > 0``) the template's weights fit the
    storage; in delta mode "remove" is allowed iff the template has a replica, "keep" always, "add" iff the
    count plus one passes the same test and ``R_max``. Masks are per dimension: a combination of allowed
    values can still exceed a joint limit, and is then clipped as in step 2.

    ## Observation Space

    A flat ``Box(float32)`` of size ``H·I + 2·I + 2·D + 2 + I + 1`` (``H`` = scenario ``env.history``, ``I``
    query types, ``D`` templates), in this order:

    | Component | Size | Scale | Range |
    |---|---|---|---|
    | realised rate of the last ``H`` windows, oldest first, per type | H·I | ÷ the type's mean rate over the scenario's series | [0, 100] (clipped) |
    | mean input tokens of the last window, per type | I | ÷ 1000 | [0, 1000] |
    | mean output tokens of the last window, per type | I | ÷ 1000 | [0, 1000] |
    | replicas fully serving at the start of the next window, per template | D | ÷ R_max | [0, 1] |
    | replicas still cold-starting at the start of the next window, per template | D | ÷ R_max | [0, 1] |
    | time of day of the next window: sin, cos of 2π·(window of day)/(windows per day) | 2 | — | [-1, 1] |
    | SLO attainment of the last window, per type (share of requests served within the delay SLO) | I | share | [0, 1] |
    | budget share in use: hourly cost of the current fleet ÷ budget | 1 | share | [0, 1] |

    Before the first step the "last windows" are the ``H`` windows preceding the episode in the series (the
    first window is repeated at the very start of the series), with the same noise; SLO attainment is 1.

    ## Rewards

    ``reward = -(rental + cold_start + storage + unmet_penalty + delay_penalty + error_penalty + clip_penalty)
    / reward_scale``, each term in $ for the window (``evaluate``'s $/h × window hours):
    rental of serving replica-equivalents, rental of replicas billed while cold-starting, storage of deployed
    weights, unmet requests × φ, request-seconds of load-dependent latency × ρ, erroneous requests beyond the
    error SLO × ψ, and the clipping penalty of step 2. ``reward_scale`` defaults to ``budget_per_hour ×
    window hours``, so spending the whole budget for a window costs −1. ``info["cost"]`` holds every term in
    dollars and their ``"total"``; ``-info["cost"]["total"] / info["reward_scale"] == reward``.

    ## Starting State

    No replicas (an empty fleet), unless ``reset(options={"replicas": counts})`` gives a warm, already serving
    fleet (counts within ``0..R_max`` and within budget, inventory and storage, else ``ValueError``). The day is
    ``reset(options={"day": d})`` (a day id of the split with ``episode_days - 1`` split days after it) or drawn
    uniformly from the split with the environment's ``np_random``.

    ## Episode End

    ``terminated`` is always False: nothing ends the task early. ``truncated`` is True at the last window of
    the episode (``episode_days`` consecutive days of the split, e.g. 144 steps for one day of 10-minute
    windows); the registered ids set no ``max_episode_steps``. Stepping after that raises ``RuntimeError``.

    ## Arguments

    ```python
    >>> import gymnasium as gym
    >>> import hetserve_env  # registers the ids
    >>> env = gym.make("hetserve_env/HetServeSmall-v0", noise=0.1, render_mode="ansi")
    >>> obs, info = env.reset(seed=0, options={"day": 3})
    ```

    | Parameter | Type | Default | Description |
    |---|---|---|---|
    | `scenario` | str, Path, Mapping or Scenario | `"default"` | bundled name (`small`, `default`, `paper`), YAML path, mapping or a loaded Scenario |
    | `split` | str | `"train"` | days to draw episodes from: `train`, `validation`, `test` |
    | `window_minutes` | float or None | scenario's | window length; another value re-windows the scenario's demand |
    | `episode_days` | int | 1 | consecutive split days per episode |
    | `noise` | float | 0.0 | σ of the multiplicative log-normal demand noise (0 = exact replay) |
    | `reward_scale` | float or None | budget × window hours | the reward is −$ / reward_scale |
    | `action_mode` | str | `"target"` | `"target"` replica counts or `"delta"` −1/0/+1 per template |
    | `router` | str | `"greedy"` | `"greedy"` (fast) or `"lp"` (exact, HiGHS) |
    | `render_mode` | str or None | None | `"ansi"` or `"rgb_array"` |
    | `max_replicas` | int or None | scenario's | R_max, the largest count per template |
    | `clip_penalty` | float | 1.0 | $ penalty per $ of dropped rental when an action is clipped |

    Registered ids: ``hetserve_env/HetServe-v0`` (default scenario), ``hetserve_env/HetServeSmall-v0``
    (small), ``hetserve_env/HetServePaper-v0`` (paper, 5-minute windows).

    Helpers for policies: :meth:`action_from_replicas`, :meth:`last_window_problem` (what a reactive planner
    sees), :meth:`next_window_problem` (the oracle's view), :attr:`replicas`, :attr:`scenario`.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        scenario: str | Path | Mapping[str, Any] | Scenario = "default",
        *,
        split: str = "train",
        window_minutes: float | None = None,
        episode_days: int = 1,
        noise: float = 0.0,
        reward_scale: float | None = None,
        action_mode: str = "target",
        router: str = "greedy",
        render_mode: str | None = None,
        max_replicas: int | None = None,
        clip_penalty: float = 1.0,
    ) -> None:
        super().__init__()
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if window_minutes is not None:
            wm = check_number(ValueError, "window_minutes", window_minutes, SCENARIO_RULES["window_minutes"])
            if abs(wm * 60.0 - sc.window_s) > 1e-9:
                sc = Scenario({**sc.raw, "window_minutes": wm}, sc.source, catalog=sc.catalog)
        self.scenario = sc
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {list(ACTION_MODES)}, got {action_mode!r}")
        if router not in ROUTERS:
            raise ValueError(f"router must be one of {list(ROUTERS)}, got {router!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        noise = check_number(ValueError, "noise", noise, ENV_RULES["noise"])  # σ; see rules.MAX_NOISE
        clip_penalty = check_number(ValueError, "clip_penalty", clip_penalty, ENV_RULES["clip_penalty"])
        self.action_mode, self.router, self.render_mode = action_mode, router, render_mode
        self.noise, self.clip_penalty = noise, clip_penalty
        self.max_replicas = sc.env.max_replicas if max_replicas is None else check_int(
            ValueError, "max_replicas", max_replicas, ENV_RULES["max_replicas"])
        self.history = int(sc.env.history)

        # ---- demand: the split's days
        demand = sc.demand
        if split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {list(SPLIT_NAMES)}, got {split!r}")
        self.split = split
        self.split_days = tuple(int(d) for d in demand.split_day_ids(split))
        self.episode_days = check_int(ValueError, "episode_days", episode_days,
                                      Rule(1, len(self.split_days), integer=True))  # days in the split
        self._demand = demand
        self.window_s = float(demand.window_s)
        self.windows_per_day = demand.windows_per_day
        day_of = demand.day
        self._day_start = {int(d): int(np.searchsorted(day_of, d, "left")) for d in self.split_days}
        self._day_end = {int(d): int(np.searchsorted(day_of, d, "right")) for d in self.split_days}
        self._mean_rate = np.maximum(demand.rate.mean(axis=0), 1e-9)

        # ---- static problem data (from one validated Problem: the single source of field values)
        tpl = sc.templates
        first = self._day_start[self.split_days[0]]
        base = sc.compile(demand.rate[first], demand.input_tokens[first], demand.output_tokens[first])
        self._base = base
        self.n_types, self.n_templates, self.n_gpu_types = base.n_types, base.n_templates, base.n_gpu_types
        I, D, G = self.n_types, self.n_templates, self.n_gpu_types
        self._labels = np.array(base.template_labels, dtype=object)
        self._cost = base.cost
        self._gpus = base.gpus
        self._tgpu = base.template_gpu
        self._tart = base.template_artifact
        self._error = base.error
        self._inventory = base.inventory
        self._budget = base.budget
        self._storage_gb = base.storage_gb
        self._artifact_gb = base.artifact_gb
        self._tpl_int = np.stack([self._tgpu, self._tart, self._gpus]).astype(np.int64)
        self._cheap_first = np.argsort(self._cost, kind="stable")
        self._shared = {f: getattr(base, f) for f in ("type_names", "gpu_names", "artifact_names", *_TYPE_STATIC, "inventory",
                                                      "artifact_gb", "budget", "storage_gb", "storage_cost", "window_s")}
        self._shared.update(name=f"{sc.name}", meta={"scenario": sc.name})

        # ---- cold start: availability of a replica of age k (windows since asked for) in that window
        cs = np.asarray(sc.env.cold_start.seconds(tpl.weight_gb), dtype=float)
        self.cold_start_s = cs
        K = max(1, int(math.ceil(float(cs.max()) / self.window_s - 1e-12)))
        self._K = K
        ages = np.arange(K)[:, None]
        self._avail_by_age = np.clip(ages + 1.0 - cs[None, :] / self.window_s, 0.0, 1.0)  # (K, D)
        next_full = np.ones((K, D), dtype=bool)
        if K > 1:
            next_full[:-1] = self._avail_by_age[1:] >= 1.0
        self._next_full = next_full
        # argument groups of the compiled step (hetserve_env._kernels), in their order; float64/int64, C-contiguous.
        # "fleet" is fleet_update's tail: [0] avail_by_age, then [1:11] limits_broken's and [1:] enforce_limits' tails
        self._static = {
            "fleet": (_f(self._avail_by_age), _f(self._cost), _i(self._tgpu), _i(self._gpus), _f(self._inventory),
                      float(self._budget), TOL, bool(math.isfinite(self._storage_gb)), _f(self._artifact_gb),
                      _i(self._tart), float(self._storage_gb), _i(self._cheap_first)),
            "types": (_f(base.delay_slo), _f(base.error_slo), _f(base.max_unmet), _f(base.unmet_penalty),
                      _f(base.delay_penalty), _f(base.error_penalty), float(base.storage_cost), float(self.window_s),
                      int(G)),
        }
        fl, ty = self._static["fleet"], self._static["types"]
        self._static["window"] = (*ty, fl[1], fl[2], fl[9], fl[3], fl[4], fl[8], fl[5], fl[10], TOL)  # env_window's order

        # ---- reward scale
        hours = self.window_s / 3600.0
        self.reward_scale = float(self._budget * hours if reward_scale is None else reward_scale)
        if not math.isfinite(self.reward_scale) or self.reward_scale <= 0:
            raise ValueError(f"reward_scale must be > 0, got {reward_scale!r}")

        # ---- spaces
        R = self.max_replicas
        if action_mode == "target":
            self.action_space = spaces.MultiDiscrete(np.full(D, R + 1, dtype=np.int64))
        else:
            self.action_space = spaces.MultiDiscrete(np.full(D, 3, dtype=np.int64))
        H = self.history
        self._obs_slices = {}
        low, high, k = [], [], 0
        for name, size, lo, hi in (("rate", H * I, 0.0, RATE_OBS_MAX), ("input_tokens", I, 0.0, TOKEN_OBS_MAX),
                                   ("output_tokens", I, 0.0, TOKEN_OBS_MAX), ("serving", D, 0.0, 1.0), ("warming", D, 0.0, 1.0),
                                   ("time", 2, -1.0, 1.0), ("slo_attainment", I, 0.0, 1.0), ("budget_used", 1, 0.0, 1.0)):
            self._obs_slices[name] = slice(k, k + size)
            low.append(np.full(size, lo)), high.append(np.full(size, hi))
            k += size
        self.observation_space = spaces.Box(np.concatenate(low).astype(np.float32), np.concatenate(high).astype(np.float32), dtype=np.float32)
        self._obs_size = k
        # names of what a step can report: violations by (family code, index), clipped inventories by GPU type
        kern = _kernels()
        labels = {"type": base.type_names, "template": base.template_labels, "gpu": base.gpu_names}
        self._violation_names = [[f"{fam}[{lbl}]" for lbl in labels[kind]] if kind else [fam]
                                 for fam, kind in zip(kern.VIOLATION_FAMILIES, kern.FAMILY_INDEX)]
        self._gpu_reason = [f"inventory[{g}]" for g in base.gpu_names]

        # ---- per-value feasibility for masks: ok[v, d] for v = 0..R
        v = np.arange(R + 1)[:, None]
        fits = (v * self._gpus[None, :] <= self._inventory[self._tgpu][None, :]) & (v * self._cost[None, :] <= self._budget + TOL)
        fits &= (v == 0) | (self._artifact_gb[self._tart] <= self._storage_gb + TOL)[None, :]
        self._value_ok = fits  # (R+1, D)
        self._target_mask = fits.T.reshape(-1).copy()
        self._target_mask.flags.writeable = False

        self._perf_cache: dict[str, np.ndarray] | None = None
        self._t = -1  # not reset yet
        self._T = 0
        self._ready = np.zeros(D, dtype=np.int64)
        self._warm = np.zeros((K, D), dtype=np.int64)
        self._last = None

    @property
    def _last(self) -> "_LastStep | None":
        """The last step's record (render, tests), built on first access from what the step kept."""
        if self._last_record is None and self._last_step is not None:
            self._last_record = _LastStep(self, *self._last_step)
        return self._last_record

    @_last.setter
    def _last(self, value: None) -> None:
        self._last_step = self._last_record = value

    # ================================================================================== public helpers
    @property
    def template_labels(self) -> tuple[str, ...]:
        return self._base.template_labels

    @property
    def type_names(self) -> tuple[str, ...]:
        return self._base.type_names

    @property
    def replicas(self) -> np.ndarray:
        """Billed replicas per template after the last action (serving + cold-starting), int64 (D,)."""
        return (self._ready + self._warm.sum(axis=0)).astype(np.int64)

    @property
    def episode_length(self) -> int:
        """Steps in the current episode (0 before the first reset)."""
        return self._T

    def action_from_replicas(self, replicas: np.ndarray) -> np.ndarray:
        """A valid action that moves the fleet towards ``replicas`` (clipped to 0..R_max).

        Target mode: the counts themselves; delta mode: the sign of the change (+1/−1 per step).
        """
        r = np.clip(np.rint(np.asarray(replicas, dtype=float)), 0, self.max_replicas).astype(np.int64)
        if r.shape != (self.n_templates,):
            raise ValueError(f"replicas has shape {r.shape}, expected ({self.n_templates},)")
        if self.action_mode == "target":
            return r
        return (np.sign(r - self.replicas) + 1).astype(np.int64)

    def action_masks(self) -> np.ndarray:
        """Flat bool mask of length ``sum(action_space.nvec)`` (sb3-contrib MaskablePPO convention)."""
        if self.action_mode == "target":
            return self._target_mask.copy()
        cur = self.replicas if self._t >= 0 else np.zeros(self.n_templates, dtype=np.int64)
        up = np.minimum(cur + 1, self.max_replicas)
        add_ok = (cur < self.max_replicas) & self._value_ok[up, np.arange(self.n_templates)]
        return np.stack([cur > 0, np.ones(self.n_templates, dtype=bool), add_ok], axis=1).reshape(-1)

    def last_window_problem(self) -> Problem:
        """The full, validated Problem of the most recent observed window (realised rate and its tokens).

        What a reactive planner plans the next window for. Before the first step: the last history window.
        """
        self._require_reset()
        row = self._t + self.history - 1
        return self.scenario.compile(self._rate[row].copy(), self._tok_in[row].copy(), self._tok_out[row].copy(),
                                     name=f"{self.scenario.name}:w{self._hist_index[row]}")

    def next_window_problem(self) -> Problem:
        """The full, validated Problem of the next window (its realised demand): an oracle's view."""
        self._require_reset()
        if self._t >= self._T:
            raise RuntimeError("the episode is over: there is no next window")
        row = self._t + self.history
        return self.scenario.compile(self._rate[row].copy(), self._tok_in[row].copy(), self._tok_out[row].copy(),
                                     name=f"{self.scenario.name}:w{self._hist_index[row]}")

    # ======================================================================================= gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"day", "replicas"})
        if unknown:
            raise ValueError(f"reset options: unknown key(s) {unknown}; known: ['day', 'replicas']")
        n_start = len(self.split_days) - self.episode_days + 1
        if options.get("day") is not None:
            day = options["day"]
            if isinstance(day, (bool, np.bool_)) or not isinstance(day, (int, np.integer)):
                raise ValueError(f"reset options['day'] must be an integer day id, got {day!r}")
            if int(day) not in self.split_days[:n_start]:
                raise ValueError(f"reset options['day'] = {day} is not a start day of split {self.split!r} with "
                                 f"episode_days={self.episode_days}; allowed: {list(self.split_days[:n_start])}")
            k0 = self.split_days.index(int(day))
        else:
            k0 = int(self.np_random.integers(n_start))
        days = self.split_days[k0:k0 + self.episode_days]
        self.days = days
        win = np.concatenate([np.arange(self._day_start[d], self._day_end[d]) for d in days])
        H, I, D = self.history, self.n_types, self.n_templates
        hist = np.maximum(np.arange(win[0] - H, win[0]), 0)
        idx = np.concatenate([hist, win])
        self._hist_index = idx
        self._win = win
        self._T = T = win.size
        dm = self._demand
        rate = dm.rate[idx]
        if self.noise > 0:
            rate = rate * np.exp(self.noise * self.np_random.standard_normal(rate.shape))
        self._rate = rate
        self._tok_in, self._tok_out = dm.input_tokens[idx], dm.output_tokens[idx]
        self._rate_obs = np.minimum(rate / self._mean_rate, RATE_OBS_MAX).astype(np.float32)
        self._tok_obs = np.minimum(np.concatenate([self._tok_in, self._tok_out], axis=1) / TOKEN_SCALE, TOKEN_OBS_MAX).astype(np.float32)
        # time of day of each episode window (and one past the end)
        pos = np.concatenate([np.arange(self._day_end[d] - self._day_start[d]) for d in days])
        pos = np.append(pos, pos[-1] + 1)
        phase = 2 * np.pi * pos / self.windows_per_day
        self._time_obs = np.stack([np.sin(phase), np.cos(phase)], axis=1).astype(np.float32)
        perf = self._perf()
        self._row = perf["row_of_window"][win]

        self._ready = np.zeros(D, dtype=np.int64)
        self._warm = np.zeros((self._K, D), dtype=np.int64)
        if options.get("replicas") is not None:
            r = self._validate_action(options["replicas"], what="reset options['replicas']", mode="target")
            over = self._over_limits(r)
            if over:
                raise ValueError(f"reset options['replicas'] exceeds {', '.join(over)}")
            self._ready = r.copy()
        self._t = 0
        self._attain = np.ones(I, dtype=np.float32)
        self._budget_used = float(self._cost @ self._ready) / self._budget
        # per-step records for rendering
        self._rec_avail = np.zeros((T, D))
        self._rec_served = np.zeros(T)
        self._rec_gpus = np.zeros((T, self.n_gpu_types))
        self._last = None
        st = self._static
        self._step_args = (self.action_mode == "delta", self._ready, self._warm, self.max_replicas, *st["fleet"],
                           self._perf_cache["pairs"], self._rate, *st["types"], self.window_s / 3600.0,
                           self.history, self._rate_obs, self._tok_obs, self._time_obs, self._next_full, self._rec_avail,
                           self._rec_served, self._rec_gpus)
        info = {"day": days[0], "days": days, "window": int(win[0]), "action_mask": self.action_masks(),
                "demand": rate[H - 1].copy()}
        return self._observation(), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._require_reset()
        t = self._t
        if t >= self._T:
            raise RuntimeError("the episode is over (it was truncated at the end of its days of demand); call reset()")
        a = self._validate_action(action, what="action", mode=self.action_mode)
        k = _kernels()
        h = t + self.history
        obs = np.empty(self._obs_size, dtype=np.float32)
        if self.router == "greedy":
            # the whole step (ageing, limits, routing, evaluate, money, observation) in one compiled call
            target, act, x, u, out, viol = k.env_step(a, self._row[t], h, t, obs, self.clip_penalty, *self._step_args)
        else:
            st = self._static
            fleet = k.fleet_update(a, self.action_mode == "delta", self._ready, self._warm, self.max_replicas, *st["fleet"])
            target, available = fleet[0], fleet[6]
            act = np.flatnonzero(target)
            alloc = route(self._window_problem(t, act), available[act], self.router, replicas=target[act])
            act, x, u, out, viol = k.env_window(
                *fleet, self._perf_cache["pairs"], self._row[t], self._rate, h, *st["window"], self.window_s / 3600.0,
                self.clip_penalty, obs, t, self.history, self._rate_obs, self._tok_obs, self._time_obs, self._ready,
                self._warm, self._next_full, self.max_replicas, self._rec_avail, self._rec_served, self._rec_gpus, False,
                _f(alloc.routing), _f(alloc.unmet))
        vals = out.tolist()
        I, G = self.n_types, self.n_gpu_types
        cost = dict(zip(_COST_TERMS, vals[:k.N_COST]))
        reward = -vals[k.N_COST - 1] / self.reward_scale
        on_time = vals[k.E_HEAD:k.E_HEAD + I]
        self._attain = on_time
        self._budget_used = vals[k.E_BUDGET_USED]
        self._last_step = (t, act, target, x, u, cost)
        self._last_record = None
        self._t = t + 1
        slo = dict(zip(self._base.type_names, on_time))
        slo["overall"] = vals[k.E_OVERALL]
        reasons = (self._limit_names(vals[k.E_OVER_BUDGET], vals[k.E_HEAD + I + G:], vals[k.E_OVER_STORAGE])
                   if vals[k.E_CLIPPED] else [])
        if vals[k.E_N_VIOL]:
            names, v = self._violation_names, viol.tolist()
            violations = [names[v[j]][v[j + 1]] for j in range(0, len(v), 2)]
        else:
            violations = []
        info = {
            "cost": cost,
            "reward_scale": self.reward_scale,
            "served_rate": vals[k.E_SERVED],
            "unmet_rate": vals[k.E_UNMET],
            "demand": self._rate[h].copy(),
            "slo_attainment": slo,
            "gpus_by_type": dict(zip(self._base.gpu_names, vals[k.E_HEAD + I:k.E_HEAD + I + G])),
            "replicas": target,
            "violations": violations,
            "clipped": bool(vals[k.E_CLIPPED]),
            "clip_reason": reasons,
            "action_mask": self.action_masks(),
            "window": int(self._win[t]),
        }
        return obs, reward, False, self._t == self._T, info

    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        from . import render as _render

        if self.render_mode == "ansi":
            return _render.render_ansi(self)
        return _render.render_rgb(self)

    def close(self) -> None:
        from . import render as _render

        _render.close(self)

    # ========================================================================================== internals
    def _require_reset(self) -> None:
        if self._t < 0:
            raise RuntimeError("call reset() before step() or the problem helpers")

    def _perf(self) -> dict[str, np.ndarray]:
        """Performance arrays of every distinct token mix of the split's windows (computed once, cached).

        Capacity, latency and load slope depend on the token means only (not on the rate), and the series
        holds few distinct token mixes, so the whole split costs a handful of vectorised model calls.
        """
        if self._perf_cache is None:
            dm = self._demand
            mask = np.isin(dm.day, self.split_days)
            toks = np.concatenate([dm.input_tokens, dm.output_tokens], axis=1)
            uniq, inverse = np.unique(toks[mask], axis=0, return_inverse=True)
            row_of_window = np.full(dm.n_windows, -1, dtype=np.int64)
            row_of_window[mask] = inverse.reshape(-1)
            I = self.n_types
            p = self.scenario.perf(uniq[:, :I], uniq[:, I:])
            load_slope = np.minimum(p.load_slope, 1 - 1e-12)  # as Scenario.compile
            self._perf_cache = {
                "row_of_window": row_of_window,
                # one array per distinct token mix so a step slices all pair fields at once: (U, 4, I, D) of
                # capacity, latency, load slope, error
                "pairs": np.stack([p.capacity_rps, p.latency_s, load_slope, np.broadcast_to(self._error, p.latency_s.shape)], axis=1),
            }
        return self._perf_cache

    def _validate_action(self, action: Any, *, what: str, mode: str) -> np.ndarray:
        a = action if isinstance(action, np.ndarray) else np.asarray(action)
        D = self.n_templates
        if a.dtype.kind not in "iu":
            raise ValueError(f"{what} must be an integer array (MultiDiscrete), got dtype {a.dtype}; "
                             "floats and booleans are not converted")
        if a.shape != (D,):
            raise ValueError(f"{what} has shape {a.shape}, expected ({D},) — one entry per template")
        hi = self.max_replicas if mode == "target" else 2
        a64 = a.astype(np.int64)  # a copy; a value that wraps (uint64 >= 2**63) turns negative and is caught
        k = int(_kernels().out_of_range(a64, hi))
        if k >= 0:
            meaning = "target replicas" if mode == "target" else "0 remove one / 1 keep / 2 add one"
            raise ValueError(f"{what}[{k}] = {int(a[k])} is out of range 0..{hi} ({meaning}) for template "
                             f"{self._labels[k]!r}")
        return a64

    def _over_limits(self, r: np.ndarray) -> list[str]:
        """Names of the limits ``r`` breaks (budget, inventory[g], storage), judged as the step judges them."""
        return self._limit_names(*_kernels().limits_broken(_i(r), *self._static["fleet"][1:11]))

    def _limit_names(self, over_budget: Any, over_gpu: Any, over_storage: Any) -> list[str]:
        """``info["clip_reason"]`` / reset's error: names of the broken limits from the kernels' flags."""
        return ((["budget"] if over_budget else []) + [self._gpu_reason[g] for g, o in enumerate(over_gpu) if o]
                + (["storage"] if over_storage else []))

    def _enforce_limits(self, target: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
        """Clip ``target`` to budget, inventory and storage by dropping new replicas, most expensive first.

        Returns (target, dropped replicas per template or None, names of the limits that were exceeded). The rule
        is computed by :func:`hetserve_env._kernels.enforce_limits` (what ``step`` runs).
        """
        target, dropped, clipped, over_budget, over_gpu, over_storage = _kernels().enforce_limits(
            _i(target), _i(current), *self._static["fleet"][1:])
        if not clipped:
            return target, None, []
        return target, dropped, self._limit_names(over_budget, over_gpu, over_storage)

    def _window_problem(self, t: int, act: np.ndarray) -> Problem:
        """The window's Problem on the billed templates ``act`` only (exact: the others carry no load and no cost)."""
        h = t + self.history
        pair = self._perf_cache["pairs"][self._row[t]][:, :, act]  # capacity, latency, load_slope, error: (4, I, K)
        ints = self._tpl_int[:, act]  # template_gpu, template_artifact, gpus: (3, K)
        return _trusted_problem({
            **self._shared,
            "template_labels": tuple(self._labels[act]),
            "rate": self._rate[h], "input_tokens": self._tok_in[h], "output_tokens": self._tok_out[h],
            "template_gpu": ints[0], "template_artifact": ints[1], "gpus": ints[2], "cost": self._cost[act],
            "capacity": pair[0], "latency": pair[1], "load_slope": pair[2], "error": pair[3],
        })

    def _observation(self) -> np.ndarray:
        """The observation of the window about to be played (the layout of the class docstring), by the same
        compiled function the step uses."""
        return _kernels().observe(np.empty(self._obs_size, dtype=np.float32), self._t, self.history, self._rate_obs,
                                  self._tok_obs, self._time_obs, self._ready, self._warm, self._next_full,
                                  self.max_replicas, np.asarray(self._attain, dtype=np.float64), float(self._budget_used))

    def __repr__(self) -> str:
        return (f"HetServeEnv(scenario={self.scenario.name!r}, split={self.split!r}, window={self.window_s / 60:g} min, "
                f"types={self.n_types}, templates={self.n_templates}, action_mode={self.action_mode!r}, router={self.router!r})")
