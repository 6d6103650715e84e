"""PPO on RLlib's new API stack (``hetserve train --backend rllib``) and an RLlib module as a :class:`Policy`.

Why a second backend: RLlib spreads sampling over env-runner processes and, with ``RAY_ADDRESS`` set, over the
machines of a Ray cluster. Ray is an optional extra (``pip install -e ".[rllib]"``, its own venv: ray pins its
own gymnasium); importing this module does not import ray.

A run writes into the same place as an SB3 run, ``<log-dir>/rllib_ppo_<env>_s<seed>/``: ``run.json`` (the
settings, written first), ``progress.csv`` (one row per iteration), ``checkpoint/`` (``Algorithm.save_to_path``)
and ``model.json`` (the record: settings, measured wall/CPU seconds, the final validation cost from
:func:`agents.evaluation.score_policy`, versions). :class:`agents.rllib_policy.RLlibPolicy` loads the RL module of a checkpoint and
acts greedily (the mode of each action dimension), so ``hetserve evaluate <run>/checkpoint`` scores it like any
other policy.
"""

from __future__ import annotations

import copy
import csv
import datetime as _dt
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import runs
from .rllib_policy import (MissingExtra, RLlibPolicy, is_checkpoint, module_from_checkpoint,  # noqa: F401 (re-exported)
                           require_ray)

ALGO = "rllib_ppo"
#: PPOConfig.training() defaults of ``hetserve train --backend rllib`` (``--set key=value`` overrides one);
#: one batch is 8 days of 144 windows, as the SB3 PPO entries' rollout (agents/hyperparams/ppo.yml)
TRAINING_DEFAULTS: dict[str, Any] = {"train_batch_size_per_learner": 1152, "minibatch_size": 288, "num_epochs": 10,
                                     "lr": 3e-4, "gamma": 0.95, "lambda_": 0.95, "entropy_coeff": 0.0}
#: hidden layers of the default RL module per env id (same widths as the SB3 entries)
HIDDEN = {"hetserve_env/HetServeSmall-v1": [128, 128]}
DEFAULT_HIDDEN = [256, 256]
_CSV_KEYS = ("training_iteration", "num_env_steps_sampled_lifetime", "env_runners/episode_return_mean",
             "env_runners/episode_len_mean", "env_runners/num_episodes", "time_this_iter_s")


def training_settings(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:data:`TRAINING_DEFAULTS` updated with ``overrides`` (keys must be PPOConfig.training() arguments)."""
    require_ray()
    from ray.rllib.algorithms.ppo import PPOConfig

    out = dict(TRAINING_DEFAULTS)
    cfg = PPOConfig()
    for key, value in dict(overrides or {}).items():
        if not hasattr(cfg, key) or key.startswith("_"):
            raise ValueError(f"--set {key}: not a PPOConfig training setting (e.g. lr, gamma, lambda_, "
                             f"num_epochs, minibatch_size, train_batch_size_per_learner, entropy_coeff)")
        out[key] = value
    return out


def build_config(env_id: str, seed: int, num_env_runners: int, training: Mapping[str, Any],
                 env_kwargs: Mapping[str, Any] | None = None, hidden: list[int] | None = None) -> Any:
    """A PPOConfig (new API stack) for ``env_id``'s training split, registered through
    :func:`hetserve_env.rllib.register_rllib_envs` so env runners make the env by its plain id."""
    require_ray()
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from hetserve_env.rllib import register_rllib_envs

    register_rllib_envs()
    cfg = (PPOConfig()
           .environment(env_id, env_config={**dict(env_kwargs or {}), "split": "train"})
           # no sample timeout: a slow first sample (numba compiling in a fresh runner) must not become a
           # silently empty iteration
           .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=1, sample_timeout_s=None)
           .learners(num_learners=0)
           .training(**dict(training))
           .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=list(hidden or HIDDEN.get(env_id, DEFAULT_HIDDEN))))
           .debugging(seed=int(seed)))
    return cfg


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _steps(result: Mapping[str, Any]) -> int:
    flat = _flat(result)
    for key in ("num_env_steps_sampled_lifetime", "env_runners/num_env_steps_sampled_lifetime"):
        if key in flat:
            return int(flat[key])
    raise KeyError(f"no sampled-steps counter in the RLlib result (keys: {sorted(flat)[:20]} …)")


def train_rllib(env_id: str = "hetserve_env/HetServeSmall-v1", *, iterations: int | None = None,
                timesteps: int | None = None, seed: int = 0, num_env_runners: int = 2,
                training: Mapping[str, Any] | None = None, env_kwargs: Mapping[str, Any] | None = None,
                log_dir: str | Path = "runs", eval_episodes: int | None = None, overwrite: bool = False,
                command: str | None = None, verbose: int = 0) -> dict[str, Any]:
    """Train RLlib PPO on ``env_id`` for ``iterations`` (default 10) or until ``timesteps`` env steps are
    sampled; save a checkpoint and a record (module docstring) and score the final module on the validation
    days. A run directory with files in it is refused unless ``overwrite``. Returns the record."""
    require_ray()
    if iterations is not None and timesteps is not None:
        raise ValueError("give iterations or timesteps, not both")
    iterations = runs.positive_int("iterations", iterations) if iterations is not None else None
    timesteps = runs.positive_int("timesteps", timesteps) if timesteps is not None else None
    if iterations is None and timesteps is None:
        iterations = 10
    num_env_runners = _non_negative("num_env_runners", num_env_runners)
    settings = training_settings(training)
    kwargs_env = {k: v for k, v in dict(env_kwargs or {}).items() if k != "split"}
    run_dir = runs.run_dir_for(log_dir, ALGO, env_id, seed)
    save = run_dir / "model.zip"  # not written: prepare() also checks the record next to it (model.json)
    spec = {"kind": "hetserve.rllib_run", "algo": ALGO, "env_id": env_id, "seed": int(seed),
            "iterations": iterations, "timesteps": timesteps, "num_env_runners": num_env_runners,
            "training": settings, "env_kwargs": kwargs_env,
            "command": command or " ".join(shlex.quote(a) for a in sys.argv)}
    runs.prepare(run_dir, save, overwrite)
    runs.write_spec(run_dir, {**spec, "resumable": False})
    return _run(spec, run_dir, eval_episodes, verbose)


def _non_negative(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _run(spec: Mapping[str, Any], run_dir: Path, eval_episodes: int | None, verbose: int) -> dict[str, Any]:
    import ray

    started = not ray.is_initialized()
    if started:  # RAY_ADDRESS set: join that cluster; else a local one on this machine's cores
        ray.init(include_dashboard=False, log_to_driver=bool(verbose), configure_logging=False)
    t_wall, t_cpu = time.perf_counter(), _cpu_seconds()
    algo = build_config(spec["env_id"], spec["seed"], spec["num_env_runners"], spec["training"],
                        spec["env_kwargs"]).build_algo()
    try:
        rows, steps = [], 0
        while True:
            result = algo.train()
            new, steps = _steps(result) - steps, _steps(result)
            if new <= 0:
                raise RuntimeError(f"RLlib iteration {len(rows) + 1} sampled no env steps")
            flat = _flat(result)
            rows.append({k: flat.get(k) for k in _CSV_KEYS} | {"num_env_steps_sampled_lifetime": steps})
            if verbose:
                print(f"iteration {len(rows)}: {steps:,} steps, return {flat.get('env_runners/episode_return_mean')}")
            if (spec["iterations"] is not None and len(rows) >= spec["iterations"]) or \
                    (spec["timesteps"] is not None and steps >= spec["timesteps"]):
                break
        timing = {"train_wall_s": round(time.perf_counter() - t_wall, 1),
                  "train_cpu_s": round(_cpu_seconds() - t_cpu, 1)}
        _write_csv(run_dir / "progress.csv", rows)
        algo.save_to_path(str((run_dir / "checkpoint").resolve()))
        module = algo.get_module()
    finally:
        algo.stop()
        if started:
            ray.shutdown()
    record = _record(spec, run_dir, len(rows), steps, timing)
    record["final_validation"] = _validation(module, spec, steps, eval_episodes)
    (run_dir / "model.json").write_text(json.dumps(record, indent=2, default=repr) + "\n")
    return record


def _validation(module: Any, spec: Mapping[str, Any], steps: int, eval_episodes: int | None) -> dict[str, Any]:
    """The final module's mean cost on the validation days (train-only kwargs such as ``noise`` left out, as
    for SB3 runs)."""
    from .evaluation import score_policy
    from .policies import make_env
    from .train import TRAIN_ONLY_KWARGS

    kwargs = {k: v for k, v in spec["env_kwargs"].items() if k not in TRAIN_ONLY_KWARGS}
    env = make_env(spec["env_id"], "validation", **kwargs)
    try:
        row = score_policy(RLlibPolicy(module, env, name="RLlib PPO"), env, episodes=eval_episodes, progress=False)
    finally:
        env.close()
    return {"timesteps": steps, "mean_reward": row["mean_reward"], "mean_cost_usd": row["mean_cost_usd"],
            "slo_attainment_pct": row["slo_attainment_pct"], "episodes": row["episodes"]}


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _cpu_seconds() -> float:
    import resource

    me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _record(spec: Mapping[str, Any], run_dir: Path, iterations: int, steps: int, timing: dict) -> dict[str, Any]:
    """The run's record (``model.json``); CPU seconds cover this process and its reaped children, not Ray's
    worker processes (they outlive the run), so the wall time is the figure to compare."""
    import gymnasium
    import ray
    import torch

    from .train import git_commit

    return {"kind": "hetserve.rllib_agent", "algo": ALGO, "env_id": spec["env_id"], "env_kwargs": spec["env_kwargs"],
            "seed": spec["seed"], "iterations": iterations, "timesteps": steps,
            "num_env_runners": spec["num_env_runners"], "training": copy.deepcopy(dict(spec["training"])),
            **timing, "steps_per_s": round(steps / max(timing["train_wall_s"], 1e-9), 1),
            "checkpoint": "checkpoint", "log_dir": str(run_dir), "command": spec["command"],
            "git_commit": git_commit(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
            "versions": {"ray": ray.__version__, "torch": torch.__version__, "gymnasium": gymnasium.__version__}}


# ============================================================================================ CLI
#: ``hetserve train`` options the rllib backend does not take (SB3 settings)
_SB3_ONLY = ("algo", "n_envs", "hyperparams", "save", "eval_freq", "checkpoint_freq", "keep", "vec_env", "resume")


def run_train_cli(args: Any, defaults: Mapping[str, Any], overrides: dict[str, Any], env_kwargs: dict[str, Any],
                  command: str) -> int:
    """``hetserve train --backend rllib``: refuses SB3-only options by name, trains, prints the summary."""
    given = [f"--{k.replace('_', '-')}" for k in _SB3_ONLY if getattr(args, k) != defaults[k]]
    if given:
        raise ValueError(f"--backend rllib trains RLlib PPO with its own settings (--set key=value for "
                         f"PPOConfig.training); {', '.join(given)} are SB3 options")
    if args.num_env_runners < 0:
        raise ValueError(f"--num-env-runners must be an integer >= 0, got {args.num_env_runners}")
    rec = train_rllib(args.env, iterations=args.iterations, timesteps=args.timesteps, seed=args.seed,
                      num_env_runners=args.num_env_runners, training=overrides, env_kwargs=env_kwargs,
                      log_dir=args.log_dir, overwrite=args.overwrite, command=command, verbose=args.verbose)
    v = rec["final_validation"]
    print(f"trained RLlib PPO on {rec['env_id']} for {rec['iterations']} iterations, {rec['timesteps']:,} steps "
          f"(seed {rec['seed']}, {rec['num_env_runners']} env runners) in {rec['train_wall_s']:.0f} s wall "
          f"({rec['steps_per_s']:,.0f} steps/s)")
    print(f"  final validation: ${v['mean_cost_usd']:,.2f} per episode over {v['episodes']} day(s), "
          f"SLO attainment {v['slo_attainment_pct']:.2f} %")
    print(f"saved {rec['log_dir']}/checkpoint and model.json (hetserve evaluate {rec['log_dir']}/checkpoint)")
    return 0


__all__ = ["ALGO", "MissingExtra", "RLlibPolicy", "TRAINING_DEFAULTS", "build_config", "is_checkpoint",
           "module_from_checkpoint", "train_rllib", "training_settings"]
