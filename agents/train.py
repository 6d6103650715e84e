"""Train PPO, A2C or MaskablePPO on a hetserve environment (DESIGN §6).

Hyperparameters live in RL Zoo YAML files (``agents/hyperparams/<algo>.yml``, top-level key = env id), so the
same file drives :func:`train` (``hetserve train``) and ``python -m rl_zoo3.train --algo ppo --env
hetserve_env/HetServe-v0 --gym-packages hetserve_env --conf-file agents/hyperparams/ppo.yml``.

Besides SB3's own pieces, this module defines what the YAML files refer to by name:

* :class:`HetServePolicy` / :class:`HetServeMaskablePolicy`: SB3's actor-critic MLP policies with a vectorised
  MultiCategorical distribution (SB3 builds one ``torch.distributions.Categorical`` per action dimension, which
  dominates the run time with hundreds of dimensions; this one works on one ``(batch, D, K)`` tensor and is
  otherwise the same distribution), and an optional prior ``p_zero`` on the first value of every dimension
  (0 replicas / "remove" → see the class).
* :class:`TemplateSubset`: an env wrapper that lets the agent act on K candidate templates of the D the
  scenario has (chosen from static scenario data; the rest stay at 0) and observe only their fleet
  components. It is a plain function of the observation and the action, so :class:`agents.evaluation.AgentPolicy`
  applies it around a saved model and the model then acts on the unwrapped env like every other policy.
* :class:`CycleDays`: evaluation-env wrapper that resets on the split's days in turn (deterministic
  validation in ``EvalCallback``).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
import yaml
from gymnasium import spaces

from . import HYPERPARAMS_DIR

ALGOS = ("ppo", "a2c", "ppo_mask")
#: env kwargs that only augment training (the validation env, the record's ``env_kwargs`` and evaluation use
#: the env's defaults for them): ``noise`` adds seeded log-normal demand noise to the training days
TRAIN_ONLY_KWARGS = ("noise",)

# keys of an RL Zoo hyperparameter entry that are not constructor arguments of the algorithm
_ZOO_KEYS = ("n_envs", "n_timesteps", "normalize", "env_kwargs", "env_wrapper", "policy", "callback",
             "frame_stack", "vec_env_wrapper", "monitor_kwargs", "normalize_kwargs")


# ============================================================================================ policies
def _fast_distribution_classes():
    import torch as th
    from sb3_contrib.common.maskable.distributions import MaskableMultiCategoricalDistribution
    from stable_baselines3.common.distributions import MultiCategoricalDistribution

    class FastMultiCategoricalDistribution(MultiCategoricalDistribution):
        """MultiCategorical over D sub-spaces of equal size K, on one (B, D, K) log-softmax tensor."""

        def __init__(self, action_dims: list[int]):
            super().__init__(action_dims)
            self.n_dims, self.n_vals = len(action_dims), int(action_dims[0])
            self.log_p: th.Tensor | None = None

        def proba_distribution(self, action_logits: th.Tensor):
            self.log_p = th.log_softmax(action_logits.view(-1, self.n_dims, self.n_vals), dim=-1)
            return self

        def log_prob(self, actions: th.Tensor) -> th.Tensor:
            return self.log_p.gather(-1, actions.view(-1, self.n_dims, 1).long()).squeeze(-1).sum(dim=1)

        def entropy(self) -> th.Tensor:
            return -(self.log_p.exp() * self.log_p).sum(dim=(1, 2))

        def sample(self) -> th.Tensor:
            u = th.rand_like(self.log_p).clamp_(1e-20, 1.0)
            return th.argmax(self.log_p - th.log(-th.log(u)), dim=-1)  # Gumbel-max

        def mode(self) -> th.Tensor:
            return th.argmax(self.log_p, dim=-1)

    class FastMaskableMultiCategoricalDistribution(MaskableMultiCategoricalDistribution):
        """The maskable variant: masked values get logit -1e8 (as sb3-contrib) and no entropy."""

        def __init__(self, action_dims: list[int]):
            super().__init__(action_dims)
            self.n_dims, self.n_vals = len(action_dims), int(action_dims[0])
            self.logits: th.Tensor | None = None
            self.masks: th.Tensor | None = None
            self.log_p: th.Tensor | None = None

        def proba_distribution(self, action_logits: th.Tensor):
            self.logits = action_logits.reshape(-1, self.n_dims, self.n_vals)
            self.masks = None
            self.log_p = th.log_softmax(self.logits, dim=-1)
            return self

        def apply_masking(self, masks) -> None:
            if masks is None:
                self.masks = None
                self.log_p = th.log_softmax(self.logits, dim=-1)
                return
            m = th.as_tensor(masks, dtype=th.bool, device=self.logits.device).reshape(self.logits.shape)
            self.masks = m
            self.log_p = th.log_softmax(th.where(m, self.logits, th.tensor(-1e8, dtype=self.logits.dtype,
                                                                                 device=self.logits.device)), dim=-1)

        def log_prob(self, actions: th.Tensor) -> th.Tensor:
            return self.log_p.gather(-1, actions.view(-1, self.n_dims, 1).long()).squeeze(-1).sum(dim=1)

        def entropy(self) -> th.Tensor:
            p_log_p = self.log_p.exp() * self.log_p
            if self.masks is not None:
                p_log_p = th.where(self.masks, p_log_p, th.zeros_like(p_log_p))
            return -p_log_p.sum(dim=(1, 2))

        def sample(self) -> th.Tensor:
            u = th.rand_like(self.log_p).clamp_(1e-20, 1.0)
            return th.argmax(self.log_p - th.log(-th.log(u)), dim=-1)

        def mode(self) -> th.Tensor:
            return th.argmax(self.log_p, dim=-1)

    return FastMultiCategoricalDistribution, FastMaskableMultiCategoricalDistribution


def _uniform_nvec(space: spaces.Space) -> list[int] | None:
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec).ravel()
        if nvec.size and len(set(nvec.tolist())) == 1 and nvec[0] > 1:
            return [int(v) for v in nvec]
    return None


def _init_p_zero(policy, p_zero: float | None) -> None:
    """Bias the action head so every dimension starts with probability ``p_zero`` on its first value."""
    if not p_zero:
        return
    import torch as th

    nvec = _uniform_nvec(policy.action_space)
    if nvec is None:
        raise ValueError("p_zero needs a MultiDiscrete action space with equal sub-spaces")
    if not 0 < p_zero < 1:
        raise ValueError(f"p_zero must be in (0, 1), got {p_zero!r}")
    k = nvec[0]
    with th.no_grad():
        b = policy.action_net.bias.view(-1, k)
        b[:] = float(math.log((1 - p_zero) / (k - 1)))
        b[:, 0] = float(math.log(p_zero))
        policy.action_net.weight.mul_(0.01)


class _PriorPolicyMixin:
    """What both HetServe policies add to their SB3 base: the vectorised distribution and the ``p_zero`` prior.

    ``p_zero``: initial probability of value 0 in every action dimension (0 replicas in target mode,
    "remove one" in delta mode); None keeps SB3's initialisation (uniform). With hundreds of templates a
    uniform start asks for ~R_max/2 replicas of each, far over the budget; a sparse prior starts near the
    small fleets that are worth exploring. Torch-free, so it can live at module level.
    """

    _dist_class: type  # the Fast* distribution of the concrete policy

    def __init__(self, *args: Any, p_zero: float | None = None, **kwargs: Any) -> None:
        self.p_zero = p_zero
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule) -> None:
        nvec = _uniform_nvec(self.action_space)
        if nvec is not None:
            self.action_dist = self._dist_class(nvec)
        super()._build(lr_schedule)
        _init_p_zero(self, self.p_zero)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["p_zero"] = self.p_zero
        return data


def _policy_classes():
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from stable_baselines3.common.policies import ActorCriticPolicy

    Fast, FastMask = _fast_distribution_classes()

    class HetServePolicy(_PriorPolicyMixin, ActorCriticPolicy):
        """SB3's ``MlpPolicy`` with a vectorised MultiCategorical and an optional ``p_zero`` prior."""

        _dist_class = Fast

    class HetServeMaskablePolicy(_PriorPolicyMixin, MaskableActorCriticPolicy):
        """sb3-contrib's maskable MLP policy with the vectorised distribution and ``p_zero`` prior."""

        _dist_class = FastMask

    return HetServePolicy, HetServeMaskablePolicy


def __getattr__(name: str) -> Any:  # lazy: importing agents.train does not import torch
    if name in ("HetServePolicy", "HetServeMaskablePolicy"):
        pol, mpol = _policy_classes()
        globals()["HetServePolicy"], globals()["HetServeMaskablePolicy"] = pol, mpol
        pol.__module__ = mpol.__module__ = __name__
        pol.__qualname__, mpol.__qualname__ = "HetServePolicy", "HetServeMaskablePolicy"
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ============================================================================================ wrappers
def candidate_templates(env: gym.Env, per_type: int = 8) -> np.ndarray:
    """Indices of the candidate templates: for each query type, the ``per_type`` templates with the lowest
    cost per request at the scenario's static (peak) problem, ascending template index.

    Cost per request of template d for type i = rental per request at full capacity (``cost_d / 3600 /
    capacity_id``) + zero-load delay penalty (``ρ_i · latency_id``) + error penalty beyond the SLO
    (``ψ_i · max(0, error_id − ε_i)``); templates that cannot serve the type are skipped. Static scenario data
    only: no solver, no demand series.
    """
    base = env.unwrapped
    p = base.scenario.problem()
    if p.template_labels != base.template_labels:
        raise ValueError("the scenario's static problem and the env have different templates")
    chosen: set[int] = set()
    from hetserve_env import fleet_cost

    per_request = fleet_cost.cost_per_request(p)  # (I, D), inf where the template cannot serve the type
    for i in range(p.n_types):
        score = per_request[i]
        order = np.argsort(score, kind="stable")
        chosen.update(int(d) for d in order[:per_type] if np.isfinite(score[d]))
    return np.array(sorted(chosen), dtype=np.int64)


class TemplateSubset(gym.Wrapper):
    """Act on K candidate templates (see :func:`candidate_templates`); the other D − K stay at 0 replicas.

    Action space: ``MultiDiscrete`` of the env's per-template size over the K candidates (target counts, or
    −1/0/+1 in delta mode, where the others are sent "keep"). Observation: the env's observation with the
    per-template components (serving, warming) restricted to the candidates (size ``H·I + 2·I + 2·K + 2 + I
    + 1``). ``action_masks()`` is the env's mask on the candidates. Rewards and ``info`` are the env's,
    unchanged, so scores are on the same scale as every other policy.

    ``per_type`` (default 8) or an explicit ``templates`` list of indices.
    """

    def __init__(self, env: gym.Env, per_type: int = 8, templates: list[int] | None = None) -> None:
        super().__init__(env)
        base = env.unwrapped
        self.templates = (np.asarray(templates, dtype=np.int64) if templates is not None
                          else candidate_templates(env, per_type))
        self.per_type = per_type
        D = base.n_templates
        if self.templates.size == 0 or self.templates.min() < 0 or self.templates.max() >= D:
            raise ValueError(f"templates must be indices in 0..{D - 1}")
        self.n_full = D
        self.delta = base.action_mode == "delta"
        nvec = np.asarray(base.action_space.nvec)[self.templates]
        self.action_space = spaces.MultiDiscrete(nvec)
        sl = base._obs_slices
        keep = np.ones(base.observation_space.shape[0], dtype=bool)
        for name in ("serving", "warming"):
            s = sl[name]
            m = np.zeros(D, dtype=bool)
            m[self.templates] = True
            keep[s] = m
        self._keep = keep
        low, high = base.observation_space.low[keep], base.observation_space.high[keep]
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        k = int(nvec[0]) if nvec.size else 0
        self._mask_index = (self.templates[:, None] * int(np.asarray(base.action_space.nvec)[0]) + np.arange(k)[None, :]).ravel()

    # pure transformations (used by AgentPolicy around a saved model)
    def observation(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs)[..., self._keep]

    def full_action(self, action: np.ndarray) -> np.ndarray:
        a = np.asarray(action)
        out = np.full((*a.shape[:-1], self.n_full), 1 if self.delta else 0, dtype=np.int64)
        out[..., self.templates] = a
        return out

    def mask(self, full_mask: np.ndarray) -> np.ndarray:
        return np.asarray(full_mask)[..., self._mask_index]

    # gym API
    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return self.observation(obs), info

    def step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = self.env.step(self.full_action(action))
        return self.observation(obs), reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.mask(self.env.unwrapped.action_masks())


def start_days(env: gym.Env) -> list[int]:
    """The days of the env's split an episode can start on (its last ``episode_days - 1`` days cannot)."""
    base = env.unwrapped
    return list(base.split_days[:len(base.split_days) - base.episode_days + 1])


class CycleDays(gym.Wrapper):
    """Reset on the split's start days in turn (0, 1, 2, …) unless ``options["day"]`` is given: a fixed,
    deterministic validation set for ``EvalCallback``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.days = start_days(env)
        self._next = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = dict(options or {})
        if options.get("day") is None:
            options["day"] = self.days[self._next % len(self.days)]
            self._next += 1
        return self.env.reset(seed=seed, options=options)

    def action_masks(self) -> np.ndarray:
        return self.env.get_wrapper_attr("action_masks")()


# ============================================================================================ hyperparameters
def hyperparams_path(algo: str) -> Path:
    return HYPERPARAMS_DIR / f"{algo}.yml"


def load_hyperparams(algo: str, env_id: str, path: str | Path | None = None) -> dict[str, Any]:
    """The RL Zoo entry for ``env_id`` in ``agents/hyperparams/<algo>.yml`` (or ``path``), as written."""
    algo = _check_algo(algo)
    p = Path(path) if path is not None else hyperparams_path(algo)
    data = yaml.safe_load(p.read_text()) or {}
    key = env_id.split(":", 1)[-1]
    if key in data:
        return copy.deepcopy(data[key])
    if "default" in data:
        return copy.deepcopy(data["default"])
    raise KeyError(f"no hyperparameters for {key!r} in {p} (keys: {sorted(data)})")


def _check_algo(algo: str) -> str:
    a = str(algo).lower().replace("-", "_")
    a = {"maskableppo": "ppo_mask", "maskable_ppo": "ppo_mask"}.get(a, a)
    if a not in ALGOS:
        raise ValueError(f"algo must be one of {list(ALGOS)}, got {algo!r}")
    return a


def algo_class(algo: str):
    a = _check_algo(algo)
    if a == "ppo_mask":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    import stable_baselines3 as sb3

    return {"ppo": sb3.PPO, "a2c": sb3.A2C}[a]


def _import_by_name(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    import importlib

    return getattr(importlib.import_module(module), attr)


def _eval_kwargs_string(text: str) -> Any:
    import torch as th
    from torch import nn

    return eval(text, {"dict": dict, "nn": nn, "th": th, "torch": th, "list": list, "tuple": tuple})  # noqa: S307 (trusted config)


def _schedule(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        v0 = float(value.split("_", 1)[1])
        return lambda progress_remaining: progress_remaining * v0
    return value


def wrapper_spec(hp: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``(class name, kwargs)`` of the YAML's ``env_wrapper`` (one wrapper) or None."""
    w = hp.get("env_wrapper")
    if w is None:
        return None
    if isinstance(w, list):
        if len(w) != 1:
            raise ValueError("one env_wrapper at most is supported")
        w = w[0]
    if isinstance(w, str):
        return w, {}
    if isinstance(w, dict) and len(w) == 1:
        name, kw = next(iter(w.items()))
        return name, dict(kw or {})
    raise ValueError(f"bad env_wrapper entry {w!r}")


def make_wrapper(spec: tuple[str, dict[str, Any]] | None):
    if spec is None:
        return None
    cls = _import_by_name(spec[0])
    kw = dict(spec[1])
    return lambda env: cls(env, **kw)


def _qualified(env_id: str) -> str:
    """``hetserve_env:hetserve_env/X`` so forkserver/spawn workers import the package that registers X."""
    if ":" not in env_id and env_id.startswith("hetserve_env/"):
        return f"hetserve_env:{env_id}"
    return env_id


def git_commit(path: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path or Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=path or Path(__file__).resolve().parent,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


# ============================================================================================ training
def train(algo: str, env_id: str = "hetserve_env/HetServe-v0", timesteps: int | None = None, seed: int = 0, *,
          hyperparams: Mapping[str, Any] | None = None, hyperparams_file: str | Path | None = None,
          n_envs: int | None = None, log_dir: str | Path = "runs", eval_freq: int | None = None,
          eval_episodes: int | None = None, save_path: str | Path | None = None, checkpoint_freq: int | None = None,
          vec_env: str = "dummy", threads: int = 1, progress_bar: bool = True, tensorboard: bool = True,
          keep: str = "best", env_kwargs: Mapping[str, Any] | None = None, verbose: int = 0,
          command: str | None = None) -> dict[str, Any]:
    """Train ``algo`` on ``env_id`` and save the model, its VecNormalize statistics and a JSON record.

    Hyperparameters: the RL Zoo entry of ``env_id`` in ``agents/hyperparams/<algo>.yml`` (or
    ``hyperparams_file``), updated with ``hyperparams``; ``timesteps`` overrides ``n_timesteps``, ``n_envs``
    the YAML's, ``env_kwargs`` are merged into the YAML's.

    Logs go to ``log_dir/<algo>_<env>_s<seed>/``: ``progress.csv`` and TensorBoard event files (SB3 logger),
    ``evaluations.npz`` and ``best_model.zip`` (``EvalCallback`` on the *validation* split, one episode per
    validation day, deterministic, every ``eval_freq`` steps), ``checkpoints/`` (every ``checkpoint_freq``
    steps, with VecNormalize statistics). A progress bar shows the steps.

    Env kwargs in :data:`TRAIN_ONLY_KWARGS` (``noise``) apply to the training envs only: validation, the
    record's ``env_kwargs`` and every evaluation use the registered env as it is.

    ``keep="best"`` saves the model with the best validation reward to ``save_path`` (model selection on
    validation days; the test days are never seen), ``"last"`` the final one. Default ``save_path``:
    ``log_dir/<run>/model.zip``. Next to it: ``<stem>_vecnormalize.pkl`` when observations are normalised and
    ``<stem>.json`` with the algorithm, env id and kwargs, wrapper, hyperparameters, seed, steps, measured wall
    and CPU seconds (this process and its children), git commit and scenario.

    Returns the JSON record as a dict.
    """
    import torch as th
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback, EvalCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    import hetserve_env  # noqa: F401  (registers the ids)

    algo = _check_algo(algo)
    th.set_num_threads(max(1, int(threads)))
    hp = load_hyperparams(algo, env_id, hyperparams_file)
    hp.update(copy.deepcopy(dict(hyperparams or {})))
    recorded_hp = copy.deepcopy(hp)
    n_timesteps = int(timesteps if timesteps is not None else hp.get("n_timesteps", 100_000))
    n_envs = int(n_envs if n_envs is not None else hp.get("n_envs", 1))
    kwargs_env = dict(hp.get("env_kwargs") or {})
    kwargs_env.update(dict(env_kwargs or {}))
    kwargs_env.pop("split", None)
    wspec = wrapper_spec(hp)
    wrapper = make_wrapper(wspec)
    normalize = hp.get("normalize", False)
    norm_kwargs: dict[str, Any] = {}
    if isinstance(normalize, str):
        norm_kwargs = _eval_kwargs_string(normalize)
        normalize = True
    elif isinstance(normalize, dict):
        norm_kwargs, normalize = dict(normalize), True
    if "gamma" in hp and normalize:
        norm_kwargs.setdefault("gamma", hp["gamma"])
    policy = hp.get("policy", "MlpPolicy")
    if isinstance(policy, str) and "." in policy:
        policy = _import_by_name(policy)
    extra_callbacks = []
    if hp.get("callback"):
        for c in hp["callback"] if isinstance(hp["callback"], list) else [hp["callback"]]:
            name, kw = (next(iter(c.items())) if isinstance(c, dict) else (c, {}))
            extra_callbacks.append(_import_by_name(name)(**(kw or {})))
    algo_kwargs = {k: v for k, v in hp.items() if k not in _ZOO_KEYS}
    if isinstance(algo_kwargs.get("policy_kwargs"), str):
        algo_kwargs["policy_kwargs"] = _eval_kwargs_string(algo_kwargs["policy_kwargs"])
    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        if key in algo_kwargs:
            algo_kwargs[key] = _schedule(algo_kwargs[key])

    short = env_id.split(":", 1)[-1].split("/")[-1]
    run_dir = Path(log_dir) / f"{algo}_{short}_s{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    save_path = Path(save_path) if save_path is not None else run_dir / "model.zip"
    if save_path.suffix != ".zip":
        save_path = save_path.with_suffix(".zip")
    save_path.parent.mkdir(parents=True, exist_ok=True)

    vec_cls = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}[vec_env]
    make_id = _qualified(env_id) if vec_env == "subproc" else env_id
    venv = make_vec_env(make_id, n_envs=n_envs, seed=seed, env_kwargs={**kwargs_env, "split": "train"},
                        wrapper_class=wrapper, vec_env_cls=vec_cls)

    def _eval_wrapper(env: gym.Env) -> gym.Env:
        env = CycleDays(env)
        return wrapper(env) if wrapper is not None else env

    eval_kwargs = {k: v for k, v in kwargs_env.items() if k not in TRAIN_ONLY_KWARGS}
    eval_env = make_vec_env(env_id, n_envs=1, seed=seed + 10_000, env_kwargs={**eval_kwargs, "split": "validation"},
                            wrapper_class=_eval_wrapper)
    n_val_days = len(start_days(eval_env.envs[0]))
    if normalize:
        venv = VecNormalize(venv, **norm_kwargs)
        eval_env = VecNormalize(eval_env, training=False, norm_obs=norm_kwargs.get("norm_obs", True), norm_reward=False)

    steps_per_day = int(eval_env.get_attr("windows_per_day")[0]) * int(eval_env.get_attr("episode_days")[0])
    eval_freq = int(eval_freq if eval_freq is not None else max(steps_per_day * n_envs * 10, 1))
    checkpoint_freq = int(checkpoint_freq if checkpoint_freq is not None else max(n_timesteps // 5, 1))
    eval_episodes = int(eval_episodes if eval_episodes is not None else n_val_days)

    logger = configure(str(run_dir), ["csv", "tensorboard"] + (["stdout"] if verbose else []) if tensorboard
                       else ["csv"] + (["stdout"] if verbose else []))
    cls = algo_class(algo)
    model = cls(policy, venv, seed=seed, verbose=verbose, device="cpu", **algo_kwargs)
    model.set_logger(logger)
    eval_cls = EvalCallback
    if algo == "ppo_mask":
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback as eval_cls
    callbacks: list = [
        CheckpointCallback(save_freq=max(checkpoint_freq // n_envs, 1), save_path=str(run_dir / "checkpoints"),
                           name_prefix="model", save_vecnormalize=bool(normalize)),
        eval_cls(eval_env, n_eval_episodes=eval_episodes, eval_freq=max(eval_freq // n_envs, 1),
                     best_model_save_path=str(run_dir), log_path=str(run_dir), deterministic=True, verbose=0),
        *extra_callbacks,
    ]
    if progress_bar:
        from .progress import RolloutProgressBar  # SB3's bar, total rounded up to whole rollouts

        callbacks.insert(0, RolloutProgressBar())
    t_wall, t_cpu = time.perf_counter(), _cpu_seconds()
    model.learn(total_timesteps=n_timesteps, callback=CallbackList(callbacks))
    wall, cpu = time.perf_counter() - t_wall, _cpu_seconds() - t_cpu

    # which model to keep
    evals = np.load(run_dir / "evaluations.npz") if (run_dir / "evaluations.npz").exists() else None
    best_file = run_dir / "best_model.zip"
    final_eval = None
    if evals is not None and len(evals["timesteps"]):
        means = evals["results"].mean(axis=1)
        kb = int(np.argmax(means))
        best_eval = {"timesteps": int(evals["timesteps"][kb]), "mean_reward": float(means[kb])}
        final_eval = {"timesteps": int(evals["timesteps"][-1]), "mean_reward": float(means[-1])}
    else:
        best_eval = None
    kept = "last"
    if keep == "best" and best_file.exists():
        best = cls.load(best_file, device="cpu")
        best.save(save_path)
        kept = "best"
    else:
        model.save(save_path)
    vn_file = None
    if normalize and norm_kwargs.get("norm_obs", True):
        vn_file = save_path.with_name(save_path.stem + "_vecnormalize.pkl")
        venv.save(str(vn_file))  # obs statistics of the end of training (the best model's are the same run's)
    scale = float(eval_env.get_attr("reward_scale")[0])
    w = eval_env.envs[0] if hasattr(eval_env, "envs") else eval_env.venv.envs[0]  # under VecNormalize or not
    base = w.unwrapped
    labels = None
    while isinstance(w, gym.Wrapper):
        if isinstance(w, TemplateSubset):
            labels = [base.template_labels[int(d)] for d in w.templates]
            break
        w = w.env
    record = {
        "kind": "hetserve.agent",
        "algo": algo,
        "env_id": env_id.split(":", 1)[-1],
        "env_kwargs": eval_kwargs,
        "train_env_kwargs": kwargs_env,
        "env_wrapper": list(wspec) if wspec else None,
        "template_labels": labels,
        "scenario": base.scenario.name,
        "seed": int(seed),
        "timesteps": int(model.num_timesteps),
        "n_envs": n_envs,
        "hyperparams": _jsonable(recorded_hp),
        "hyperparams_file": str(hyperparams_file or hyperparams_path(algo)),
        "kept": kept,
        "best_validation": _with_cost(best_eval, scale),
        "final_validation": _with_cost(final_eval, scale),
        "validation_days": list(base.split_days),
        "reward_scale": scale,
        "train_wall_s": round(wall, 1),
        "train_cpu_s": round(cpu, 1),
        "torch_threads": int(th.get_num_threads()),
        "vec_env": vec_env,
        "vecnormalize": vn_file.name if vn_file else None,
        "model": save_path.name,
        "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "versions": _versions(),
        "log_dir": str(run_dir),
    }
    save_path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    venv.close()
    eval_env.close()
    return record


def _with_cost(ev: dict | None, scale: float) -> dict | None:
    if ev is None:
        return None
    return {**ev, "mean_cost_usd": -ev["mean_reward"] * scale}


def _versions() -> dict[str, str]:
    out = {}
    for mod in ("stable_baselines3", "sb3_contrib", "torch", "gymnasium", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover
            pass
    return out


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


__all__ = ["ALGOS", "CycleDays", "HetServeMaskablePolicy", "HetServePolicy", "TemplateSubset", "algo_class",
           "candidate_templates", "load_hyperparams", "start_days", "train", "wrapper_spec"]
