"""HetServeEnv: provision a heterogeneous GPU fleet for LLM inference, window after window.

See :class:`HetServeEnv` for the full specification and ``docs/environment.md`` for the design notes. The
step's numbers come from the compiled kernels (:mod:`hetserve_env.kernels`), called with the named records
this module builds: EnvParams once per environment, EnvState once per episode.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from .actions import delta_mask, toward_replicas, validate_action
from .kernels.access import as_float64 as _f, as_int64 as _i, compiled as _kernels
from .episode import EpisodeStart, billed_window_problem, episode_days, episode_demand, episode_state
from .env_windows import WindowProblems
from .env_params import cold_start, env_params, fleet_limits, shared_fields, token_mix_table, value_masks
from .kernels.records import EnvParams, EnvState, StepOutput, step_output
from .observation import ObservationLayout
from .problem import Problem
from .routing import ROUTERS, route
from .rules import ENV_RULES, Rule, check_int, check_number
from .scenario import SCENARIO_RULES, Scenario, load_scenario
from .step_info import InfoLayout, reset_info, step_info
from .step_record import EpisodeTrace, StepRecord, episode_trace
from .traces.series import SPLIT_NAMES

ACTION_MODES = ("target", "delta")


class HetServeEnv(WindowProblems, gym.Env[np.ndarray, np.ndarray]):
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
    dollars and their ``"total"``; ``-info["cost"]["total"] / info["reward_scale"] == reward``. ``info`` has the
    same keys and value types/shapes at reset and every step (:mod:`hetserve_env.step_info`): violations as a
    fixed-length array of amounts, ``clip_reason`` as an int code; :attr:`info_layout` decodes both to names.

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
    >>> env = gym.make("hetserve_env/HetServeSmall-v1", noise=0.1, render_mode="ansi")
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
    | `perf_model` | str or None | scenario's (`v1`) | performance model version, `"v1"` or `"v2"` (docs/model.md) |

    Registered ids: ``hetserve_env/HetServe-v1`` (default scenario), ``hetserve_env/HetServeSmall-v1``
    (small), ``hetserve_env/HetServePaper-v1`` (paper, 5-minute windows), and the same three as ``-v2``
    (performance model v2).

    Helpers for policies: :meth:`action_from_replicas`, :meth:`last_window_problem` (what a reactive planner
    sees), :meth:`next_window_problem` (the oracle's view), :meth:`limits_broken`, :meth:`clip_to_limits`
    (step 2 on its own), :attr:`replicas`, :attr:`hourly_cost`, :attr:`budget`, :attr:`scenario`. For
    rendering and inspection: :attr:`observation_layout` (each component's slice), :attr:`last_step`,
    :meth:`episode_trace`, :meth:`minute_of_day`, :attr:`elapsed_steps`, :attr:`cold_start_windows`,
    :attr:`info_layout` (decodes ``info``); for the vector env: :meth:`start_episode`, :attr:`kernel_params`.

    ## Version History

    * v0: Initial version release: the step above (cold starts, clipping most expensive first, greedy or LP
      routing, load-dependent latency), the scenarios ``default``, ``small`` and ``paper`` (5-minute windows)
      and the observation layout of :class:`hetserve_env.observation.ObservationLayout`.
    * v0 (info change, same dynamics and numbers): ``info`` has one fixed structure at reset and every step;
      ``info["violations"]`` is a fixed-length float array of amounts (was a list of names) and
      ``info["clip_reason"]`` an int code (was a list of names), decoded by :attr:`info_layout`; ``info["days"]``
      is an int64 array (was a tuple) and reset's info carries every step key. ``close()`` imports nothing.
    * v1: performance model v1 (docs/model.md §3): TTFT floor and launch overhead, per-generation prefill
      efficiency, FP8 effective speed-up, KV precision and engine memory rules (engine profiles, scenario key
      ``engine``), prefill and decode sharing the GPU (interference and queueing), PCIe vs NVLink all-reduce,
      MoE expert reads, pipelined prefill, weight-only dequantisation; constants calibrated on measured points
      (how close it comes to measured engines: docs/model.md "How good is the model?"). Capacities, latencies,
      load slopes and which templates survive pruning change, so every number of the environment does; the
      step, the observation layout and the action space do not.
    * v2 (beside v1, whose ids stay the defaults; README "How good is the performance model?" says why): performance model v2
      (``perf_model="v2"``, scenario ``perf: v2``; docs/model.md "Model v2"), because v1 missed issue 13's
      validation target on three groups. Every number changes; step, observation and action space do not.
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
        perf_model: str | None = None,
    ) -> None:
        super().__init__()
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if window_minutes is not None:
            wm = check_number(ValueError, "window_minutes", window_minutes, SCENARIO_RULES["window_minutes"])
            if abs(wm * 60.0 - sc.window_s) > 1e-9:
                sc = Scenario({**sc.raw, "window_minutes": wm}, sc.source, catalog=sc.catalog)
        if perf_model is not None and perf_model != sc.constants.version:
            sc = sc.with_perf_model(perf_model)
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

        self._build_static(sc, demand, reward_scale)
        self._t, self._T = -1, 0  # not reset yet
        self._state: EnvState | None = None
        self._last_out: tuple | None = None  # (t, cost) of the last step, whose arrays are in self._out
        self._last_record: StepRecord | None = None

    def _build_static(self, sc: Scenario, demand: Any, reward_scale: float | None) -> None:
        """Static problem data (from one validated Problem: the single source of field values), cold starts,
        limits, reward scale, spaces and the names a step reports."""
        first = self._day_start[self.split_days[0]]
        base = sc.compile(demand.rate[first], demand.input_tokens[first], demand.output_tokens[first])
        self._base = base
        self.n_types, self.n_templates, self.n_gpu_types = base.n_types, base.n_templates, base.n_gpu_types
        D = self.n_templates
        self.budget = float(base.budget)
        self._labels = np.array(base.template_labels, dtype=object)
        self._shared = shared_fields(base, sc.name)
        self.rate_scale = self._mean_rate  # per type, what the observed rate is divided by: its mean rate (I,)
        self.template_labels, self.type_names, self.gpu_names = base.template_labels, base.type_names, base.gpu_names
        self._cold = cold_start(sc, self.window_s)
        # seconds each template's replica takes to serve; K, the windows a cold start can span (K cohorts kept)
        self.cold_start_s, self.cold_start_windows = self._cold.seconds, self._cold.windows
        self._limits = fleet_limits(base)
        self._params: EnvParams | None = None  # built at the first reset (the split's token-mix table)
        self._env_step = None  # the compiled step's entry point for this env's record types (first reset)
        self._mix_row = None

        # ---- reward scale
        self.reward_scale = float(self.budget * (self.window_s / 3600.0) if reward_scale is None else reward_scale)
        if not math.isfinite(self.reward_scale) or self.reward_scale <= 0:
            raise ValueError(f"reward_scale must be > 0, got {reward_scale!r}")

        # ---- spaces
        R = self.max_replicas
        self.action_space = gym.spaces.MultiDiscrete(np.full(D, R + 1 if self.action_mode == "target" else 3, dtype=np.int64))
        self.observation_layout = ObservationLayout(self.n_types, D, self.history)
        self.observation_space = self.observation_layout.space()
        self._obs_size = self.observation_layout.size
        self.info_layout = InfoLayout(base.type_names, base.template_labels, base.gpu_names)
        self._out = step_output(self._obs_size, self.n_types, D, self.n_gpu_types, self.info_layout.violation_size)
        self.value_ok = value_masks(base, R)  # (R+1, D): v replicas of template d pass the per-dimension mask
        self._target_mask = self.value_ok.T.reshape(-1).copy()
        self._target_mask.flags.writeable = False

    # ================================================================================== public helpers
    @property
    def replicas(self) -> np.ndarray:
        """Billed replicas per template after the last action (serving + cold-starting), int64 (D,)."""
        if self._state is None:
            return np.zeros(self.n_templates, dtype=np.int64)
        return (self._state.ready + self._state.warm.sum(axis=0)).astype(np.int64)

    @property
    def hourly_cost(self) -> float:
        """$/h of the current fleet (:attr:`replicas` × each template's rental; the budget is :attr:`budget`)."""
        return float(self._limits.cost @ self.replicas)

    @property
    def episode_length(self) -> int:
        """Steps in the current episode (0 before the first reset)."""
        return self._T

    @property
    def elapsed_steps(self) -> int | None:
        """Windows played in the current episode (None before the first reset)."""
        return None if self._t < 0 else self._t

    @property
    def last_step(self) -> StepRecord | None:
        """The last step's :class:`~hetserve_env.step_record.StepRecord` (None before the first step)."""
        if self._last_record is None and self._last_out is not None:
            out, (t, cost) = self._out, self._last_out
            n = int(out.flags[2])
            self._last_record = StepRecord(self._window_problem, t, out.billed[:n].copy(), out.target.copy(),
                                           self._state.rec_avail, out.routing[:, :n].copy(), out.unmet.copy(), cost)
        return self._last_record

    def observation(self) -> np.ndarray:
        """A copy of the observation of the window about to be played (what reset/step returned last)."""
        self._require_reset()
        return self._out.obs.copy()

    def minute_of_day(self, t: int) -> int:
        """Minute of the day at which episode window ``t`` starts (0..1439)."""
        return int(self._episode.window_of_day[t]) * int(round(self.window_s)) // 60 % 1440

    def episode_trace(self) -> EpisodeTrace:
        """Demand, served rate, capacity at the request mix, GPUs and availability of the windows played so far."""
        return episode_trace(max(self._t, 0), self.window_s, self.history, self._state, self._params)

    def action_from_replicas(self, replicas: np.ndarray) -> np.ndarray:
        """A valid action that moves the fleet towards ``replicas`` (clipped to 0..R_max).

        Target mode: the counts themselves; delta mode: the sign of the change (+1/−1 per step).
        """
        return toward_replicas(replicas, self.replicas, self.max_replicas, self.action_mode == "delta")

    def action_masks(self) -> np.ndarray:
        """Flat bool mask of length ``sum(action_space.nvec)`` (sb3-contrib MaskablePPO convention)."""
        if self.action_mode == "target":
            return self._target_mask.copy()
        return delta_mask(self.replicas, self.max_replicas, self.value_ok)

    def limits_broken(self, replicas: np.ndarray) -> list[str]:
        """Names of the limits a fleet of ``replicas`` (D,) breaks (``budget``, ``inventory[<gpu>]``, ``storage``),
        judged as the step judges them; [] if it is within every limit."""
        return self.info_layout.limit_names(*_kernels().limits_broken(_i(replicas), self._limits))

    def clip_to_limits(self, target: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
        """Step 2 on its own: ``target`` after dropping new replicas (beyond ``current``), most expensive first,
        until budget, inventory and storage hold; the dropped replicas (None if none) and the limits broken."""
        target, dropped, clipped, over_budget, over_gpu, over_storage = _kernels().enforce_limits(
            _i(target), _i(current), self._limits)
        if not clipped:
            return target, None, []
        return target, dropped, self.info_layout.limit_names(over_budget, over_gpu, over_storage)

    # ======================================================================================= gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        start = self.start_episode(self.np_random, options)
        self.days, self._episode, self._state = start.days, start.demand, start.state
        self._days = np.asarray(start.days, dtype=np.int64)  # info["days"]: a copy each time (users keep infos)
        self._T = start.demand.win.size
        self._t, self._last_out, self._last_record = 0, None, None
        if self._env_step is None:
            self._bind_step()
        obs = self._out.obs
        ready = start.state.ready
        _kernels().observe(obs, self._params, start.state, 0, np.ones(self.n_types),
                           float(self._limits.cost @ ready) / self.budget)
        lim = self._limits
        gpus = np.bincount(lim.template_gpu, weights=lim.gpus * ready, minlength=self.n_gpu_types)
        info = reset_info(self, ready.copy(), gpus, start.state.rate[self.history - 1].copy(),
                          int(start.demand.win[0]), self._days.copy(), self.action_masks())
        return obs.copy(), info

    def start_episode(self, rng: np.random.Generator, options: dict[str, Any] | None = None) -> EpisodeStart:
        """A new episode's days, demand and kernel state, drawn with ``rng`` (reset's work without touching this
        env's episode; what a vector of these environments calls per sub-environment). ``options`` as reset's."""
        options = dict(options or {})
        unknown = sorted(set(options) - {"day", "replicas"})
        if unknown:
            raise ValueError(f"reset options: unknown key(s) {unknown}; known: ['day', 'replicas']")
        days = episode_days(self.split, self.split_days, self.episode_days, options.get("day"), rng)
        ep = episode_demand(self._demand, days, self._day_start, self._day_end, self.history, self.noise, rng)
        self._static_params()
        ready = np.zeros(self.n_templates, dtype=np.int64)
        if options.get("replicas") is not None:
            r = self._validate_action(options["replicas"], what="reset options['replicas']", mode="target")
            over = self.limits_broken(r)
            if over:
                raise ValueError(f"reset options['replicas'] exceeds {', '.join(over)}")
            ready = r.copy()
        state = episode_state(ep, ready, self._cold.windows, self._mean_rate, self.windows_per_day, self._mix_row,
                              self.n_gpu_types)
        return EpisodeStart(days, ep, state)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._require_reset()
        t = self._t
        if t >= self._T:
            raise RuntimeError("the episode is over (it was truncated at the end of its days of demand); call reset()")
        a = self._validate_action(action, what="action", mode=self.action_mode)
        out = self._out
        if self._env_step is not None:  # greedy: the whole step in one compiled call
            self._env_step(self._params, self._state, a, t, out)
        else:
            self._step_with_router(a, t, out)
        info = step_info(self, out, self._state.rate[t + self.history].copy(), int(self._episode.win[t]),
                         self._days.copy(), self.action_masks())
        self._last_out, self._last_record = (t, info["cost"]), None
        self._t = t + 1
        return out.obs.copy(), -info["cost"]["total"] / self.reward_scale, False, self._t == self._T, info

    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        from . import render as _render

        if self.render_mode == "ansi":
            return _render.render_ansi(self)
        return _render.render_rgb(self)

    def close(self) -> None:
        """Nothing is held open (each picture uses its own canvas). Imports nothing: a lazy import here fails
        with ``ImportError: sys.meta_path is None`` when Gymnasium closes unclosed envs at interpreter exit."""
        return None

    # ========================================================================================== internals
    def _require_reset(self) -> None:
        if self._t < 0:
            raise RuntimeError("call reset() before step() or the problem helpers")

    @property
    def kernel_params(self) -> EnvParams:
        """The compiled step's EnvParams (static; what a vector of these environments steps with)."""
        return self._static_params()

    def _static_params(self) -> EnvParams:
        """The kernels' EnvParams, built at the first reset (the split's token-mix table is computed then)."""
        if self._params is None:
            table = token_mix_table(self.scenario, self.split_days, self._base.error)
            self._mix_row = table.row_of_window
            self._params = env_params(self._base, self._limits, self.observation_layout.offsets(), table.pairs,
                                      self._cold, window_s=self.window_s, max_replicas=self.max_replicas,
                                      history=self.history, delta_mode=self.action_mode == "delta",
                                      clip_penalty=self.clip_penalty,
                                      violation_offsets=self.info_layout.violation_offsets)
        return self._params

    def _bind_step(self) -> None:
        """Resolve the compiled step's overload for this env's record types (fixed by this class) once."""
        if self.router == "greedy":
            self._env_step = _kernels().bind(_kernels().env_step, self._params, self._state, self._state.ready, 0,
                                             self._out)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_env_step": None}  # a compiled entry point does not pickle: bound again below

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._state is not None:
            self._bind_step()

    def _step_with_router(self, a: np.ndarray, t: int, out: StepOutput) -> None:
        """The step with a router other than the greedy: compiled fleet update, routing in Python, compiled window."""
        k = _kernels()
        params, state = self._params, self._state
        fleet = k.fleet_update(a, params, state)
        billed = np.flatnonzero(fleet.target)
        alloc = route(self._window_problem(t, billed), fleet.available[billed], self.router, replicas=fleet.target[billed])
        k.env_window(params, state, fleet, t, out, False, _f(alloc.routing), _f(alloc.unmet))

    def _validate_action(self, action: Any, *, what: str, mode: str) -> np.ndarray:
        hi = self.max_replicas if mode == "target" else 2
        return validate_action(action, labels=self._labels, hi=hi, what=what, mode=mode)

    def _window_problem(self, t: int, billed: np.ndarray) -> Problem:
        """Episode window ``t``'s Problem on the billed templates (what the LP router and the step record use)."""
        h, ep = t + self.history, self._episode
        return billed_window_problem(self._shared, self._labels, self._limits, self._params.pairs[self._state.perf_row[t]],
                                     self._state.rate[h], ep.input_tokens[h], ep.output_tokens[h], billed)

    def __repr__(self) -> str:
        return (f"HetServeEnv(scenario={self.scenario.name!r}, split={self.split!r}, window={self.window_s / 60:g} min, "
                f"types={self.n_types}, templates={self.n_templates}, action_mode={self.action_mode!r}, router={self.router!r})")

