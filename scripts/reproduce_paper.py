#!/usr/bin/env python
"""Reproduce the experiments of arXiv 2604.07472 with hetserve: tables (Markdown + CSV) and figures (PNG).

    python scripts/reproduce_paper.py [--quick] [--out results/paper] [--only scaling,stress,...]
        [--scaling-csv results/bench_solvers_v2.csv | --sizes 2,5,10,15,20 --seeds 3 --time-limit 600 --solvers highs,cbc]
        [--milp-time-limit 120] [--sigmas 0.01,0.02,0.03,0.04,0.05] [--days 12,13] [--max-windows N]
        [--rolling-cold-starts on|off|both] [--rolling-headroom] [--rolling-demand-scale K] [--rolling-max-replicas N]

The committed results (docs/reproduction.md) were made with

    python scripts/reproduce_paper.py --scaling-csv results/bench_solvers_v2.csv --rolling-cold-starts both --out results/paper
    python scripts/reproduce_paper.py --only rolling --rolling-demand-scale 10 --rolling-max-replicas 16 --days 12
        --sigmas 0.05 --rolling-headroom --rolling-cold-starts both --out results/paper/rolling-x10    (one command)

Experiments (each writes ``<out>/<name>.csv`` with one row per run, ``<out>/<name>.md`` with the summary
table(s), and a figure ``<out>/<name>.png``):

1. ``scaling``: GH, AGH, AGH (paper) (= ``lp_start=False``) and the MILP on ``generate(n, n, n, seed)`` over the
   size grid (the functions of ``scripts/bench_solvers.py``; MILP warm-started from AGH unless
   ``--no-warm-start``), or with ``--scaling-csv`` the MILP rows of that script's CSV and GH/AGH re-run on the
   same instances: runtime, cost, the heuristics' gaps and the MILP/AGH speedup per size.
2. ``stress``: plans made at nominal parameters (GH, AGH, MILP; the ``paper`` scenario's static problem and
   generated instances) evaluated with latency and error inflated 1.2x and 1.5x, routing as planned and
   re-routed by the LP router: realised $/h and SLO misses.
3. ``ablation``: GH and AGH without M1, M2 or M3: feasibility and cost vs. the full heuristic.
4. ``rolling``: ``hetserve_env/HetServePaper-v1`` (5-minute windows) on the test days under demand noise σ:
   AGH re-planning every window vs. one static AGH / MILP plan for the day's peak.
5. ``sensitivity``: the paper scenario's static problem re-planned against budget, delay SLO and error SLO.

``<out>/summary.md`` puts each measured figure beside the paper's reported one; ``<out>/README.md`` holds the
command, the settings, the run time and every table. ``--quick`` (the CI smoke run, ~30 s) uses tiny settings.
Output goes to a fresh ``runs/paper-YYYYmmdd-HHMMSS/`` (``runs/paper-quick-…``) unless ``--out`` names a folder
(relative to the current directory; ``--out results/paper`` rewrites the committed results); files are written
atomically and the folder keeps an ``INCOMPLETE`` marker until the run has finished.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_solvers  # noqa: E402  (the scaling benchmark's functions are reused, not copied)
from paper_plots import SCALING_METHODS, plot_rolling, plot_scaling, plot_sensitivity, plot_stress  # noqa: E402
from paper_summary import summary_table  # noqa: E402

from baselines import experiments as ex  # noqa: E402
from hetserve_env.runs import atomic_write, atomic_write_text, resolve_out, run_marker  # noqa: E402
from baselines.experiments import Table, fmt  # noqa: E402

EXPERIMENTS = ("scaling", "stress", "ablation", "rolling", "sensitivity")



# ------------------------------------------------------------------------------------------- settings
def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Every experiment's parameters, from the command line (``--quick`` picks tiny defaults)."""
    q = args.quick
    sizes = [int(v) for v in (args.sizes or ("2,3" if q else "2,5,10,15,20")).split(",") if v]
    return {
        "sizes": sizes,
        "seeds": args.seeds if args.seeds is not None else (1 if q else 3),
        "time_limit": args.time_limit if args.time_limit is not None else (5.0 if q else 600.0),
        "solvers": [s for s in (args.solvers or ("highs" if q else "highs,cbc")).split(",") if s],
        "warm_start": not args.no_warm_start,
        "milp": {"solver": "highs", "threads": 1,
                 "time_limit": args.milp_time_limit if args.milp_time_limit is not None else (5.0 if q else 120.0)},
        "stress_instances": [(3, 0)] if q else [(n, s) for n in (6, 8, 10) for s in (0, 1)],
        "stress_factors": [1.0, 1.2, 1.5],
        "robust": [1.2],
        "ablation_instances": [(2, 2), (2, 49)] if q else [(n, s) for n in (2, 3, 4, 6, 8) for s in range(8)],
        "sigmas": [float(v) for v in (args.sigmas or ("0.05" if q else "0.01,0.02,0.03,0.04,0.05")).split(",") if v],
        "days": [int(v) for v in args.days.split(",")] if args.days else ([12] if q else None),  # None: all test days
        "max_windows": args.max_windows if args.max_windows is not None else (4 if q else None),
        "budget_scales": [0.7, 1.0] if q else [0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 2.0],
        "delay_scales": [0.5, 1.0] if q else [0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
        "error_scales": [0.9, 1.0] if q else [0.8, 0.9, 1.0, 1.1, 1.25, 1.5],
    }


# ------------------------------------------------------------------------------------------------ I/O
def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """One row per dict, atomically (temporary file, then rename)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            for r in rows:
                w.writerow({k: _csv_cell(r.get(k, "")) for k in cols})

    atomic_write(path, write)


def _csv_cell(v: Any) -> Any:
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.12g}"
    if isinstance(v, (np.floating, np.integer)):
        return _csv_cell(v.item())
    return v


def write_tables(out: Path, name: str, tables: Sequence[tuple[str, Table]], note: str = "") -> str:
    """``<name>.md`` with each (title, table); ``<name>_summary.csv`` with the first table."""
    parts = []
    for title, t in tables:
        parts.append(f"### {title}\n\n{t.markdown()}")
    md = "\n".join(parts) + (f"\n{note}\n" if note else "")
    atomic_write_text(out / f"{name}.md", md)
    write_csv(out / f"{name}_summary.csv", tables[0][1].records())
    return md


# -------------------------------------------------------------------------------------------- scaling
def heuristic_rows(size: int, seed: int, methods: Sequence[str], progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """GH / AGH / AGH (paper) on ``generate(size, size, size, seed)`` with today's code (method keys of ``ex.method_keys()``)."""
    from baselines.instances import generate

    p = generate(size, size, size, seed=seed)
    rows = []
    for m in methods:
        sol = ex.plan(p, m)
        rows.append(bench_solvers.result_row(size, seed, p, m, sol,
                                             sol.stats.get("best_start", "") if m.startswith("agh") else ""))
        progress(f"  n={size} seed={seed} {m:<10} {sol.status:<10} obj={sol.objective:10.4f} t={sol.runtime_s:8.3f}s")
    return rows


def run_scaling(cfg: dict[str, Any], out: Path, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """``bench_solvers.run_one`` over the grid (GH, AGH, MILP warm-started from AGH) plus AGH (paper)."""
    rows: list[dict[str, Any]] = []
    tmp = out / ".scaling.csv.part"  # streamed as the grid runs; renamed to scaling.csv when complete
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=bench_solvers.FIELDS)
        writer.writeheader()
        for size in cfg["sizes"]:
            for seed in range(cfg["seeds"]):
                rows += bench_solvers.run_one(size, seed, cfg["solvers"], cfg["time_limit"], cfg["warm_start"], writer, fh)
                extra = heuristic_rows(size, seed, ["agh-paper"], progress)
                for r in extra:
                    writer.writerow(r)
                rows += extra
    os.replace(tmp, out / "scaling.csv")
    progress(f"  scaling: {len(rows)} runs")
    return rows


def load_scaling_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``scripts/bench_solvers.py`` CSV, with numbers parsed."""
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            for k in ("size", "seed", "n_types", "n_templates", "replicas"):
                r[k] = int(r[k])
            for k in ("objective", "runtime_s", "best_bound", "gap", "rental"):
                r[k] = float(r[k]) if r[k] not in ("", None) else float("nan")
            rows.append(r)
    if not rows:
        raise ValueError(f"{path}: no rows")
    missing = {"gh", "agh"} - {r["method"] for r in rows}
    if missing or not any(r["method"].startswith("milp-") for r in rows):
        raise ValueError(f"{path}: needs gh, agh and milp-* rows (missing {sorted(missing) or 'milp-*'})")
    return rows


def refresh_heuristics(rows: Sequence[dict[str, Any]], progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """Keep an ingested CSV's MILP rows (optima, bounds, runtimes) and re-run GH, AGH and AGH (paper) with
    today's code on the same instances (``generate`` is deterministic; a changed instance is detected by its
    template count and raises)."""
    out = [r for r in rows if r["method"].startswith("milp-")]
    for size, seed in dict.fromkeys((int(r["size"]), int(r["seed"])) for r in rows):
        fresh = heuristic_rows(size, seed, ["gh", "agh", "agh-paper"], progress)
        d_csv = {int(r["n_templates"]) for r in rows if int(r["size"]) == size and int(r["seed"]) == seed}
        if d_csv != {fresh[0]["n_templates"]}:
            raise ValueError(f"generate({size},{size},{size},seed={seed}) has {fresh[0]['n_templates']} templates, "
                             f"the CSV {sorted(d_csv)}: not the same instance; re-run the grid instead")
        out += fresh
    return out




def scaling_summary(rows: Sequence[dict[str, Any]]) -> Table:
    """Per size: mean runtimes and $/h of GH, AGH, AGH (paper) and the MILP (fastest and slowest solver per
    instance), gaps to the best MILP objective, the speedup of AGH over the MILP and the MILP status counts."""
    t = Table(["size", "D (mean)"] + [f"{lab} s" for _, lab in SCALING_METHODS] + ["MILP s (fastest)", "MILP s (slowest)"]
              + [f"{lab} $/h" for _, lab in SCALING_METHODS] + ["MILP $/h"]
              + [f"{lab} gap" for _, lab in SCALING_METHODS] + ["AGH gap max", "AGH (paper) gap max"]
              + ["speedup (fastest MILP/AGH)", "speedup (slowest MILP/AGH)", "speedup (fastest MILP/AGH (paper))",
                 "MILP status"])
    by: dict[int, dict[int, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        by[int(r["size"])][int(r["seed"])][r["method"]] = r
    for size in sorted(by):
        acc: dict[str, list[float]] = defaultdict(list)
        status: dict[str, int] = defaultdict(int)
        for runs in by[size].values():
            milps = [v for k, v in runs.items() if k.startswith("milp-")]
            if not milps or any(m not in runs for m, _ in SCALING_METHODS):
                continue
            t_m = [float(m["runtime_s"]) for m in milps]
            objs = [float(m["objective"]) for m in milps if math.isfinite(float(m["objective"]))]
            best = min(objs) if objs else float("nan")
            acc["D"].append(float(milps[0]["n_templates"]))
            acc["milp_fast"].append(min(t_m))
            acc["milp_slow"].append(max(t_m))
            acc["milp_obj"].append(best)
            for m, _ in SCALING_METHODS:
                acc[f"{m}_s"].append(float(runs[m]["runtime_s"]))
                acc[f"{m}_obj"].append(float(runs[m]["objective"]))
                acc[f"{m}_gap"].append(float(runs[m]["objective"]) / best - 1)
            acc["sp_fast"].append(min(t_m) / float(runs["agh"]["runtime_s"]))
            acc["sp_slow"].append(max(t_m) / float(runs["agh"]["runtime_s"]))
            acc["sp_fast_paper"].append(min(t_m) / float(runs["agh-paper"]["runtime_s"]))
            for m in milps:
                status[m["status"]] += 1
        if not acc:
            continue
        mean = {k: ex.mean_finite(v) for k, v in acc.items()}
        gmax = lambda k: max((g for g in acc[k] if math.isfinite(g)), default=float("nan"))  # noqa: E731
        t.rows.append([f"({size},{size},{size})", fmt(mean["D"], ".0f")]
                      + [fmt(mean[f"{m}_s"], ".4f" if m == "gh" else ".3f") for m, _ in SCALING_METHODS]
                      + [fmt(mean["milp_fast"], ".2f"), fmt(mean["milp_slow"], ".2f")]
                      + [fmt(mean[f"{m}_obj"], ".3f") for m, _ in SCALING_METHODS] + [fmt(mean["milp_obj"], ".3f")]
                      + [fmt(100 * mean[f"{m}_gap"], ".2f", "%") for m, _ in SCALING_METHODS]
                      + [fmt(100 * gmax("agh_gap"), ".2f", "%"), fmt(100 * gmax("agh-paper_gap"), ".2f", "%")]
                      + [fmt(mean["sp_fast"], ".3g", "x"), fmt(mean["sp_slow"], ".3g", "x"), fmt(mean["sp_fast_paper"], ".3g", "x"),
                         ", ".join(f"{k} {v}" for k, v in sorted(status.items()))])
    return t




# ----------------------------------------------------------------------------------------- experiments
# One function per experiment: run it, write ``<name>.csv``, ``<name>.md``/``<name>_summary.csv`` and the figure,
# and return what ``summary_table`` reads (``rows``, ``table``, ...). ``main`` times each and keeps the results.
def _paper_problem() -> Any:
    import hetserve_env

    return hetserve_env.load_scenario("paper").problem()


def _generated(instances: Sequence[tuple[int, int]]) -> list[tuple[str, Any]]:
    from baselines.instances import generate

    return [(f"gen{n}x{n}x{n}s{s}", generate(n, n, n, seed=s)) for n, s in instances]


def exp_scaling(args: argparse.Namespace, cfg: dict[str, Any], out: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    if args.scaling_csv:
        rows = refresh_heuristics(load_scaling_csv(Path(args.scaling_csv)), progress)
        write_csv(out / "scaling.csv", rows)
        note = (f"MILP rows ingested from `{args.scaling_csv}` (produced by `scripts/bench_solvers.py`; "
                f"see `{Path(args.scaling_csv).with_suffix('.md').as_posix()}` for its command and MILP time limit; warm-started from "
                f"that run's AGH), not re-run here; GH, AGH and AGH (paper) re-run now on the same "
                f"instances.")
    else:
        rows = run_scaling(cfg, out, progress)
        note = (f"Run here: sizes {cfg['sizes']}, {cfg['seeds']} seed(s), MILP solvers "
                f"{cfg['solvers']}, time limit {cfg['time_limit']:g} s, 1 thread, "
                f"{'warm-started from AGH (MILP runtime excludes AGH)' if cfg['warm_start'] else 'cold'}.")
    table = scaling_summary(rows)
    write_tables(out, "scaling", [("Scaling: GH, AGH and the MILP on generate(n, n, n, seed)", table)],
                 note + " Means over seeds; gaps relative to the best MILP objective; speedup = MILP "
                 "runtime / AGH runtime per instance, averaged.")
    atomic_write(out / "scaling.png", lambda p: plot_scaling(rows, p))
    return {"rows": rows, "table": table}


def exp_stress(args: argparse.Namespace, cfg: dict[str, Any], out: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    insts = [("paper", _paper_problem())] + _generated(cfg["stress_instances"])
    rows = ex.stress_test(insts, factors=cfg["stress_factors"], milp_options=cfg["milp"], robust=cfg["robust"],
                          progress=progress)
    write_csv(out / "stress.csv", rows)
    t1 = ex.stress_summary(rows, cfg["stress_factors"])
    t2 = ex.stress_by_mode(rows, max(cfg["stress_factors"]))
    write_tables(out, "stress", [("Stress: plans at nominal parameters, latency and error inflated together", t1),
                                 (f"Stress at {max(cfg['stress_factors']):g}x by what is inflated (mean over all instances)", t2)],
                 "Realised $/h and SLO shares from `evaluate(inflated problem, plan, latency=\"load\")`; "
                 "`planned` keeps the plan's routing, `rerouted` re-routes the same fleet with the LP router.")
    atomic_write(out / "stress.png", lambda p: plot_stress(rows, cfg["stress_factors"], p))
    return {"rows": rows, "table": t1, "factors": cfg["stress_factors"]}


def exp_ablation(args: argparse.Namespace, cfg: dict[str, Any], out: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    insts = [("paper", _paper_problem())] + _generated(cfg["ablation_instances"])
    rows = ex.ablation(insts, progress=progress)
    write_csv(out / "ablation.csv", rows)
    table = ex.ablation_summary(rows)
    write_tables(out, "ablation", [("Ablation: GH and AGH with one mechanism off", table)],
                 f"Instances: the paper scenario's static problem and generate(n, n, n, seed) for (n, seed) in "
                 f"{cfg['ablation_instances']}. Cost vs full over instances where both are feasible.")
    return {"rows": rows, "table": table}


def exp_rolling(args: argparse.Namespace, cfg: dict[str, Any], out: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    k = args.rolling_demand_scale
    rows = ex.rolling_study(cfg["sigmas"], cfg["days"], max_windows=cfg["max_windows"], milp_options=cfg["milp"],
                            demand_scale=k, cold_starts={"on": (True,), "off": (False,), "both": (True, False)}[
                                args.rolling_cold_starts],
                            estimates=("reactive", "headroom") if args.rolling_headroom else ("reactive",),
                            max_replicas=args.rolling_max_replicas, progress=progress)
    write_csv(out / "rolling.csv", rows)
    table = ex.rolling_summary(rows)
    days = sorted({r["day"] for r in rows})
    write_tables(out, "rolling", [("Rolling re-optimisation every 5 min vs. a static plan for the day", table)],
                 f"`hetserve_env/HetServePaper-v1`{f' with every arrival rate x{k:g}' if k != 1 else ''}"
                 f"{f', up to {args.rolling_max_replicas} replicas per template' if args.rolling_max_replicas else ''}, test day(s) {days}, "
                 f"{'first ' + str(cfg['max_windows']) + ' windows' if cfg['max_windows'] else 'whole day (288 windows)'}, "
                 "LP router, noise seed = day (same draws for every policy and σ). Costs in $ summed over the days "
                 "(rental + cold starts + storage + penalties); SLO attainment = demand-weighted share served within "
                 "the delay SLO.")
    atomic_write(out / "rolling.png", lambda p: plot_rolling(rows, p))
    return {"rows": rows, "table": table}


def exp_sensitivity(args: argparse.Namespace, cfg: dict[str, Any], out: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    import hetserve_env

    rows = ex.sensitivity(hetserve_env.load_scenario("paper"), methods=("gh", "agh-paper", "agh", "milp"), budget_scales=cfg["budget_scales"],
                          delay_scales=cfg["delay_scales"], error_scales=cfg["error_scales"],
                          milp_options=cfg["milp"], progress=progress)
    write_csv(out / "sensitivity.csv", rows)
    table = ex.sensitivity_summary(rows)
    write_tables(out, "sensitivity", [("Sensitivity of the paper scenario's static plan", table)],
                 "Budget scales are relative to the nominal optimal rental; the last budget row is the scenario's "
                 "own $100/h. Delay/error SLO scales multiply every type's SLO (scenario re-compiled).")
    atomic_write(out / "sensitivity.png", lambda p: plot_sensitivity(rows, p))
    return {"rows": rows, "table": table}


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "scaling": exp_scaling, "stress": exp_stress, "ablation": exp_ablation, "rolling": exp_rolling,
    "sensitivity": exp_sensitivity}


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny settings for a CI smoke run (~30 s)")
    ap.add_argument("--out", default=None,
                    help="output folder, relative to the current directory (default: a fresh runs/paper-YYYYmmdd-HHMMSS/, "
                         "runs/paper-quick-… with --quick; the committed results: --out results/paper)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    ap.add_argument("--only", default=",".join(EXPERIMENTS), help=f"comma-separated subset of {','.join(EXPERIMENTS)}")
    ap.add_argument("--scaling-csv", default=None, help="ingest a scripts/bench_solvers.py CSV instead of running the grid")
    ap.add_argument("--sizes", default=None, help="scaling grid sizes n (instances n x n x n), default 2,5,10,15,20")
    ap.add_argument("--seeds", type=int, default=None, help="scaling seeds per size (default 3)")
    ap.add_argument("--time-limit", type=float, default=None, help="scaling MILP time limit in s (default 600, the paper's)")
    ap.add_argument("--solvers", default=None, help="scaling MILP solvers (default highs,cbc)")
    ap.add_argument("--no-warm-start", action="store_true", help="scaling: cold MILP (no AGH warm start)")
    ap.add_argument("--milp-time-limit", type=float, default=None, help="MILP limit in the other experiments (default 120 s)")
    ap.add_argument("--sigmas", default=None, help="rolling: noise σ values (default 0.01,...,0.05)")
    ap.add_argument("--days", default=None, help="rolling: test days (default: every day of the test split)")
    ap.add_argument("--max-windows", type=int, default=None, help="rolling: stop each episode after N windows")
    ap.add_argument("--rolling-demand-scale", type=float, default=1.0,
                    help="rolling: every type's arrival rate x this factor (default 1: the paper scenario as is)")
    ap.add_argument("--rolling-max-replicas", type=int, default=None,
                    help="rolling: the env's replicas per template (default: the scenario's; a scaled demand may need more)")
    ap.add_argument("--rolling-headroom", action="store_true",
                    help="rolling: also AGH re-planning for the last window's demand + 10%% headroom")
    ap.add_argument("--rolling-cold-starts", choices=("on", "off", "both"), default="on",
                    help="rolling: with the scenario's cold starts (on, default), without (off: the paper's "
                         "assumption), or both (plans shared, so 'both' costs little more than one)")
    args = ap.parse_args(argv)
    only = [e.strip() for e in args.only.split(",") if e.strip()]
    unknown = sorted(set(only) - set(EXPERIMENTS))
    if unknown:
        ap.error(f"--only: unknown experiment(s) {unknown}; choose from {list(EXPERIMENTS)}")
    out = resolve_out(args.out, "paper-quick" if args.quick else "paper")
    cfg = settings(args)
    command = "python scripts/reproduce_paper.py " + " ".join(argv if argv is not None else sys.argv[1:])
    with run_marker(out, command):
        results, timings, total = run_experiments(args, cfg, out, only, progress=None if args.no_progress else True)
        summary = write_summary(args, out, results, timings, total, command)
    print(summary.markdown())
    print(f"total {total:.0f} s; wrote {out}")
    return 0


def run_experiments(args: argparse.Namespace, cfg: dict[str, Any], out: Path, only: Sequence[str],
                    progress: bool | None = True) -> tuple[dict[str, Any], dict[str, float], float]:
    """Each experiment in the fixed order (whatever the order of ``--only``), under a progress bar (on a
    terminal) whose ETA comes from the experiments finished so far; each line an experiment prints stays."""
    from tqdm.auto import tqdm

    names = [n for n in EXPERIMENTS if n in only]
    bar = tqdm(total=len(names), desc="paper", unit="experiment", disable=None if progress else True, leave=False)

    def log(msg: str) -> None:
        (tqdm.write if not bar.disable else print)(msg)
        bar.set_postfix_str(msg.strip()[:60])

    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    t_all = time.time()
    try:
        for name in names:
            t0 = time.time()
            log(f"[{name}]")
            results[name] = RUNNERS[name](args, cfg, out, log)
            timings[name] = time.time() - t0
            bar.update()
    finally:
        bar.close()
    return results, timings, time.time() - t_all


def write_summary(args: argparse.Namespace, out: Path, results: dict[str, Any], timings: dict[str, float],
                  total: float, command: str) -> Table:
    """``summary.md``, ``summary.csv`` and ``README.md`` (command, machine, timings, every table)."""
    summary = summary_table(results)
    atomic_write_text(out / "summary.md", "## Ours vs. the paper\n\n" + summary.markdown())
    write_csv(out / "summary.csv", summary.records())
    readme = [f"# Paper reproduction results{' (quick smoke run)' if args.quick else ''}\n",
              f"Command: `{command}`  ",
              f"Machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPU(s) shared; "
              f"total {total:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + ").\n",
              "## Ours vs. the paper\n", summary.markdown()]
    for name in EXPERIMENTS:
        if name in results:
            readme.append(f"## {name}\n\n" + (out / f"{name}.md").read_text()
                          + (f"\n![{name}]({name}.png)\n" if (out / f"{name}.png").exists() else ""))
    atomic_write_text(out / "README.md", "\n".join(readme))
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
