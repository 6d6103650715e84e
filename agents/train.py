"""Train PPO, A2C or MaskablePPO on a hetserve environment (docs/agents.md, "Training").

Hyperparameters live in RL Zoo YAML files (``agents/hyperparams/<algo>.yml``, top-level key = env id), so the
same file drives :func:`train` (``hetserve train``) and ``python -m rl_zoo3.train --algo ppo --env
hetserve_env/HetServe-v1 --gym-packages hetserve_env --conf-file agents/hyperparams/ppo.yml``.

Besides SB3's own pieces, this module publishes what the YAML files refer to by name:

* :class:`HetServePolicy` / :class:`HetServeMaskablePolicy`: the policies of :mod:`agents.networks` (SB3's MLP
  actor-critic with a vectorised MultiCategorical and an optional ``p_zero`` prior), built on first use.
* :class:`TemplateSubset`, :class:`CycleDays`: the env wrappers of :mod:`hetserve_env.wrappers`, re-exported
  here under the names the YAML files use.

Hyperparameter entries are read by :mod:`agents.zoo_config` (expressions parsed without ``eval``); run
directories, refusal to overwrite and resuming from a checkpoint are :mod:`agents.runs`.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from hetserve_env.wrappers import CycleDays, TemplateSubset, candidate_templates, start_days  # noqa: F401 (YAML names)

from . import runs
from .networks import policy_classes
from .zoo_config import (ALGOS, algo_class, check_algo, hyperparams_path, import_class, load_hyperparams,
                         make_wrapper, parse_expression, schedule, wrapper_spec)

#: env kwargs that only augment training (the validation env, the record's ``env_kwargs`` and evaluation use
#: the env's defaults for them): ``noise`` adds seeded log-normal demand noise to the training days
TRAIN_ONLY_KWARGS = ("noise",)
#: Training env backends: the native vector env (agents.native_vec; the default), DummyVecEnv, SubprocVecEnv.
VEC_ENVS = ("native", "dummy", "subproc")

# keys of an RL Zoo hyperparameter entry that are not constructor arguments of the algorithm
_ZOO_KEYS = ("n_envs", "n_timesteps", "normalize", "env_kwargs", "env_wrapper", "policy", "callback",
             "frame_stack", "vec_env_wrapper", "monitor_kwargs", "normalize_kwargs")


def __getattr__(name: str) -> Any:  # lazy: importing agents.train does not import torch
    if name in ("HetServePolicy", "HetServeMaskablePolicy"):
        pol, mpol = policy_classes()
        globals()["HetServePolicy"], globals()["HetServeMaskablePolicy"] = pol, mpol
        pol.__module__ = mpol.__module__ = __name__
        pol.__qualname__, mpol.__qualname__ = "HetServePolicy", "HetServeMaskablePolicy"
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")



# ============================================================================================ helpers
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


def _algo_setup(hp: Mapping[str, Any]) -> dict[str, Any]:
    """What the YAML entry ``hp`` means for SB3: normalisation, policy, algorithm kwargs, callbacks, wrapper.
    Expression strings are parsed safely (:func:`agents.zoo_config.parse_expression`), class names must name
    subclasses of what they are used as."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.policies import BasePolicy

    hp = copy.deepcopy(dict(hp))
    normalize, norm_kwargs = hp.get("normalize", False), {}
    if isinstance(normalize, str):
        norm_kwargs, normalize = parse_expression(normalize, "normalize"), True
    elif isinstance(normalize, dict):
        norm_kwargs, normalize = dict(normalize), True
    if not isinstance(norm_kwargs, dict):
        raise ValueError(f"normalize: expected a bool or a mapping of VecNormalize arguments, got {norm_kwargs!r}")
    if "gamma" in hp and normalize:
        norm_kwargs.setdefault("gamma", hp["gamma"])
    policy = hp.get("policy", "MlpPolicy")
    if isinstance(policy, str) and "." in policy:
        policy = import_class(policy, BasePolicy, "policy")
    callbacks, cb = [], hp.get("callback")
    for c in cb if isinstance(cb, list) else [cb] if cb else []:
        name, kw = next(iter(c.items())) if isinstance(c, dict) else (c, {})
        callbacks.append(import_class(name, BaseCallback, "callback")(**(kw or {})))
    algo_kwargs = {k: v for k, v in hp.items() if k not in _ZOO_KEYS}
    if isinstance(algo_kwargs.get("policy_kwargs"), str):
        algo_kwargs["policy_kwargs"] = parse_expression(algo_kwargs["policy_kwargs"], "policy_kwargs")
    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        if key in algo_kwargs:
            algo_kwargs[key] = schedule(algo_kwargs[key])
    wspec = wrapper_spec(hp)
    return {"normalize": bool(normalize), "norm_kwargs": norm_kwargs, "policy": policy, "callbacks": callbacks,
            "algo_kwargs": algo_kwargs, "wrapper_spec": wspec, "wrapper": make_wrapper(wspec)}


def _check_env_kwargs(env_id: str, kwargs: Mapping[str, Any]) -> None:
    """Build one training env so a bad ``env_kwargs`` value is reported with its key before any file is written."""
    import hetserve_env  # noqa: F401  (registers the ids)

    def attempt(kw: Mapping[str, Any]) -> Exception | None:
        try:
            gym.make(env_id, **{**kw, "split": "train"}).close()
        except (ValueError, TypeError) as exc:
            return exc
        return None

    exc = attempt(kwargs)
    if exc is None:
        return
    for key, value in kwargs.items():  # name the key that fails on its own
        one = attempt({key: value})
        if one is not None:
            raise ValueError(f"env_kwargs: {key}={value!r} is rejected by {env_id}: {one}") from None
    raise ValueError(f"env_kwargs: {dict(kwargs)!r} are rejected by {env_id}: {exc}") from None


# ============================================================================================ training
def train(algo: str, env_id: str = "hetserve_env/HetServe-v1", timesteps: int | None = None, seed: int = 0, *,
          hyperparams: Mapping[str, Any] | None = None, hyperparams_file: str | Path | None = None,
          n_envs: int | None = None, log_dir: str | Path = "runs", eval_freq: int | None = None,
          eval_episodes: int | None = None, save_path: str | Path | None = None, checkpoint_freq: int | None = None,
          vec_env: str = "native", threads: int = 1, progress_bar: bool = True, tensorboard: bool = True,
          keep: str = "best", env_kwargs: Mapping[str, Any] | None = None, verbose: int = 0,
          command: str | None = None, overwrite: bool = False, cpu_minutes: float | None = None) -> dict[str, Any]:
    """Train ``algo`` on ``env_id`` and save the model, its VecNormalize statistics and a JSON record.

    Hyperparameters: the RL Zoo entry of ``env_id`` in ``agents/hyperparams/<algo>.yml`` (or
    ``hyperparams_file``), updated with ``hyperparams``; ``timesteps`` overrides ``n_timesteps``, ``n_envs``
    the YAML's, ``env_kwargs`` are merged into the YAML's. ``timesteps``, ``n_envs``, ``eval_freq``,
    ``eval_episodes``, ``checkpoint_freq`` and ``threads`` must be integers >= 1. ``cpu_minutes`` stops training
    once ``learn`` has used that much CPU (this process and its exited children; evaluations included; refused
    with ``vec_env='subproc'``), whichever of it and ``timesteps`` comes first: the same budget for every
    algorithm and seed (the record says which ended it).

    Logs go to ``log_dir/<algo>_<env>_s<seed>/``: ``run.json`` (these settings, for :func:`resume`),
    ``progress.csv`` and TensorBoard event files (SB3 logger), ``evaluations.npz`` and ``best_model.zip``
    (``EvalCallback`` on the *validation* split, one episode per validation day, deterministic, every
    ``eval_freq`` steps), ``checkpoints/`` (every ``checkpoint_freq`` steps, with VecNormalize statistics). A
    directory that already holds a run, or an existing model at ``save_path``, is refused (ValueError) unless
    ``overwrite=True``, which deletes them first; :func:`resume` continues an interrupted run.

    Env kwargs in :data:`TRAIN_ONLY_KWARGS` (``noise``) apply to the training envs only: validation, the
    record's ``env_kwargs`` and every evaluation use the registered env as it is.

    ``keep="best"`` saves the model with the best validation reward to ``save_path`` (model selection on
    validation days; the test days are never seen), ``"last"`` the final one. Default ``save_path``:
    ``log_dir/<run>/model.zip``. Next to it: ``<stem>_vecnormalize.pkl`` when observations are normalised and
    ``<stem>.json`` with the algorithm, env id and kwargs, wrapper, hyperparameters, seed, steps, measured wall
    and CPU seconds (this process and its children), git commit and scenario.

    Returns the JSON record as a dict.
    """
    algo = check_algo(algo)
    hp = load_hyperparams(algo, env_id, hyperparams_file)
    hp.update(copy.deepcopy(dict(hyperparams or {})))
    total = runs.positive_int("timesteps", timesteps if timesteps is not None else hp.get("n_timesteps", 100_000))
    opt = {name: None if v is None else runs.positive_int(name, v) for name, v in
           (("eval_freq", eval_freq), ("eval_episodes", eval_episodes), ("checkpoint_freq", checkpoint_freq))}
    n_envs = runs.positive_int("n_envs", n_envs if n_envs is not None else hp.get("n_envs", 1))
    budget = None if cpu_minutes is None else runs.positive_minutes("cpu_minutes", cpu_minutes)
    threads = runs.positive_int("threads", threads)
    for name, value, allowed in (("keep", keep, ("best", "last")), ("vec_env", vec_env, VEC_ENVS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    if budget is not None and vec_env == "subproc":
        raise ValueError("cpu_minutes counts this process's CPU and that of children that have exited; "
                         "vec_env='subproc' steps the envs in live worker processes it cannot see: use vec_env "
                         "'native' or 'dummy' with a CPU budget")
    kwargs_env = {**dict(hp.get("env_kwargs") or {}), **dict(env_kwargs or {})}
    kwargs_env.pop("split", None)
    run_dir = runs.run_dir_for(log_dir, algo, env_id, seed)
    save = runs.model_path(save_path, run_dir)
    spec = {"kind": "hetserve.train_run", "algo": algo, "env_id": env_id, "seed": int(seed), "timesteps": total,
            "n_envs": n_envs, **opt, "cpu_minutes": budget, "hyperparams": hp,
            "hyperparams_file": str(hyperparams_file or hyperparams_path(algo)), "env_kwargs": kwargs_env,
            "save_path": runs.spec_model_path(save, run_dir), "keep": keep, "vec_env": vec_env,
            "tensorboard": bool(tensorboard),
            "command": command or " ".join(shlex.quote(a) for a in sys.argv)}
    _algo_setup(hp)  # bad expressions and class names fail here, before any file is touched
    _check_env_kwargs(env_id, kwargs_env)
    runs.prepare(run_dir, save, overwrite)
    runs.write_spec(run_dir, spec)
    return _learn(spec, run_dir, None, threads=threads, progress_bar=progress_bar, verbose=verbose)


def resume(run_dir: str | Path, *, threads: int = 1, progress_bar: bool = True, verbose: int = 0,
           command: str | None = None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its last checkpoint to the total number of steps it was started
    with, with the settings of its ``run.json``: the model (optimizer state, step count), VecNormalize
    statistics, ``progress.csv`` (rows after the checkpoint are dropped, new rows appended), TensorBoard (a new
    event file in the same directory), ``evaluations.npz`` and the best validation reward so far (so
    ``best_model.zip`` is replaced only by a better model). Callbacks keep their schedule (evaluations and
    checkpoints at the same step counts as without the interruption). The resumed part is seeded with
    ``seed + steps at the checkpoint``: it continues the run, it does not replay it bit for bit.

    Returns the JSON record as :func:`train`; its ``resumed_from`` names the checkpoint and
    ``train_wall_s``/``train_cpu_s`` cover the resumed part only."""
    run_dir = Path(run_dir)
    spec = runs.read_spec(run_dir)
    threads = runs.positive_int("threads", threads)
    if spec.get("cpu_minutes") is not None:
        raise ValueError(f"{run_dir} was started with a CPU budget ({spec['cpu_minutes']:g} min); the CPU used before "
                         f"the interruption is not recorded, so resuming could not keep the budget: train it again")
    record = runs.saved_model_path(spec, run_dir).with_suffix(".json")
    if record.exists():  # written when a run ends (an earlier run's model there was refused or deleted)
        raise ValueError(f"{run_dir} is a finished run (record {record}); train a new one with another --log-dir "
                         f"or --seed, or --overwrite")
    ckpt = runs.latest_checkpoint(run_dir)
    spec = {**spec, "resume_command": command or " ".join(shlex.quote(a) for a in sys.argv)}
    return _learn(spec, run_dir, ckpt, threads=threads, progress_bar=progress_bar, verbose=verbose)


def _make_envs(spec: Mapping[str, Any], setup: Mapping[str, Any], ckpt: runs.Checkpoint | None):
    """The training VecEnv (VecNormalize restored from the checkpoint) and the validation env."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    import hetserve_env  # noqa: F401  (registers the ids)

    env_id, kwargs_env, wrapper = spec["env_id"], spec["env_kwargs"], setup["wrapper"]
    seed = spec["seed"] + (ckpt.steps if ckpt else 0)
    if spec["vec_env"] == "native":  # the same steps as "dummy" (tests/test_native_vec.py), one compiled call
        from .native_vec import NativeVecEnv

        venv = NativeVecEnv(spec["n_envs"], {**gym.spec(env_id).kwargs, **kwargs_env, "split": "train"}, wrapper=wrapper)
        venv.seed(seed)
    else:
        vec_cls = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}[spec["vec_env"]]
        make_id = _qualified(env_id) if spec["vec_env"] == "subproc" else env_id
        venv = make_vec_env(make_id, n_envs=spec["n_envs"], seed=seed, env_kwargs={**kwargs_env, "split": "train"},
                            wrapper_class=wrapper, vec_env_cls=vec_cls)

    def _eval_wrapper(env: gym.Env) -> gym.Env:
        env = CycleDays(env)
        return wrapper(env) if wrapper is not None else env

    eval_kwargs = {k: v for k, v in kwargs_env.items() if k not in TRAIN_ONLY_KWARGS}
    eval_env = make_vec_env(env_id, n_envs=1, seed=spec["seed"] + 10_000,
                            env_kwargs={**eval_kwargs, "split": "validation"}, wrapper_class=_eval_wrapper)
    if setup["normalize"]:
        if ckpt is not None:
            if ckpt.vecnormalize is None:
                raise FileNotFoundError(f"{ckpt.model.parent}: no VecNormalize statistics for {ckpt.model.name}")
            venv = VecNormalize.load(str(ckpt.vecnormalize), venv)
            venv.training = True
        else:
            venv = VecNormalize(venv, **setup["norm_kwargs"])
        eval_env = VecNormalize(eval_env, training=False, norm_obs=setup["norm_kwargs"].get("norm_obs", True),
                                norm_reward=False)
    return venv, eval_env, eval_kwargs


def _callbacks(spec: Mapping[str, Any], setup: Mapping[str, Any], eval_env, run_dir: Path,
               ckpt: runs.Checkpoint | None, progress_bar: bool):
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback, EvalCallback

    n_envs = spec["n_envs"]
    steps_per_day = int(eval_env.get_attr("windows_per_day")[0]) * int(eval_env.get_attr("episode_days")[0])
    eval_freq = spec["eval_freq"] or max(steps_per_day * n_envs * 10, 1)
    checkpoint_freq = spec["checkpoint_freq"] or max(spec["timesteps"] // 5, 1)
    eval_episodes = spec["eval_episodes"] or len(start_days(eval_env.envs[0] if hasattr(eval_env, "envs")
                                                            else eval_env.venv.envs[0]))
    eval_cls = EvalCallback
    if spec["algo"] == "ppo_mask":
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback as eval_cls
    saver = CheckpointCallback(save_freq=max(checkpoint_freq // n_envs, 1), save_path=str(run_dir / "checkpoints"),
                               name_prefix="model", save_vecnormalize=setup["normalize"])
    evaluator = eval_cls(eval_env, n_eval_episodes=eval_episodes, eval_freq=max(eval_freq // n_envs, 1),
                         best_model_save_path=str(run_dir), log_path=str(run_dir), deterministic=True, verbose=0)
    if ckpt is not None:  # same schedule as an uninterrupted run, and the evaluations so far
        saver.n_calls = evaluator.n_calls = ckpt.steps // n_envs
        runs.restore_evaluations(evaluator, run_dir)
    callbacks = [saver, evaluator, *setup["callbacks"]]
    if spec.get("cpu_minutes") is not None:
        from .progress import CpuBudget

        callbacks.append(CpuBudget(60.0 * spec["cpu_minutes"]))
    if progress_bar:
        from .progress import RolloutProgressBar  # SB3's bar, total rounded up to whole rollouts

        callbacks.insert(0, RolloutProgressBar())
    return CallbackList(callbacks)


def _learn(spec: Mapping[str, Any], run_dir: Path, ckpt: runs.Checkpoint | None, *, threads: int,
           progress_bar: bool, verbose: int) -> dict[str, Any]:
    import torch as th
    from stable_baselines3.common.logger import configure

    from .progress import CpuBudget

    th.set_num_threads(threads)
    setup = _algo_setup(spec["hyperparams"])
    venv, eval_env, eval_kwargs = _make_envs(spec, setup, ckpt)
    earlier_log = runs.read_progress(run_dir, ckpt.steps) if ckpt else None
    logger = configure(str(run_dir), ["csv"] + (["tensorboard"] if spec["tensorboard"] else [])
                       + (["stdout"] if verbose else []))
    runs.continue_csv(logger, earlier_log)
    cls = algo_class(spec["algo"])
    if ckpt is None:
        model = cls(setup["policy"], venv, seed=spec["seed"], verbose=verbose, device="cpu", **setup["algo_kwargs"])
    else:
        model = cls.load(ckpt.model, env=venv, device="cpu")
        model.set_random_seed(spec["seed"] + ckpt.steps)
    model.set_logger(logger)
    callbacks = _callbacks(spec, setup, eval_env, run_dir, ckpt, progress_bar)
    t_wall, t_cpu = time.perf_counter(), runs.cpu_seconds()
    try:
        model.learn(total_timesteps=max(spec["timesteps"] - model.num_timesteps, 0), reset_num_timesteps=ckpt is None,
                    callback=callbacks)
    finally:
        logger.close()
    timing = {"train_wall_s": round(time.perf_counter() - t_wall, 1),
              "train_cpu_s": round(runs.cpu_seconds() - t_cpu, 1), "cpu_minutes": spec.get("cpu_minutes"),
              "stopped_by": "cpu budget" if any(isinstance(c, CpuBudget) and c.stopped for c in callbacks.callbacks)
              else "timesteps"}  # a user callback with a ``stopped`` attribute is not the budget
    record = _save(spec, setup, model, venv, eval_env, run_dir, eval_kwargs, timing, threads)
    if ckpt is not None:
        record["resumed_from"] = {"checkpoint": ckpt.model.name, "timesteps": ckpt.steps,
                                  "command": spec["resume_command"]}
    runs.saved_model_path(spec, run_dir).with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    venv.close()
    eval_env.close()
    return record


def _save(spec, setup, model, venv, eval_env, run_dir: Path, eval_kwargs, timing, threads: int) -> dict[str, Any]:
    """Keep the best or the last model at ``save_path`` (+ VecNormalize statistics) and build the record."""
    import torch as th

    save_path = runs.saved_model_path(spec, run_dir)
    evals = np.load(run_dir / "evaluations.npz") if (run_dir / "evaluations.npz").exists() else None
    best_eval = final_eval = None
    if evals is not None and len(evals["timesteps"]):
        means = evals["results"].mean(axis=1)
        kb = int(np.argmax(means))
        best_eval = {"timesteps": int(evals["timesteps"][kb]), "mean_reward": float(means[kb])}
        final_eval = {"timesteps": int(evals["timesteps"][-1]), "mean_reward": float(means[-1])}
    kept = "last"
    if spec["keep"] == "best" and (run_dir / "best_model.zip").exists():
        algo_class(spec["algo"]).load(run_dir / "best_model.zip", device="cpu").save(save_path)
        kept = "best"
    else:
        model.save(save_path)
    vn_file = None
    if setup["normalize"] and setup["norm_kwargs"].get("norm_obs", True):
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
    wspec = setup["wrapper_spec"]
    return {
        "kind": "hetserve.agent", "algo": spec["algo"], "env_id": spec["env_id"].split(":", 1)[-1],
        "env_kwargs": eval_kwargs, "train_env_kwargs": spec["env_kwargs"],
        "env_wrapper": list(wspec) if wspec else None, "template_labels": labels, "scenario": base.scenario.name,
        "seed": int(spec["seed"]), "timesteps": int(model.num_timesteps), "timesteps_limit": int(spec["timesteps"]),
        "n_envs": spec["n_envs"],
        "hyperparams": _jsonable(spec["hyperparams"]), "hyperparams_file": spec["hyperparams_file"], "kept": kept,
        "best_validation": _with_cost(best_eval, scale), "final_validation": _with_cost(final_eval, scale),
        "validation_days": list(base.split_days), "reward_scale": scale, **timing,
        "torch_threads": int(th.get_num_threads()), "vec_env": spec["vec_env"],
        "vecnormalize": vn_file.name if vn_file else None, "model": save_path.name, "command": spec["command"],
        "git_commit": git_commit(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "versions": _versions(), "log_dir": str(run_dir),
    }


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


__all__ = ["ALGOS", "TRAIN_ONLY_KWARGS", "CycleDays", "HetServeMaskablePolicy", "HetServePolicy", "TemplateSubset",
           "algo_class", "candidate_templates", "load_hyperparams", "resume", "start_days", "train", "wrapper_spec"]
