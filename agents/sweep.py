"""``hetserve sweep SPEC.yaml``: seeds × algorithms × hyperparameters as Ray Tune trials, one results table.

Why Tune: the same command runs the trials on this machine's cores (``ray.init()`` starts a local Ray) or on a
Ray cluster when ``RAY_ADDRESS`` is set (``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on
the others; docs/training-at-scale.md). Each trial is one :func:`agents.train.train` run (SB3: ppo, a2c,
ppo_mask) or one :func:`agents.rllib.train_rllib` run (``rllib_ppo``, no env runners of its own), followed by a
deterministic evaluation of its final model on the validation days (:func:`agents.evaluation.score_policy`).

The spec (strict: an unknown key, a wrong type or an empty list is an error naming it)::

    env: hetserve_env/HetServeSmall-v1   # a registered hetserve id
    algorithms: [ppo, a2c]               # ppo | a2c | ppo_mask | rllib_ppo
    seeds: [0, 1]
    timesteps: 20000                     # per trial (SB3: total steps; rllib_ppo: at least this many)
    grid:                                # optional: hyperparameter -> values; every combination is a trial
      gamma: [0.95, 0.99]
    n_envs: 4                            # optional (SB3; default: the YAML entry's)
    eval_episodes: 2                     # optional (default: every validation day)
    cpus_per_trial: 1                    # optional (default 1): Tune runs as many trials at once as fit

Output (``--out``, default ``runs/sweep-<time>/``): ``sweep.yaml`` (the spec as read), ``results.csv`` and
``results.md`` (trial, algorithm, seed, one column per grid key, final validation cost and SLO attainment, wall
seconds, the trial's run directory, status), ``trials/tNNN/`` (each trial's run directory) and ``tune/`` (Tune's
own state). A failed trial is a row with its error, and the command exits with status 1.
"""

from __future__ import annotations

import itertools
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from hetserve_env.registration import ENV_IDS
from hetserve_env.rules import Rule, check_int, check_number
from hetserve_env.safe_yaml import load_yaml

from .rllib_policy import MissingExtra
from .zoo_config import ALGOS

SWEEP_ALGOS = (*ALGOS, "rllib_ppo")
_REQUIRED = ("env", "algorithms", "seeds", "timesteps")
_OPTIONAL = ("grid", "n_envs", "eval_episodes", "cpus_per_trial")
_COUNT = Rule(1, None, integer=True)
_SEED = Rule(0, 2**32 - 1, integer=True)
_CPUS = Rule(0, 1024, lo_open=True)
#: SB3 hyperparameter-entry keys a grid may set besides the algorithm's constructor arguments
_ZOO_GRID_KEYS = ("n_envs", "normalize", "policy_kwargs", "env_wrapper")


class SweepSpecError(ValueError):
    """A sweep spec that cannot be run (names the key, the value and what is allowed)."""


def read_spec(path_or_text: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """The validated spec from a YAML file (``Path`` or path string), YAML text or a mapping."""
    if isinstance(path_or_text, Mapping):
        raw, where = dict(path_or_text), "sweep spec"
    else:
        p = Path(path_or_text)
        is_file = isinstance(path_or_text, Path) or ("\n" not in str(path_or_text) and p.suffix in (".yaml", ".yml"))
        if is_file and not p.is_file():
            raise FileNotFoundError(f"no sweep spec at {p}")
        raw, where = load_yaml(p if is_file else str(path_or_text)), str(p) if is_file else "sweep spec"
    if not isinstance(raw, dict):
        raise SweepSpecError(f"{where}: expected a mapping of {list(_REQUIRED + _OPTIONAL)}, got {type(raw).__name__}")
    unknown = [k for k in raw if k not in _REQUIRED + _OPTIONAL]
    if unknown:
        raise SweepSpecError(f"{where}: unknown key(s) {unknown}; allowed: {list(_REQUIRED + _OPTIONAL)}")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise SweepSpecError(f"{where}: missing key(s) {missing}")
    env = raw["env"]
    if env not in ENV_IDS:
        raise SweepSpecError(f"{where}: env: {env!r} is not a registered hetserve id; allowed: {sorted(ENV_IDS)}")
    algos = _list(where, "algorithms", raw["algorithms"])
    bad = [a for a in algos if a not in SWEEP_ALGOS]
    if bad:
        raise SweepSpecError(f"{where}: algorithms: {bad} not allowed; allowed: {list(SWEEP_ALGOS)}")
    seeds = [check_int(SweepSpecError, f"{where}: seeds[{i}]", s, _SEED)
             for i, s in enumerate(_list(where, "seeds", raw["seeds"]))]
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict):
        raise SweepSpecError(f"{where}: grid: expected a mapping of hyperparameter -> list of values, got {grid!r}")
    grid = {str(k): _list(where, f"grid.{k}", v) for k, v in grid.items()}
    spec = {"env": env, "algorithms": algos, "seeds": seeds, "grid": grid,
            "timesteps": check_int(SweepSpecError, f"{where}: timesteps", raw["timesteps"], _COUNT),
            "n_envs": None, "eval_episodes": None,
            "cpus_per_trial": check_number(SweepSpecError, f"{where}: cpus_per_trial", raw.get("cpus_per_trial", 1),
                                           _CPUS)}
    for key in ("n_envs", "eval_episodes"):
        if raw.get(key) is not None:
            spec[key] = check_int(SweepSpecError, f"{where}: {key}", raw[key], _COUNT)
    _check_grid_keys(where, algos, grid)
    return spec


def _list(where: str, key: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise SweepSpecError(f"{where}: {key}: expected a non-empty list, got {value!r}")
    if len({repr(v) for v in value}) != len(value):
        raise SweepSpecError(f"{where}: {key}: duplicate values in {value!r}")
    return list(value)


def _check_grid_keys(where: str, algos: list[str], grid: Mapping[str, Any]) -> None:
    """Every grid key must mean something to every algorithm of the sweep (before any trial starts)."""
    import inspect

    for algo in algos:
        if algo == "rllib_ppo":
            from .rllib import training_settings

            try:
                training_settings({k: v[0] for k, v in grid.items()})
            except ValueError as exc:
                raise SweepSpecError(f"{where}: grid for rllib_ppo: {exc}") from None
            continue
        from .zoo_config import algo_class

        allowed = set(inspect.signature(algo_class(algo).__init__).parameters) - {"self", "env", "policy"}
        allowed |= set(_ZOO_GRID_KEYS)
        bad = [k for k in grid if k not in allowed]
        if bad:
            raise SweepSpecError(f"{where}: grid: {bad} are not {algo} hyperparameters; allowed: {sorted(allowed)}")


def trials(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trial of the spec, in table order: algorithms × grid combinations × seeds, named t000, t001, …"""
    keys = list(spec["grid"])
    combos = list(itertools.product(*(spec["grid"][k] for k in keys))) if keys else [()]
    out = []
    for algo, combo, seed in itertools.product(spec["algorithms"], combos, spec["seeds"]):
        out.append({"trial": f"t{len(out):03d}", "algorithm": algo, "seed": seed, "params": dict(zip(keys, combo))})
    return out


def run_trial(trial: Mapping[str, Any], spec: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """Train one trial into ``out/trials/<trial>/`` and score its final model on the validation days."""
    from .evaluation import score_policy

    log_dir = Path(out) / "trials" / trial["trial"]
    t0 = time.perf_counter()
    cmd = f"hetserve sweep (trial {trial['trial']})"
    if trial["algorithm"] == "rllib_ppo":
        from .rllib import train_rllib

        rec = train_rllib(spec["env"], timesteps=spec["timesteps"], seed=trial["seed"], num_env_runners=0,
                          training=trial["params"], log_dir=log_dir, eval_episodes=spec["eval_episodes"], command=cmd)
        val, run_dir = rec["final_validation"], rec["log_dir"]
        row = {"final_validation_cost_usd": val["mean_cost_usd"], "final_validation_slo_pct": val["slo_attainment_pct"]}
    else:
        from .policies import policy_env_kwargs
        from .train import train

        rec = train(trial["algorithm"], spec["env"], spec["timesteps"], trial["seed"], hyperparams=trial["params"],
                    n_envs=spec["n_envs"], log_dir=log_dir, eval_freq=10**12, progress_bar=False, tensorboard=False,
                    keep="last", command=cmd)
        run_dir = rec["log_dir"]
        model = str(Path(run_dir) / rec["model"])
        r = score_policy(model, spec["env"], "validation", episodes=spec["eval_episodes"], progress=False,
                         **policy_env_kwargs(model))
        row = {"final_validation_cost_usd": r["mean_cost_usd"], "final_validation_slo_pct": r["slo_attainment_pct"]}
    return {**row, "timesteps": int(rec["timesteps"]), "train_wall_s": rec["train_wall_s"],
            "trial_wall_s": round(time.perf_counter() - t0, 1), "run_dir": str(run_dir)}


def _tune_trainable(config: Mapping[str, Any]) -> None:
    """The Tune function trainable: one trial, one report."""
    from ray import tune

    import hetserve_env  # noqa: F401  (registers the ids in this worker)

    tune.report(run_trial(config["trial"], config["spec"], Path(config["out"])))


def sweep(spec_or_path: Any, out: str | Path | None = None, *, command: str | None = None,
          verbose: int = 0) -> dict[str, Any]:
    """Run every trial of the spec with Ray Tune and write the results table (module docstring). Joins the
    cluster at ``RAY_ADDRESS`` if set, else starts a local Ray on this machine's cores. Returns ``{"table":
    DataFrame, "out": Path, "failed": int, "wall_s": float}``."""
    import pandas as pd

    from hetserve_env.runs import atomic_write_text, resolve_out, run_marker

    from .rllib_policy import require_ray

    spec = read_spec(spec_or_path)
    require_ray()  # before any file is written
    out = resolve_out(out, "sweep")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty; choose another --out or remove it")
    todo = trials(spec)
    t0 = time.perf_counter()
    with run_marker(out, command or " ".join(shlex.quote(a) for a in sys.argv)):
        import yaml

        atomic_write_text(out / "sweep.yaml", yaml.safe_dump(spec, sort_keys=False))
        results = _fit(todo, spec, out, verbose)
        table = _table(todo, spec, results)
        atomic_write_text(out / "results.csv", table.to_csv(index=False))
        atomic_write_text(out / "results.md", _markdown(table, spec, time.perf_counter() - t0))
    failed = int((table["status"] != "ok").sum())
    return {"table": table, "out": out, "failed": failed, "wall_s": round(time.perf_counter() - t0, 1)}


def _fit(todo: list[dict[str, Any]], spec: Mapping[str, Any], out: Path, verbose: int) -> dict[str, Any]:
    """Tune's results by trial name (a metrics dict, or the exception of a failed trial)."""
    from .rllib_policy import require_ray

    require_ray()
    import ray
    from ray import tune

    started = not ray.is_initialized()
    if started:  # RAY_ADDRESS set: that cluster; else a local Ray with every core of this machine
        ray.init(include_dashboard=False, log_to_driver=bool(verbose), configure_logging=False)
    try:
        trainable = tune.with_resources(_tune_trainable, {"cpu": spec["cpus_per_trial"]})
        space = {"trial": tune.grid_search(todo), "spec": spec, "out": str(out.resolve())}
        tuner = tune.Tuner(trainable, param_space=space,
                           run_config=tune.RunConfig(name="tune", storage_path=str((out / "tune").resolve()),
                                                     verbose=min(int(verbose), 1), failure_config=None))
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    found: dict[str, Any] = {}
    for res in grid:
        name = res.config["trial"]["trial"]
        found[name] = res.error if res.error is not None else res.metrics
    return found


def _table(todo: list[dict[str, Any]], spec: Mapping[str, Any], results: Mapping[str, Any]):
    import pandas as pd

    rows = []
    for t in todo:
        r = results.get(t["trial"])
        row = {"trial": t["trial"], "algorithm": t["algorithm"], "seed": t["seed"], **t["params"]}
        keys = ("final_validation_cost_usd", "final_validation_slo_pct", "timesteps", "train_wall_s", "run_dir")
        if isinstance(r, Mapping) and "final_validation_cost_usd" in r:
            row.update({k: r.get(k) for k in keys}, status="ok")
        else:
            msg = "no result reported" if r is None else " ".join(f"{type(r).__name__}: {r}".split())[:300]
            row.update({k: None for k in keys}, status=f"error: {msg}")
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(table, spec: Mapping[str, Any], wall_s: float) -> str:
    cols = list(table.columns)
    lines = [f"# Sweep on {spec['env']}: {len(table)} trial{'s' if len(table) != 1 else ''}, "
             f"{spec['timesteps']:,} steps each, "
             f"wall {wall_s:.0f} s", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        cells = [f"{v:,.2f}" if isinstance(v, float) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ================================================================================================ CLI
def add_arguments(parser: Any) -> None:
    parser.add_argument("spec", help="sweep YAML: env, algorithms, seeds, timesteps, grid, … (docs/training-at-scale.md)")
    parser.add_argument("--out", default=None, help="output folder (default: a fresh runs/sweep-YYYYmmdd-HHMMSS/)")
    parser.add_argument("--verbose", type=int, default=0, help="1: Tune's progress and the workers' output")


def run(args: Any) -> int:
    cmd = " ".join(["hetserve", "sweep", *(shlex.quote(a) for a in sys.argv[2:])])
    res = sweep(Path(args.spec), args.out, command=cmd, verbose=args.verbose)
    print(_markdown(res["table"], read_spec(Path(args.spec)), res["wall_s"]))
    print(f"wrote {res['out']}/ (results.csv, results.md, trials/) in {res['wall_s']:.0f} s")
    if res["failed"]:
        print(f"{res['failed']} of {len(res['table'])} trial(s) failed (status column)", file=sys.stderr)
        return 1
    return 0


#: user errors of this command (one line, exit 2): ray not installed
USER_ERRORS: tuple[type[BaseException], ...] = (MissingExtra,)


__all__ = ["SWEEP_ALGOS", "SweepSpecError", "read_spec", "run_trial", "sweep", "trials"]
