"""HetServeVectorEnv: N HetServe environments stepped by one compiled call (Gymnasium's ``vector_entry_point``).

``gym.make_vec("hetserve_env/HetServe-v1", num_envs=N, vectorization_mode="vector_entry_point")`` builds it;
every constructor argument of :class:`hetserve_env.env.HetServeEnv` is accepted (``render_mode`` must be None).

Why native: in ``SyncVectorEnv`` every sub-environment pays the step's Python part (validation, argument
passing, building ``info``) on its own; here one compiled call (:func:`hetserve_env.kernels.batch.env_step_batch`)
steps all N on batched state and the Python part is a fixed number of numpy operations per batch.

Semantics (identical to N single envs in ``SyncVectorEnv``, tested step by step):

* **Seeding**: ``reset(seed=s)`` seeds sub-env i with ``s + i`` (a list gives one seed per env, None keeps or
  creates each env's generator), exactly as ``SyncVectorEnv``; each sub-env then draws its days and noise as
  ``HetServeEnv.reset`` does, so sub-env i reproduces a single env reset with the same seed.
* **Autoreset**: ``AutoresetMode.NEXT_STEP`` (declared in ``metadata["autoreset_mode"]``): the step after a
  sub-env is truncated resets it (its action is ignored) and returns its reset observation, reward 0, both
  flags False and its reset info. ``options={"reset_mask": mask}`` resets only the masked envs.
* **Actions**: an integer array (N, D); the whole batch is validated (a bad entry raises ``ValueError`` naming
  the env, the template and the allowed range), including rows whose env is being autoreset.
* **Masks**: :meth:`action_masks` is (N, sum(nvec)) bool, row i the single env's ``action_masks()``.
* **info**: Gymnasium's vector convention, as ``SyncVectorEnv`` builds it from the single envs' infos: every key
  of the single env's ``info`` (which has a fixed structure) maps to an array with a leading N axis (nested
  dicts such as ``info["cost"]`` to dicts of such arrays), with a ``"_key"`` bool mask beside it, all True
  (every env reports every key at every step).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space

from .env import HetServeEnv
from .kernels.access import compiled as _kernels
from .kernels.records import COST_TERMS, EnvState, step_output
from .step_info import reset_info

try:  # gymnasium >= 1.1
    from gymnasium.vector import AutoresetMode

    _NEXT_STEP: Any = AutoresetMode.NEXT_STEP
except ImportError:  # gymnasium 1.0: the mode is a string
    _NEXT_STEP = "NextStep"

_OVERALL = 2  # StepOutput.rates slot of overall attainment (records.STEP_RATES)


class HetServeVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` copies of :class:`~hetserve_env.env.HetServeEnv` (same arguments) stepped in one compiled call.

    Attributes beyond Gymnasium's: ``env`` (a single HetServeEnv with the same arguments: names, layouts,
    helpers such as ``info_layout``), :meth:`action_masks`, ``episode_lengths`` (N,) and ``elapsed_steps`` (N,).
    """

    metadata = {"autoreset_mode": _NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int, scenario: Any = "default", *, threads: int | None = None,
                 **env_kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if env_kwargs.get("render_mode") is not None:
            raise ValueError(f"render_mode must be None for the vector env, got {env_kwargs['render_mode']!r}; "
                             "render a single HetServeEnv instead")
        env_kwargs.pop("render_mode", None)
        self.env = env = HetServeEnv(scenario, **env_kwargs)
        self.num_envs = N = int(num_envs)
        self.single_observation_space, self.single_action_space = env.observation_space, env.action_space
        self.observation_space = batch_space(env.observation_space, N)
        self.action_space = batch_space(env.action_space, N)
        self.render_mode = None
        self._hi = env.max_replicas if env.action_mode == "target" else 2
        self._rngs: list[np.random.Generator | None] = [None] * N
        self._days: np.ndarray | None = None
        self._states: EnvState | None = None
        self._outs = step_output(env.observation_layout.size, env.n_types, env.n_templates, env.n_gpu_types,
                                 env.info_layout.violation_size, batch=(N,))
        self._t = np.zeros(N, dtype=np.int64)
        self.episode_lengths = np.zeros(N, dtype=np.int64)
        self._windows = np.zeros((N, 0), dtype=np.int64)  # each episode's windows of the series (grown)
        self._autoreset = np.zeros(N, dtype=bool)
        self._step_batch = None
        if threads is None:
            threads = 1
        elif isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= N:
            raise ValueError(f"threads must be an integer in 1..num_envs={N} or None, got {threads!r}")
        #: threads the batch is split over (the compiled step releases the GIL); results do not depend on it
        self.threads = int(threads)
        self._pool: ThreadPoolExecutor | None = None
        self._parts = np.array_split(np.arange(N), self.threads)

    # ============================================================================================ API
    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        N = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * N
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(N)]
        else:
            seeds = list(seed)
            if len(seeds) != N:
                raise ValueError(f"seed: a list of {len(seeds)} seeds for num_envs={N}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            mask = np.ones(N, dtype=bool)
        elif not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (N,) and mask.any()):
            raise ValueError(f"options['reset_mask'] must be a bool array of shape ({N},) with a True entry, got {mask!r}")
        infos: list[dict[str, Any] | None] = [None] * N
        for n in np.flatnonzero(mask):
            if seeds[n] is not None or self._rngs[n] is None:
                self._rngs[n] = seeding.np_random(seeds[n])[0]
            infos[n] = self._reset_one(int(n), options)
        self._autoreset[mask] = False
        return self._outs.obs.copy(), self._batch_info(infos, np.zeros(N, dtype=bool) if mask.all() else ~mask)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._states is None:
            raise RuntimeError("call reset() before step()")
        a = self._validate(actions)
        resetting = self._autoreset.copy()
        active = ~resetting
        t = self._t
        if active.any():
            if self._step_batch is None:
                self._bind()
            self._run_batch(a, t, active)
        infos: list[dict[str, Any] | None] = [None] * self.num_envs
        for n in np.flatnonzero(resetting):
            infos[n] = self._reset_one(int(n), None)
        outs = self._outs
        reward = np.where(active, -outs.costs[:, len(COST_TERMS) - 1] / self.env.reward_scale, 0.0)
        info = self._batch_info(infos, np.zeros(self.num_envs, dtype=bool), played=t)
        t[active] += 1
        truncated = active & (t == self.episode_lengths)
        self._autoreset = truncated.copy()
        return outs.obs.copy(), reward, np.zeros(self.num_envs, dtype=bool), truncated, info

    def action_masks(self) -> np.ndarray:
        """(N, sum(nvec)) bool: row i is sub-env i's ``action_masks()`` for its next step."""
        return self._masks(slice(None))

    def _masks(self, rows: slice | list[int]) -> np.ndarray:
        """The masks of the envs ``rows`` (delta mode: from their billed replicas, as ``delta_mask``)."""
        env = self.env
        n = len(range(self.num_envs)[rows]) if isinstance(rows, slice) else len(rows)
        if env.action_mode == "target":
            return np.tile(env.action_masks(), (n, 1))
        if self._states is None:
            current = np.zeros((n, env.n_templates), dtype=np.int64)
        else:
            current = self._states.ready[rows] + self._states.warm[rows].sum(axis=1)
        R, D = env.max_replicas, env.n_templates
        up = np.minimum(current + 1, R)
        add_ok = (current < R) & env.value_ok[up, np.arange(D)[None, :]]
        return np.stack([current > 0, np.ones_like(add_ok), add_ok], axis=2).reshape(n, -1)

    @property
    def elapsed_steps(self) -> np.ndarray:
        """Windows played in each sub-env's current episode (N,)."""
        return self._t.copy()

    def close_extras(self, **kwargs: Any) -> None:
        """Stops the worker threads, if any; imports nothing (see ``HetServeEnv.close``)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        # a compiled entry point and a thread pool do not pickle: made again on the next step
        return {**self.__dict__, "_step_batch": None, "_pool": None}

    def __repr__(self) -> str:
        return f"HetServeVectorEnv(num_envs={self.num_envs}, env={self.env!r})"

    # ====================================================================================== internals
    def _bind(self) -> None:
        k = _kernels()
        self._step_batch = k.bind(k.env_step_batch, self.env.kernel_params, self._states,
                                  np.zeros((self.num_envs, self.env.n_templates), dtype=np.int64), self._t,
                                  self._outs, self._autoreset)

    def _run_batch(self, a: np.ndarray, t: np.ndarray, active: np.ndarray) -> None:
        """One compiled call over the active envs, or one per thread on disjoint rows (GIL released)."""
        args = (self.env.kernel_params, self._states, a, t, self._outs)
        if self.threads == 1:
            self._step_batch(*args, active)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="hetserve-vec")
        masks = []
        for rows in self._parts:
            m = np.zeros_like(active)
            m[rows] = active[rows]
            masks.append(m)
        for f in [self._pool.submit(self._step_batch, *args, m) for m in masks]:
            f.result()

    def _validate(self, actions: Any) -> np.ndarray:
        a = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
        N, D = self.num_envs, self.env.n_templates
        if a.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array (MultiDiscrete), got dtype {a.dtype}; "
                             "floats and booleans are not converted")
        if a.shape != (N, D):
            raise ValueError(f"actions has shape {a.shape}, expected ({N}, {D}) — one row per env, one entry per template")
        a64 = np.ascontiguousarray(a, dtype=np.int64)
        bad = np.argwhere((a64 < 0) | (a64 > self._hi))
        if bad.size:
            n, d = bad[0]
            raise ValueError(f"actions[{n}, {d}] = {int(a[n, d])} is out of range 0..{self._hi} for template "
                             f"{self.env.template_labels[d]!r}")
        return a64

    def _reset_one(self, n: int, options: dict[str, Any] | None) -> dict[str, Any]:
        """Start a new episode in sub-env ``n`` (its generator), write its state and observation into row ``n``."""
        env = self.env
        start = env.start_episode(self._rngs[n], options)
        state, params = start.state, env.kernel_params
        self._store_state(n, state)
        days = np.asarray(start.days, dtype=np.int64)
        if self._days is None:
            self._days = np.zeros((self.num_envs, days.size), dtype=np.int64)
        self._days[n] = days
        self._t[n] = 0
        self.episode_lengths[n] = start.demand.win.size
        win = start.demand.win
        if win.size > self._windows.shape[1]:
            grown = np.zeros((self.num_envs, win.size), dtype=np.int64)
            grown[:, :self._windows.shape[1]] = self._windows
            self._windows = grown
        self._windows[n, :win.size] = win
        lim = params.limits
        ready = state.ready
        _kernels().observe(self._outs.obs[n], params, state, 0, np.ones(env.n_types), float(lim.cost @ ready) / env.budget)
        gpus = np.bincount(lim.template_gpu, weights=lim.gpus * ready, minlength=env.n_gpu_types)
        mask = self._masks([n])[0]
        return reset_info(env, ready.copy(), gpus, state.rate[env.history - 1].copy(), int(start.demand.win[0]),
                          days.copy(), mask)

    def _store_state(self, n: int, state: EnvState) -> None:
        """Copy one episode's EnvState into row ``n`` of the batched state (grown if this episode is longer)."""
        if self._states is None or any(getattr(self._states, f).shape[1:] < getattr(state, f).shape
                                       for f in EnvState._fields):
            self._grow(state)
        for f in EnvState._fields:
            src, dst = getattr(state, f), getattr(self._states, f)
            dst[n] = 0
            dst[n][tuple(slice(0, s) for s in src.shape)] = src

    def _grow(self, state: EnvState) -> None:
        old = self._states
        fields = {}
        for f in EnvState._fields:
            shape = getattr(state, f).shape
            if old is not None:
                shape = tuple(max(a, b) for a, b in zip(shape, getattr(old, f).shape[1:]))
            arr = np.zeros((self.num_envs, *shape), dtype=getattr(state, f).dtype)
            if old is not None:
                prev = getattr(old, f)
                arr[(slice(None), *(slice(0, s) for s in prev.shape[1:]))] = prev
            fields[f] = arr
        self._states = EnvState(**fields)

    def _batch_info(self, reset_infos: list[dict[str, Any] | None], missing: np.ndarray,
                    played: np.ndarray | None = None) -> dict[str, Any]:
        """Gymnasium's vector info from the batched step output (rows of stepped envs) and the reset infos of
        the others; ``missing`` marks envs that report nothing (a partial reset)."""
        env, outs, N = self.env, self._outs, self.num_envs
        have = ~missing
        stepped = np.array([r is None for r in reset_infos]) & have
        if played is None:
            stepped[:] = False
        t = np.where(stepped, played if played is not None else 0, 0)
        rates = outs.rates
        att = outs.attainment
        rows = np.arange(N)
        hist = env.history
        demand = self._states.rate[rows, np.minimum(t + hist, self._states.rate.shape[1] - 1)].copy()
        window = self._windows[rows, t]
        info: dict[str, Any] = {
            "cost": {k: outs.costs[:, j].copy() for j, k in enumerate(COST_TERMS)},
            "reward_scale": np.full(N, env.reward_scale),
            "served_rate": rates[:, 0].copy(), "unmet_rate": rates[:, 1].copy(), "demand": demand,
            "slo_attainment": {**{name: att[:, i].copy() for i, name in enumerate(env.type_names)},
                               "overall": rates[:, _OVERALL].copy()},
            "gpus_by_type": {g: outs.gpus_by_type[:, j].copy() for j, g in enumerate(env.gpu_names)},
            "replicas": outs.target.copy(), "violations": outs.violations.copy(),
            "clipped": outs.flags[:, 0] != 0, "clip_reason": outs.flags[:, 1].copy(),
            "action_mask": self.action_masks(), "window": window, "day": self._days[:, 0].copy(),
            "days": self._days.copy()}
        for n, r in enumerate(reset_infos):
            if r is not None:
                _assign_row(info, r, n)
        if missing.any():
            _zero_rows(info, missing)
        return _with_masks(info, have)


def _assign_row(batched: dict[str, Any], single: dict[str, Any], n: int) -> None:
    """Write one env's info into row ``n`` of a batched info (same keys, nested dicts recursively)."""
    for k, v in single.items():
        if isinstance(v, dict):
            _assign_row(batched[k], v, n)
        else:
            batched[k][n] = v


def _zero_rows(batched: dict[str, Any], rows: np.ndarray) -> None:
    """Zero the rows of envs that report nothing (what SyncVectorEnv leaves in its arrays)."""
    for v in batched.values():
        if isinstance(v, dict):
            _zero_rows(v, rows)
        else:
            v[rows] = 0


def _with_masks(info: dict[str, Any], have: np.ndarray) -> dict[str, Any]:
    """Add Gymnasium's ``"_key"`` mask beside every key (nested dicts too)."""
    out: dict[str, Any] = {}
    for k, v in info.items():
        out[k] = _with_masks(v, have) if isinstance(v, dict) else v
        out[f"_{k}"] = have.copy()
    return out
