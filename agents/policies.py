"""Policies: the :class:`Policy` protocol, saved SB3 agents (:class:`AgentPolicy`) and :func:`load_policy`,
which turns a name (``gh``, ``agh``, ``milp``, …), a saved model (``.zip``) or ``module:attr`` into a policy.

A policy is anything with Stable-Baselines3's ``predict``; the reference solvers
(:mod:`baselines.policies`), :class:`AgentPolicy` and your own class all qualify (docs/your-own.md).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from hetserve_env.perf import VERSIONS
from hetserve_env.registration import ENV_IDS

from .paths import MODELS_DIR
from .wrappers import TemplateSubset
from .zoo_config import algo_class


class PolicyImportError(ValueError):
    """A user's ``module:attr`` policy cannot be imported or is not a policy (a user error: one line in the CLI)."""


@runtime_checkable
class Policy(Protocol):
    """What :func:`agents.evaluation.run_policy`, ``hetserve evaluate`` and ``hetserve compare`` need: SB3's
    ``predict``. Optional attributes are read when present: ``name`` (the table's row label),
    ``decision_times`` (a list of seconds per decision the policy appends to; else ``predict`` is timed),
    ``stats`` (a Counter of events, e.g. fallbacks) and ``reset_stats()``."""

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """The action for ``observation`` (and the recurrent state, ``None`` if none)."""
        ...


#: performance model version -> built-in scenario name -> its registered env id (read from the registration
#: table, not repeated here)
SCENARIO_ENVS: dict[str, dict[str, str]] = {
    version: {kw["scenario"]: env_id for env_id, kw in ENV_IDS.items() if kw.get("perf_model", VERSIONS[0]) == version}
    for version in VERSIONS}
#: built-in scenario name -> env id under the default performance model (the -v1 ids stay the defaults)
SCENARIO_ENV = SCENARIO_ENVS["v1"]

#: the shipped model per env id (``agents/models/<name>.zip`` + ``.json``)
SHIPPED_MODELS = {"hetserve_env/HetServe-v1": MODELS_DIR / "ppo_HetServe-v1.zip",
                  "hetserve_env/HetServe-v2": MODELS_DIR / "ppo_HetServe-v2.zip"}



# ============================================================================================ saved agents
def read_record(path: str | Path) -> dict[str, Any]:
    """The JSON record written next to a model by :func:`agents.train.train` (``{}`` if there is none)."""
    p = Path(path)
    j = p.with_suffix(".json")
    return json.loads(j.read_text()) if j.exists() else {}


def shipped_model(env_id: str = "hetserve_env/HetServe-v1") -> Path | None:
    p = SHIPPED_MODELS.get(env_id)
    return p if p is not None and p.exists() else None


class AgentPolicy:
    """A saved SB3 model (PPO, A2C, MaskablePPO) as a policy on the *unwrapped* env, like a SolverPolicy.

    Reads ``<model>.json`` (written by ``hetserve train``) for the algorithm, the env kwargs it was trained
    with (e.g. ``action_mode``), its action wrapper (:class:`agents.wrappers.TemplateSubset`: the model sees
    the candidate templates' part of the observation and its action is expanded to all templates) and the
    VecNormalize statistics file if observations were normalised. Without a JSON the algorithm is found by
    trying PPO, MaskablePPO, A2C and no wrapper is applied.

    ``env``: a single Gymnasium env (wrapped or not) or an SB3 VecEnv of the same env id and kwargs;
    ``predict`` takes its observations and returns its actions (``(D,)`` or ``(n, D)``).
    """

    def __init__(self, path: str | Path, env: Any, name: str | None = None, device: str = "cpu") -> None:
        path = Path(path)
        if not path.exists() and path.with_suffix(".zip").exists():
            path = path.with_suffix(".zip")
        if not path.exists():
            raise FileNotFoundError(f"no model at {path}")
        self.path = path
        self.record = read_record(path)
        self.model = self._load(path, self.record.get("algo"), device)
        self.algo = self.record.get("algo") or type(self.model).__name__.lower()
        self.name = name or self.record.get("label") or {"ppo": "PPO", "a2c": "A2C", "ppo_mask": "MaskablePPO"}.get(self.algo, self.algo)
        self.is_vec = hasattr(env, "env_method") and hasattr(env, "num_envs")
        self.env = env
        proto = self._prototype(env)
        base = proto.unwrapped
        want_mode = (self.record.get("env_kwargs") or {}).get("action_mode", "target")
        if base.action_mode != want_mode:
            raise ValueError(f"{path.name} was trained with action_mode={want_mode!r}; the env has "
                             f"action_mode={base.action_mode!r} (make it with the record's env_kwargs)")
        self.wrapper: TemplateSubset | None = None
        spec = self.record.get("env_wrapper")
        if spec:
            name_, kw = spec[0], dict(spec[1] or {})
            if not name_.endswith("TemplateSubset"):
                raise ValueError(f"unsupported wrapper {name_!r} in {path.with_suffix('.json').name}")
            labels = self.record.get("template_labels")
            if labels:  # map by label: robust to a re-ordered template list
                idx = {lab: k for k, lab in enumerate(base.template_labels)}
                missing = [lab for lab in labels if lab not in idx]
                if missing:
                    raise ValueError(f"{path.name}: templates {missing[:3]} are not in this env's scenario")
                kw = {"templates": [idx[lab] for lab in labels]}
            self.wrapper = TemplateSubset(proto, **kw)
        self.obs_rms = None
        vn = self.record.get("vecnormalize")
        if vn:
            import pickle

            with open(path.with_name(vn), "rb") as f:
                self.obs_rms = pickle.load(f)  # a VecNormalize; only normalize_obs is used
        space = self.wrapper.observation_space if self.wrapper else base.observation_space
        if self.model.observation_space.shape != space.shape:
            raise ValueError(f"{path.name} expects observations of shape {self.model.observation_space.shape}, "
                             f"the env gives {space.shape}")
        self.maskable = self.algo == "ppo_mask" or type(self.model).__name__ == "MaskablePPO"
        self.decision_times: list[float] = []
        from collections import Counter

        self.stats: Counter = Counter()

    @staticmethod
    def _load(path: Path, algo: str | None, device: str):
        if algo:
            return algo_class(algo).load(path, device=device)
        last: Exception | None = None
        for algo in ("ppo", "ppo_mask", "a2c"):
            try:
                return algo_class(algo).load(path, device=device)
            except Exception as exc:  # noqa: PERF203
                last = exc
        raise ValueError(f"could not load {path} as PPO, MaskablePPO or A2C: {last}")

    def _prototype(self, env: Any) -> gym.Env:
        if not self.is_vec:
            return env
        env_id = self.record.get("env_id") or env.get_attr("spec")[0].id
        kwargs = dict(self.record.get("env_kwargs") or {})
        return gym.make(env_id, **kwargs)

    def _masks(self, n: int) -> np.ndarray | None:
        if not self.maskable:
            return None
        if self.is_vec:
            m = np.stack(self.env.env_method("action_masks"))
        else:
            m = self.env.unwrapped.action_masks()[None, :]
        if self.wrapper is not None:
            m = self.wrapper.mask(m)
        return m if n > 1 else m[0]

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        t0 = time.perf_counter()
        obs = np.asarray(observation, dtype=np.float32)
        batched = obs.ndim >= 2
        x = self.wrapper.observation(obs) if self.wrapper is not None else obs
        if self.obs_rms is not None:
            x = self.obs_rms.normalize_obs(x)
        kw = {}
        masks = self._masks(obs.shape[0] if batched else 1)
        if masks is not None:
            kw["action_masks"] = masks
        a, state = self.model.predict(x, state=state, episode_start=episode_start, deterministic=deterministic, **kw)
        a = np.asarray(a, dtype=np.int64)
        if self.wrapper is not None:
            a = self.wrapper.full_action(a)
        self.decision_times.append((time.perf_counter() - t0) / (obs.shape[0] if batched else 1))
        self.stats["calls"] += 1
        return a, state

    def reset_stats(self) -> None:
        self.decision_times.clear()
        self.stats.clear()


# ============================================================================================ policies by name
def make_env(env_id: str, split: str = "test", **kwargs: Any) -> gym.Env:
    import hetserve_env  # noqa: F401  (registers the ids)

    return gym.make(env_id, split=split, **kwargs)


def load_policy(spec: str, env: Any, *, milp_time_limit: float | None = None, headroom: float = 0.1,
                cache: dict | None = None, seed: int = 0, name: str | None = None) -> Any:
    """A policy from a name (:func:`baselines.policies.policy_names`: ``gh``, ``agh``, ``milp``, ``…-headroom``,
    ``…-oracle``, ``random``, …), the path
    of a saved model (``.zip``), an RLlib checkpoint directory or ``module:attr`` (see :func:`import_policy`)."""
    import baselines.forecast_planner  # noqa: F401  (registers the forecast planners: gh-seasonal-max, …)
    from baselines.policies import make_policy, policy_names, solver_policy_spec

    key = str(spec).lower()
    if key in policy_names():
        solver = solver_policy_spec(key)
        kw: dict[str, Any] = {"seed": seed} if key == "random" else {}
        if solver is not None:
            kw = {"cache": cache, "name": name}
            if solver[1] == "headroom":
                kw["headroom"] = headroom
            if solver[0] == "milp" and milp_time_limit is not None:
                kw["solve_options"] = {"time_limit": float(milp_time_limit)}
        return make_policy(key, env, **kw)
    p = Path(spec)
    if p.suffix == ".zip" or p.with_suffix(".zip").exists():
        return AgentPolicy(p, env, name=name)
    from .rllib_policy import is_checkpoint

    if is_checkpoint(p):  # hetserve train --backend rllib: <run>/checkpoint
        from .rllib_policy import RLlibPolicy

        return RLlibPolicy(p, env, name=name or "RLlib PPO")
    if ":" in str(spec):
        return import_policy(str(spec), env)
    raise ValueError(f"unknown policy {spec!r}: give one of {', '.join(policy_names())}, a model .zip, or "
                     "module:attr (your own class, docs/your-own.md)")


def policy_env_kwargs(spec: str) -> dict[str, Any]:
    """The env kwargs a policy needs (a saved model's training kwargs; none for the solvers)."""
    p = Path(spec)
    if p.suffix == ".zip" or p.with_suffix(".zip").exists():
        kw = dict(read_record(p).get("env_kwargs") or {})
        kw.pop("split", None)
        return kw
    return {}


def import_policy(spec: str, env: Any) -> Any:
    """``"module:attr"`` -> a policy. ``attr`` is a class or factory called with ``env``, or an object with
    ``predict``. The current directory is searched first, so ``my_policy.py`` next to you is found."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise PolicyImportError(f"policy {spec!r}: expected module:attr, e.g. my_policy:MyPolicy")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise PolicyImportError(f"policy {spec!r}: cannot import module {module!r} ({exc})") from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PolicyImportError(f"policy {spec!r}: module {module!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    policy = obj(env) if isinstance(obj, type) or not hasattr(obj, "predict") else obj
    if not isinstance(policy, Policy):
        raise PolicyImportError(f"policy {spec!r}: {type(policy).__name__} has no predict(observation, state=None, "
                         "episode_start=None, deterministic=True) method")
    if not getattr(policy, "name", None):
        try:
            policy.name = attr.rsplit(".", 1)[-1]
        except AttributeError:
            pass
    return policy


__all__ = ["AgentPolicy", "Policy", "PolicyImportError", "SCENARIO_ENV", "SCENARIO_ENVS", "import_policy",
           "load_policy", "make_env", "policy_env_kwargs", "read_record", "shipped_model"]
