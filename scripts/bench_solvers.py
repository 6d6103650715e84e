#!/usr/bin/env python
"""Benchmark GH, AGH, the paper's v2 baselines (LPR, DVR, HF) and the MILP (HiGHS, CBC) on the paper's size grid
of synthetic instances.

    python scripts/bench_solvers.py [--sizes 2,5,10,15,20] [--seeds 3] [--time-limit 600]
                                    [--solvers highs,cbc] [--out results/bench_solvers] [--no-warm-start]
                                    [--baselines lpr,dvr,hf]

For every size n (instances generate(n, n, n, seed)) and seed: GH, AGH, and the MILP with each solver
(warm-started from AGH's allocation unless --no-warm-start; the MILP runtime excludes AGH's). Writes
``<out>.csv`` (one row per run, appended as the runs finish) and ``<out>.md`` (per size: mean runtimes, mean
objectives, AGH's gap to the best MILP objective and to the best proven bound, the MILP/AGH speedup and the
MILP status counts), then a table of the v2 baselines (``--baselines``, "" for none): per size their mean
runtime, how many instances they solved feasibly and their mean and largest gap to the best MILP objective. A benchmark, not a test: nothing is asserted; the targets are reported next to the
measurements.
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import baselines  # noqa: E402
from baselines.instances import generate  # noqa: E402

FIELDS = ["size", "seed", "n_types", "n_templates", "method", "status", "objective", "runtime_s", "best_bound",
          "gap", "rental", "replicas", "detail"]
TARGETS = {"gh_s": 0.1, "agh_s": 1.0, "agh_gap": 0.02}


def result_row(size: int, seed: int, p, method: str, sol, detail: str) -> dict:
    """A run as a row of :data:`FIELDS` (also used by ``scripts/reproduce_paper.py``)."""
    return {"size": size, "seed": seed, "n_types": p.n_types, "n_templates": p.n_templates, "method": method,
            "status": sol.status, "objective": sol.objective, "runtime_s": sol.runtime_s,
            "best_bound": sol.best_bound if sol.best_bound is not None else float("nan"),
            "gap": sol.gap if sol.gap is not None else float("nan"),
            "rental": sol.evaluation.rental if sol.evaluation is not None else float("nan"),
            "replicas": int(sol.allocation.replicas.sum()) if sol.allocation is not None else -1,
            "detail": detail}


def run_one(size: int, seed: int, solvers: list[str], time_limit: float, warm: bool, writer, fh,
            agh_budget: float = 0.0, extra: tuple[str, ...] = ()) -> list[dict]:
    p = generate(size, size, size, seed=seed)
    rows = []

    def record(method: str, sol) -> None:
        detail = sol.stats.get("solver_status", sol.stats.get("best_start", sol.stats.get("gpu", "")))
        row = result_row(size, seed, p, method, sol, detail if method != "gh" else "")
        rows.append(row)
        writer.writerow(row)
        fh.flush()
        print(f"  n={size} seed={seed} {method:<11} {sol.status:<10} obj={sol.objective:10.4f} "
              f"t={sol.runtime_s:8.3f}s" + (f" bound={sol.best_bound:.4f}" if sol.best_bound is not None else ""),
              flush=True)

    record("gh", baselines.solve(p, "gh"))
    agh = baselines.solve(p, "agh")
    record("agh", agh)
    if agh_budget > 0:
        record("agh-tb", baselines.solve(p, "agh", time_budget_s=agh_budget))
    for m in extra:
        record(m, baselines.solve(p, m))
    for s in solvers:
        start = agh.allocation if (warm and agh.feasible) else False
        record(f"milp-{s}", baselines.solve(p, "milp", solver=s, time_limit=time_limit, warm_start=start))
    return rows


def summarise(rows: list[dict], solvers: list[str], time_limit: float, command: str) -> str:
    by = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        by[int(r["size"])][int(r["seed"])][r["method"]] = r
    milps = [f"milp-{s}" for s in solvers]
    has_tb = any(r["method"] == "agh-tb" for r in rows)
    head = (["size", "D (mean)", "GH s", "AGH s"] + [f"{m.upper()} s" for m in milps]
            + ["GH obj", "AGH obj"] + [f"{m.upper()} obj" for m in milps]
            + ["GH gap", "AGH gap (best MILP)", "AGH gap max", "AGH gap (bound)", "speedup MILP/AGH"]
            + [f"{m.upper()} status" for m in milps] + (["AGH-TB s", "AGH-TB gap", "AGH-TB gap max"] if has_tb else []))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for size in sorted(by):
        seeds = by[size]
        def vals(method, key):
            return [float(seeds[s][method][key]) for s in seeds if method in seeds[s]]
        def mean(v):
            v = [x for x in v if math.isfinite(x)]
            return float(np.mean(v)) if v else float("nan")
        gaps_agh, gaps_gh, gaps_bound, speed, gaps_tb = [], [], [], [], []
        for s, runs in seeds.items():
            objs = [float(runs[m]["objective"]) for m in milps if m in runs and math.isfinite(float(runs[m]["objective"]))]
            bounds = [float(runs[m]["best_bound"]) for m in milps if m in runs and math.isfinite(float(runs[m]["best_bound"]))]
            a = float(runs["agh"]["objective"])
            g = float(runs["gh"]["objective"])
            if objs:
                best = min(objs)
                gaps_agh.append(a / best - 1)
                if "agh-tb" in runs:
                    gaps_tb.append(float(runs["agh-tb"]["objective"]) / best - 1)
                if math.isfinite(g):
                    gaps_gh.append(g / best - 1)
            if bounds:
                gaps_bound.append(a / max(bounds) - 1)
            t_agh = float(runs["agh"]["runtime_s"])
            t_milp = [float(runs[m]["runtime_s"]) for m in milps if m in runs]
            if t_milp:
                speed.append(max(t_milp) / t_agh)
        statuses = [", ".join(f"{k} {v}" for k, v in sorted(Counter(seeds[s][m]["status"] for s in seeds if m in seeds[s]).items()))
                    for m in milps]
        dmean = mean([float(seeds[s]["gh"]["n_templates"]) for s in seeds])
        pct = lambda v: f"{100 * v:.2f}%" if math.isfinite(v) else "n/a"  # noqa: E731
        row = ([f"({size},{size},{size})", f"{dmean:.0f}", f"{mean(vals('gh', 'runtime_s')):.4f}",
                f"{mean(vals('agh', 'runtime_s')):.3f}"] + [f"{mean(vals(m, 'runtime_s')):.2f}" for m in milps]
               + [f"{mean(vals('gh', 'objective')):.3f}", f"{mean(vals('agh', 'objective')):.3f}"]
               + [f"{mean(vals(m, 'objective')):.3f}" for m in milps]
               + [pct(mean(gaps_gh)), pct(mean(gaps_agh)), pct(max(gaps_agh) if gaps_agh else float("nan")),
                  pct(mean(gaps_bound)), f"{mean(speed):.3g}x" if speed else "n/a"] + statuses
               + ([f"{mean(vals('agh-tb', 'runtime_s')):.2f}", pct(mean(gaps_tb)),
                   pct(max(gaps_tb) if gaps_tb else float("nan"))] if has_tb else []))
        lines.append("| " + " | ".join(row) + " |")
    meta = (f"\nCommand: `{command}`  \nMILP time limit {time_limit:g} s per solver and instance, 1 thread, "
            f"warm start from AGH. Machine: {platform.machine()}, Python {platform.python_version()}, "
            f"{_cpus()} CPU(s) shared. Objective in $/h; gaps relative to the best MILP objective found (and to "
            f"the best proven lower bound); speedup = slowest MILP runtime / AGH runtime, averaged over seeds; "
            f"AGH-TB = AGH with a time budget (more routing-LP fleet moves, not deterministic).\n"
            f"Targets: GH <= {TARGETS['gh_s']} s and AGH <= {TARGETS['agh_s']} s at (20,20,20); MILP optimal "
            f"everywhere; AGH within {100 * TARGETS['agh_gap']:.0f}% of the optimum.\n")
    return "\n".join(lines) + "\n" + meta


def summarise_extra(rows: list[dict], solvers: list[str], extra: list[str]) -> str:
    """Per size and extra baseline: mean runtime, feasible count, mean and largest gap to the best MILP objective."""
    if not extra:
        return ""
    milps = [f"milp-{s}" for s in solvers]
    head = ["size"] + [f"{m.upper()} {c}" for m in extra for c in ("s", "feasible", "gap", "gap max")]
    lines = ["", "The paper's v2 baselines (gap = objective / best MILP objective − 1, over the instances the baseline "
             "solved; feasible = instances with a feasible plan / instances):", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        by[int(r["size"])][int(r["seed"])][r["method"]] = r
    for size in sorted(by):
        cells = [f"({size},{size},{size})"]
        for m in extra:
            runs = [seeds for seeds in by[size].values() if m in seeds]
            t = [float(r[m]["runtime_s"]) for r in runs]
            ok = [r for r in runs if r[m]["status"] in ("feasible", "optimal")]
            gaps = []
            for r in ok:
                objs = [float(r[k]["objective"]) for k in milps if k in r and math.isfinite(float(r[k]["objective"]))]
                if objs:
                    gaps.append(float(r[m]["objective"]) / min(objs) - 1)
            pct = lambda v: f"{100 * v:.2f}%" if v is not None else "n/a"  # noqa: E731
            cells += [f"{np.mean(t):.3f}" if t else "n/a", f"{len(ok)}/{len(runs)}",
                      pct(float(np.mean(gaps)) if gaps else None), pct(max(gaps) if gaps else None)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cpus() -> str:
    import os

    return str(os.cpu_count())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2,5,10,15,20")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--solvers", default="highs,cbc")
    ap.add_argument("--out", default="results/bench_solvers")
    ap.add_argument("--no-warm-start", action="store_true")
    ap.add_argument("--baselines", default="lpr,dvr,hf", help="the paper's v2 baselines to run too ('' for none)")
    ap.add_argument("--agh-budget", type=float, default=0.0, metavar="S",
                    help="also run AGH with time_budget_s=S (reported as agh-tb; 0 = off)")
    args = ap.parse_args(argv)
    sizes = [int(v) for v in args.sizes.split(",") if v]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    extra = [m.strip() for m in args.baselines.split(",") if m.strip()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python scripts/bench_solvers.py " + " ".join(argv if argv is not None else sys.argv[1:])
    rows: list[dict] = []
    t0 = time.time()
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for size in sizes:
            for seed in range(args.seeds):
                rows += run_one(size, seed, solvers, args.time_limit, not args.no_warm_start, writer, fh,
                                args.agh_budget, tuple(extra))
            out.with_suffix(".md").write_text(summarise(rows, solvers, args.time_limit, command)
                                              + summarise_extra(rows, solvers, extra))
    md = summarise(rows, solvers, args.time_limit, command) + summarise_extra(rows, solvers, extra)
    out.with_suffix(".md").write_text(md)
    print(md)
    print(f"total {time.time() - t0:.0f} s; wrote {out.with_suffix('.csv')} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
