"""Train several algorithms × seeds under one CPU budget each: the learned rows of the benchmark scorecard.

    python scripts/train_seeds.py --algos ppo,ppo_mask,a2c --seeds 0,1,2,3,4 --cpu-minutes 6 --jobs 2 \
        --out agents/models/benchmark --summary results/agents/seeds.md

Each run is one ``hetserve train`` process (the algorithm's RL Zoo entry in ``agents/hyperparams/``, best
validation checkpoint kept) stopped by ``--cpu-minutes`` of CPU (this process and its children, evaluations
included): every seed of every algorithm gets the same CPU, whatever it does per step (DESIGN §10, issue 14). The
YAML's ``n_timesteps`` stays the step limit, so the learning-rate schedule is the entry's own. ``--jobs`` runs that
many at once (one core each: torch uses one thread). Models go to ``OUT/<algo>_s<seed>.zip`` (+ ``.json`` record,
VecNormalize statistics when the entry normalises observations), logs to ``runs/seeds/``. A run that fails is a row
with its error, and the script exits with status 1. Without Ray on hand this is the one-machine path;
``hetserve sweep`` runs the same trials as Ray Tune trials on a cluster (docs/training-at-scale.md).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALGOS = ("ppo", "ppo_mask", "a2c")


def _ints(text: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or any(v < 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected integers >= 0, got {text!r}")
    return vals


def _algos(text: str) -> list[str]:
    vals = [t.strip() for t in text.split(",") if t.strip()]
    bad = [v for v in vals if v not in ALGOS]
    if not vals or bad:
        raise argparse.ArgumentTypeError(f"algorithms must be among {list(ALGOS)}, got {text!r}")
    return vals


def _minutes(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan  # refused below with the option's own message, not argparse's "invalid _minutes value"
    if not 0 < v <= 60:
        raise argparse.ArgumentTypeError(f"--cpu-minutes must be in (0, 60] (the protocol's 1 CPU-hour), got {text!r}")
    return v


def run_one(algo: str, seed: int, args: argparse.Namespace) -> dict:
    """One ``hetserve train`` process; its record, or the error it printed."""
    save = Path(args.out) / f"{algo}_s{seed}.zip"
    log = Path(args.log_dir) / f"{algo}_s{seed}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "hetserve_env.cli", "train", "--algo", algo, "--env", args.env, "--seed", str(seed),
           "--cpu-minutes", str(args.cpu_minutes), "--log-dir", str(args.log_dir), "--save", str(save),
           "--no-progress", "--overwrite", *(["--timesteps", str(args.timesteps)] if args.timesteps else [])]
    t0 = time.perf_counter()
    with log.open("w") as fh:
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    row = {"algo": algo, "seed": seed, "wall_s": round(time.perf_counter() - t0, 1), "model": str(save)}
    if rc != 0:
        return {**row, "error": (log.read_text().strip().splitlines() or [f"exit {rc}"])[-1]}
    rec = json.loads(save.with_suffix(".json").read_text())
    best = rec.get("best_validation") or {}
    return {**row, "timesteps": rec["timesteps"], "train_cpu_s": rec["train_cpu_s"], "stopped_by": rec["stopped_by"],
            "best_validation_usd": best.get("mean_cost_usd"), "best_at": best.get("timesteps")}


def write_summary(rows: list[dict], args: argparse.Namespace, path: Path) -> None:
    """The table of every model in ``--out`` (from its record), so re-training a subset updates only its rows;
    failed runs of this invocation are rows with their error."""
    recs = sorted((json.loads(f.read_text()) for f in Path(args.out).glob("*_s*.json")),
                  key=lambda r: (ALGOS.index(r["algo"]) if r["algo"] in ALGOS else 99, r["seed"]))
    cmd = (f"python scripts/train_seeds.py --algos {','.join(args.algos)} --seeds {','.join(map(str, args.seeds))} "
           f"--env {args.env} --cpu-minutes {args.cpu_minutes:g}"
           + (f" --timesteps {args.timesteps}" if args.timesteps else "") + f" --jobs {args.jobs} --out {args.out}")
    lines = [f"# Learned agents in `{args.out}`", "",
             f"Last written by: `{cmd}`. Each row is one model's record (`<algo>_s<seed>.json`, which also holds its "
             "`hetserve train` command): trained under its CPU budget with the algorithm's entry in "
             "`agents/hyperparams/`, the model kept being the best on the validation days.", "",
             "| algorithm | seed | steps | step limit | CPU budget (min) | CPU used (min) | stopped by | "
             "best validation ($/day) | at step | wall min |", "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in recs:
        best = r.get("best_validation") or {}  # none when no validation ran before the run ended
        cost, at = ((f"{best['mean_cost_usd']:,.2f}", f"{best['timesteps']:,}") if best else ("—", "—"))
        limit = r.get("timesteps_limit") or int(r["hyperparams"]["n_timesteps"])
        lines.append(f"| {r['algo']} | {r['seed']} | {r['timesteps']:,} | {limit:,} | {r.get('cpu_minutes') or '—'} | "
                     f"{r['train_cpu_s'] / 60:.1f} | {r.get('stopped_by', '—')} | {cost} | {at} | "
                     f"{r['train_wall_s'] / 60:.1f} |")
    for r in (r for r in rows if "error" in r):
        lines.append(f"| {r['algo']} | {r['seed']} | failed: {r['error']} | | | | | | | {r['wall_s'] / 60:.1f} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--algos", type=_algos, default=list(ALGOS))
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2, 3, 4])
    p.add_argument("--env", default="hetserve_env/HetServe-v1")
    p.add_argument("--cpu-minutes", type=_minutes, default=6.0)
    p.add_argument("--timesteps", type=int, default=None,
                   help="step limit of every run (default: each algorithm's YAML n_timesteps); set it high enough that "
                        "the CPU budget, not the step limit, ends the runs")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="agents/models/benchmark")
    p.add_argument("--log-dir", default="runs/seeds")
    p.add_argument("--summary", default="results/agents/seeds.md")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.timesteps is not None and args.timesteps < 1:
        p.error(f"--timesteps must be >= 1, got {args.timesteps}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    todo = [(a, s) for s in args.seeds for a in args.algos]  # seed-major: a partial run still covers each algorithm
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda t: run_one(*t, args), todo))
    write_summary(rows, args, Path(args.summary))
    print(Path(args.summary).read_text())
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
