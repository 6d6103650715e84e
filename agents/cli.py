"""``hetserve train | evaluate | compare`` (hooked into :mod:`hetserve_env.cli`)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from hetserve_env.cli import positive_int

from .rllib_policy import MissingExtra

#: user errors of these commands (one line, exit 2): the rllib backend without ray installed
USER_ERRORS: tuple[type[BaseException], ...] = (MissingExtra,)

DEFAULT_ENV = "hetserve_env/HetServe-v1"


def _parse_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _command(name: str) -> str:
    return " ".join(["hetserve", name, *(shlex.quote(a) for a in sys.argv[2:])]) if len(sys.argv) > 1 else f"hetserve {name}"


# ================================================================================================ train
# options that define a run; --resume reads them from the run's run.json instead
_RUN_OPTIONS = ("algo", "env", "timesteps", "seed", "n_envs", "hyperparams", "set", "env_kwargs", "log_dir", "save",
                "eval_freq", "checkpoint_freq", "keep", "vec_env", "overwrite", "cpu_minutes")


def add_arguments_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algo", default="ppo", choices=["ppo", "a2c", "ppo_mask"],
                        help="PPO, A2C or MaskablePPO (sb3-contrib)")
    parser.add_argument("--env", default=DEFAULT_ENV, help=f"registered env id (default {DEFAULT_ENV})")
    parser.add_argument("--timesteps", type=positive_int, default=None,
                        help="training steps, >= 1 (default: the YAML's n_timesteps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu-minutes", type=float, default=None,
                        help="stop after this much CPU time in training (evaluations included), whichever of it and "
                             "--timesteps comes first: the benchmark's equal budget per seed (default: no budget)")
    parser.add_argument("--n-envs", type=positive_int, default=None, help="parallel envs (default: the YAML's n_envs)")
    parser.add_argument("--hyperparams", default=None, help="RL Zoo YAML (default agents/hyperparams/<algo>.yml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a hyperparameter (YAML value), e.g. --set gamma=0.99; repeatable")
    parser.add_argument("--env-kwargs", action="append", default=[], metavar="KEY=VALUE",
                        help="env constructor argument, e.g. --env-kwargs noise=0.1; repeatable")
    parser.add_argument("--log-dir", default="runs", help="logs: progress.csv, TensorBoard, checkpoints, evaluations")
    parser.add_argument("--save", default=None, help="model path (.zip; default <log-dir>/<run>/model.zip)")
    parser.add_argument("--eval-freq", type=positive_int, default=None, help="steps between validation evaluations")
    parser.add_argument("--checkpoint-freq", type=positive_int, default=None, help="steps between checkpoints")
    parser.add_argument("--keep", default="best", choices=["best", "last"],
                        help="save the best-on-validation model (default) or the last one")
    parser.add_argument("--vec-env", default="native", choices=["native", "dummy", "subproc"],
                        help="training envs: native vector env (one compiled call, default), DummyVecEnv or SubprocVecEnv")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier run in the same run directory (default: refuse)")
    parser.add_argument("--backend", default="sb3", choices=["sb3", "rllib"],
                        help="sb3 (default) or rllib: PPO on RLlib's new API stack (needs the rllib extra; "
                             "docs/training-at-scale.md)")
    parser.add_argument("--num-env-runners", type=int, default=2,
                        help="rllib: env-runner processes sampling in parallel (0: sample in this process; default 2)")
    parser.add_argument("--iterations", type=positive_int, default=None,
                        help="rllib: training iterations (default 10; or --timesteps)")
    parser.add_argument("--resume", default=None, metavar="RUN_DIR",
                        help="continue an interrupted run from its last checkpoint with its saved settings "
                             "(only --threads, --no-progress and --verbose may be given with it)")


def _kv(items: list[str], flag: str = "--env-kwargs") -> dict[str, Any]:
    out = {}
    for it in items:
        if "=" not in it:
            raise ValueError(f"{flag}: expected KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        if not k.strip():
            raise ValueError(f"{flag}: empty key in {it!r}")
        out[k.strip()] = _parse_value(v)
    return out


def run_train(args: argparse.Namespace) -> int:
    from .train import resume, train

    if args.backend == "rllib":
        if args.cpu_minutes is not None:
            raise ValueError(f"--cpu-minutes {args.cpu_minutes:g}: a CPU budget is an option of the SB3 backend; "
                             "--backend rllib stops at --iterations or --timesteps")
        from .rllib import run_train_cli

        return run_train_cli(args, _train_defaults(), _kv(args.set, "--set"), _kv(args.env_kwargs),
                             _command("train"))
    if args.iterations is not None or args.num_env_runners != 2:
        raise ValueError("--iterations and --num-env-runners are options of --backend rllib")
    if args.resume is not None:
        defaults = _train_defaults()
        given = [f"--{k.replace('_', '-')}" for k in _RUN_OPTIONS if getattr(args, k) != defaults[k]]
        if given:
            raise ValueError(f"--resume continues {args.resume} with the settings saved in its run.json; "
                             f"do not combine it with {', '.join(given)}")
        rec = resume(args.resume, threads=args.threads, progress_bar=not args.no_progress, verbose=args.verbose,
                     command=_command("train"))
    else:
        rec = train(args.algo, args.env, args.timesteps, args.seed, hyperparams=_kv(args.set, "--set"),
                    hyperparams_file=args.hyperparams, n_envs=args.n_envs, log_dir=args.log_dir,
                    eval_freq=args.eval_freq, save_path=args.save, checkpoint_freq=args.checkpoint_freq,
                    vec_env=args.vec_env, threads=args.threads, progress_bar=not args.no_progress, keep=args.keep,
                    env_kwargs=_kv(args.env_kwargs), verbose=args.verbose, command=_command("train"),
                    overwrite=args.overwrite, cpu_minutes=args.cpu_minutes)
    if args.resume is not None:
        from .runs import read_spec, saved_model_path

        save = saved_model_path(read_spec(args.resume), Path(args.resume))
    else:
        save = Path(rec["log_dir"]) / rec["model"] if args.save is None else Path(args.save).with_suffix(".zip")
    if rec.get("resumed_from"):
        print(f"resumed from {rec['resumed_from']['checkpoint']} ({rec['resumed_from']['timesteps']:,} steps)")
    print(f"trained {rec['algo']} on {rec['env_id']} for {rec['timesteps']:,} steps (seed {rec['seed']}) in "
          f"{rec['train_wall_s'] / 60:.1f} min wall, {rec['train_cpu_s'] / 60:.1f} min CPU"
          + (f" (stopped by the {rec['cpu_minutes']:g} min CPU budget)" if rec.get("stopped_by") == "cpu budget" else "")
          + (" (this resumed part)" if rec.get("resumed_from") else ""))
    for key in ("best_validation", "final_validation"):
        v = rec.get(key)
        if v:
            print(f"  {key.replace('_', ' ')}: ${v['mean_cost_usd']:,.2f} per episode at {v['timesteps']:,} steps")
    print(f"saved {save} ({rec['kept']} model) and {save.with_suffix('.json').name}; logs in {rec['log_dir']}")
    return 0


def _train_defaults() -> dict[str, Any]:
    """The defaults of the train options (to tell which ones a --resume command line also gave)."""
    parser = argparse.ArgumentParser()
    add_arguments_train(parser)
    return vars(parser.parse_args([]))


# ================================================================================================ evaluate
def add_arguments_evaluate(parser: argparse.ArgumentParser) -> None:
    import baselines.forecast_planner  # noqa: F401  (registers the forecast planners)
    from baselines.policies import policy_names  # the policy table (solvers x estimates, random, registered)

    parser.add_argument("policy", help=" | ".join(policy_names()) + " | path to a saved model (.zip) | module:attr "
                                       "(your own policy class or factory, called with the env; the current "
                                       "directory is searched first)")
    parser.add_argument("--env", default=None, help=f"env id (default: the model's, else {DEFAULT_ENV})")
    parser.add_argument("--scenario", default=None, help="scenario name or YAML path for the env (default: the env id's)")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--episodes", type=int, default=None, help="days to evaluate (default: every day of the split)")
    parser.add_argument("--milp-time-limit", type=float, default=10.0, help="MILP seconds per window (default 10)")
    parser.add_argument("--headroom", type=float, default=0.1, help="for the -headroom policies (default 0.1)")
    parser.add_argument("--router", default=None, choices=["greedy", "lp"], help="env router (default: the env's)")
    parser.add_argument("--env-kwargs", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--csv", default=None, help="write the per-episode rows to this CSV")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random policy")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")


def run_evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from .compare import format_table
    from .evaluation import run_policy, one_line, policy_notes, progress_bar, split_days, summarize, warm_up
    from .policies import load_policy, make_env, policy_env_kwargs, read_record

    env_id = args.env
    if env_id is None:
        env_id = read_record(args.policy).get("env_id") if args.policy.endswith(".zip") else None
        env_id = env_id or DEFAULT_ENV
    kwargs = {**policy_env_kwargs(args.policy), **_kv(args.env_kwargs)}
    if args.router:
        kwargs["router"] = args.router
    if args.scenario:
        kwargs["scenario"] = args.scenario
    env = make_env(env_id, args.split, **kwargs)
    policy = load_policy(args.policy, env, milp_time_limit=args.milp_time_limit, headroom=args.headroom, seed=args.seed)
    days = split_days(env, args.episodes)
    name = getattr(policy, "name", None) or args.policy
    print(f"hetserve evaluate: {name} on {env_id}{' scenario ' + args.scenario if args.scenario else ''} "
          f"({args.split} days {days})")
    warm_up(env)
    t0 = time.perf_counter()
    bar = progress_bar(len(days) * env.unwrapped.episode_length, name, False if args.no_progress else None)
    try:
        eps = run_policy(policy, env, days, bar=bar)
    finally:
        bar.close()
    row = summarize(eps, name, policy_notes(policy))
    print(format_table(pd.DataFrame([row])))
    print(one_line(row, time.perf_counter() - t0) + f"; mean reward {row['mean_reward']:.4f} per episode "
          f"(reward = -$ / {env.unwrapped.reward_scale:g})")
    if row["notes"]:
        print(f"notes: {row['notes']}")
    if args.csv:
        pd.DataFrame([e.row() for e in eps]).to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


# ================================================================================================ compare
def add_arguments_compare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="default",
                        help="built-in scenario (default, small, paper) or a scenario YAML path (default: default)")
    parser.add_argument("--episodes", type=int, default=None, help="days of the split (default: all)")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--out", default=None,
                        help="output folder, relative to the current directory (default: a fresh "
                             "runs/compare-YYYYmmdd-HHMMSS/; the committed results: --out results/compare)")
    parser.add_argument("--milp-time-limit", type=float, default=10.0,
                        help="MILP (HiGHS) seconds per window (default 10; the incumbent is used at the limit)")
    parser.add_argument("--model", default=None, help="saved model to compare (default: the shipped agent)")
    from baselines.policies import policy_names

    from .compare import COMPARE_HEADROOMS, DEFAULT_POLICIES
    from .policies import SCENARIO_ENVS

    parser.add_argument("--policies", default=None,
                        help=f"comma-separated list (default {','.join(DEFAULT_POLICIES)}); any of "
                             f"{', '.join(policy_names())}")
    parser.add_argument("--policy", action="append", default=[], metavar="MODULE:ATTR",
                        help="add your own policy (class or factory called with the env); repeatable")
    chosen = ", ".join(f"{env_id.split('/')[-1]} {h:g} ({where})" for env_id, (h, where) in COMPARE_HEADROOMS.items())
    parser.add_argument("--headroom", type=float, default=None,
                        help=f"for the -headroom policies (default: GH's best on the validation days of the env id: "
                             f"{chosen})")
    parser.add_argument("--perf-model", default="v1", choices=sorted(SCENARIO_ENVS),
                        help="performance model: the scenario runs under that version's env ids (default v1; v2: "
                             "hetserve_env/HetServe-v2 etc., docs/model.md \"Model v2\")")
    parser.add_argument("--router", default=None, choices=["greedy", "lp"], help="env router (default: the env's greedy)")
    parser.add_argument("--trace-day", type=int, default=None, help="day of the per-step traces in the plot")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")


def run_compare(args: argparse.Namespace) -> int:
    from hetserve_env.runs import resolve_out

    from .compare import DEFAULT_POLICIES, compare, format_table, headroom_gaps

    policies = tuple(p.strip() for p in args.policies.split(",")) if args.policies else DEFAULT_POLICIES
    policies = (*policies, *args.policy)
    out = resolve_out(args.out, "compare")
    res = compare(args.scenario, args.episodes, args.split, out=out, milp_time_limit=args.milp_time_limit,
                  model=args.model, policies=policies, router=args.router, headroom=args.headroom,
                  trace_day=args.trace_day, progress=False if args.no_progress else None, command=_command("compare"),
                  perf_model=args.perf_model)
    print()
    print(format_table(res["table"]))
    gap = res.get("gap")
    if gap:
        print(f"\n{gap['agent']} vs reactive {gap['reference']}: cost {gap['cost_gap_pct']:+.1f} % "
              f"(${gap['agent_cost_usd']:,.2f} vs ${gap['reference_cost_usd']:,.2f}), SLO attainment "
              f"{gap['agent_slo_pct']:.2f} % vs {gap['reference_slo_pct']:.2f} %")
        for g in headroom_gaps(res["table"], gap["agent"]):
            print(f"{g['agent']} vs {g['reference']}: cost {g['cost_gap_pct']:+.1f} %, SLO attainment "
                  f"{g['agent_slo_pct']:.2f} % vs {g['reference_slo_pct']:.2f} %")
    for _, r in res["table"].iterrows():
        if r["notes"]:
            print(f"  {r['policy']}: {r['notes']}")
    print(f"\nwrote {out}/ ({', '.join(Path(f).name for f in res['files'].values())}) in {res['wall_s'] / 60:.1f} min")
    return 0
