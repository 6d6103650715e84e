#!/usr/bin/env python
"""Reproduce the experiments of arXiv 2604.07472 with hetserve: tables (Markdown + CSV) and figures (PNG).

    python scripts/reproduce_paper.py [--quick] [--out results/paper] [--only scaling,stress,...]
        [--scaling-csv results/bench_solvers.csv | --sizes 2,5,10,15,20 --seeds 3 --time-limit 600 --solvers highs,cbc]
        [--milp-time-limit 120] [--sigmas 0.01,0.02,0.03,0.04,0.05] [--days 12,13] [--max-windows N]
        [--rolling-cold-starts on|off|both] [--rolling-headroom] [--rolling-demand-scale K]

The committed results (docs/reproduction.md) were made with

    python scripts/reproduce_paper.py --scaling-csv results/bench_solvers.csv --rolling-cold-starts both
    python scripts/reproduce_paper.py --only rolling --rolling-demand-scale 10 --days 12 --sigmas 0.05
        --rolling-headroom --rolling-cold-starts both --out results/paper/rolling-x10      (one command)

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
4. ``rolling``: ``hetserve_env/HetServePaper-v0`` (5-minute windows) on the test days under demand noise σ:
   AGH re-planning every window vs. one static AGH / MILP plan for the day's peak.
5. ``sensitivity``: the paper scenario's static problem re-planned against budget, delay SLO and error SLO.

``<out>/summary.md`` puts each measured figure beside the paper's reported one; ``<out>/README.md`` holds the
command, the settings, the run time and every table. ``--quick`` (the CI smoke run, ~30 s) uses tiny settings
and writes to ``results/paper-quick`` unless ``--out`` is given.
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

from baselines import experiments as ex  # noqa: E402
from baselines.experiments import Table, fmt  # noqa: E402

EXPERIMENTS = ("scaling", "stress", "ablation", "rolling", "sensitivity")

#: What the paper reports (reference/paper.md; "summary" = third-party summary of the full text).
PAPER = {
    "gh_s": "<0.01 s to 0.9 s", "agh_s": "0.01 s to 2.3 s", "milp_s": "0.39 s to >600 s (time limit at (20,20,20))",
    "speedup": ">260x (600 s / 2.3 s)", "agh_gap": "≈5–10% above the MILP optimum",
    "stress_milp": "cost ≈$793 → $909, SLO violations ≥14%", "stress_agh": "cost ≈$434–$474, ≈3.7% violations",
    "abl_m1": "infeasible", "abl_m2": "cost +≈50%", "abl_m3": "infeasible",
    "roll_agh": "≈16–17% (σ = 0.04–0.05)", "roll_milp": "≈45–48% (σ = 0.04–0.05)",
}


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
        "ablation_instances": [(2, 2), (2, 5)] if q else [(n, s) for n in (2, 3, 4, 6, 8) for s in range(8)],
        "sigmas": [float(v) for v in (args.sigmas or ("0.05" if q else "0.01,0.02,0.03,0.04,0.05")).split(",") if v],
        "days": [int(v) for v in args.days.split(",")] if args.days else ([12] if q else None),  # None: all test days
        "max_windows": args.max_windows if args.max_windows is not None else (4 if q else None),
        "budget_scales": [0.7, 1.0] if q else [0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 2.0],
        "delay_scales": [0.5, 1.0] if q else [0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
        "error_scales": [0.9, 1.0] if q else [0.8, 0.9, 1.0, 1.1, 1.25, 1.5],
    }


# ------------------------------------------------------------------------------------------------ I/O
def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: _csv_cell(r.get(k, "")) for k in cols})


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
    (out / f"{name}.md").write_text(md)
    write_csv(out / f"{name}_summary.csv", tables[0][1].records())
    return md


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# -------------------------------------------------------------------------------------------- scaling
def heuristic_rows(size: int, seed: int, methods: Sequence[str], progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """GH / AGH / AGH (paper) on ``generate(size, size, size, seed)`` with today's code (``ex.SPECS`` keys)."""
    from hetserve_env.instances import generate

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
    with open(out / "scaling.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=bench_solvers.FIELDS)
        writer.writeheader()
        for size in cfg["sizes"]:
            for seed in range(cfg["seeds"]):
                rows += bench_solvers.run_one(size, seed, cfg["solvers"], cfg["time_limit"], cfg["warm_start"], writer, fh)
                extra = heuristic_rows(size, seed, ["agh-paper"], progress)
                for r in extra:
                    writer.writerow(r)
                rows += extra
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


SCALING_METHODS = (("gh", "GH"), ("agh", "AGH"), ("agh-paper", "AGH (paper)"))


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
        mean = {k: ex._mean(v) for k, v in acc.items()}
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


def plot_scaling(rows: Sequence[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    methods = list(dict.fromkeys(r["method"] for r in rows if r["method"] != "agh-tb"))
    sizes = sorted({int(r["size"]) for r in rows})
    for m in methods:
        t = [ex._mean(float(r["runtime_s"]) for r in rows if r["method"] == m and int(r["size"]) == n) for n in sizes]
        o = [ex._mean(float(r["objective"]) for r in rows if r["method"] == m and int(r["size"]) == n) for n in sizes]
        lab = dict(SCALING_METHODS).get(m, m.upper())
        ax.plot(sizes, t, marker="o", label=lab)
        ax2.plot(sizes, o, marker="o", label=lab)
    ax.set_yscale("log")
    ax.set_xlabel("instance size n  (|I| = |J| = |K| = n)")
    ax.set_ylabel("runtime (s, mean over seeds, log)")
    ax.set_title("Runtime vs. size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax2.set_xlabel("instance size n")
    ax2.set_ylabel("$/h (mean over seeds)")
    ax2.set_title("Cost vs. size")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- figures
def plot_stress(rows: Sequence[dict[str, Any]], factors: Sequence[float], path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    styles = {"planned": "-", "rerouted": "--"}
    for m in dict.fromkeys(r["method"] for r in rows):
        for rt in ("planned", "rerouted"):
            def series(sel, key, rel=False):
                out = []
                for f in factors:
                    cell = [r for r in rows if sel(r) and r["method"] == m and r["routing"] == rt and r["factor"] == f
                            and r["inflate"] in ("both", "none")]
                    if rel:
                        nom = {r["instance"]: r["realised_cost"] for r in rows if sel(r) and r["method"] == m
                               and r["routing"] == rt and r["factor"] == 1.0}
                        out.append(ex._mean(r["realised_cost"] / nom[r["instance"]] for r in cell if r["instance"] in nom))
                    else:
                        out.append(ex._mean(r[key] for r in cell))
                return out
            paper = lambda r: r["instance"] == "paper"  # noqa: E731
            gen = lambda r: r["instance"] != "paper"  # noqa: E731
            lab = f"{m} ({rt})"
            axes[0].plot(factors, series(paper, "realised_cost"), styles[rt], marker="o", label=lab)
            axes[1].plot(factors, series(gen, None, rel=True), styles[rt], marker="o", label=lab)
            axes[2].plot(factors, series(lambda r: True, "slo_miss_pct"), styles[rt], marker="o", label=lab)
    axes[0].set_title("paper scenario: realised $/h")
    axes[1].set_title("generated instances: realised cost / nominal")
    axes[2].set_title("all instances: SLO miss % (mean)")
    for a in axes:
        a.set_xlabel("inflation factor (latency and error)")
        a.grid(True, alpha=0.3)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_rolling(rows: Sequence[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    sigmas = list(dict.fromkeys(r["sigma"] for r in rows))
    colds = list(dict.fromkeys(r.get("cold_starts", "on") for r in rows))
    for cold in colds:
        for p in dict.fromkeys(r["policy"] for r in rows):
            sel = [r for r in rows if r["policy"] == p and r.get("cold_starts", "on") == cold]
            cost = [sum(r.get("cost_usd", float("nan")) for r in sel if r["sigma"] == s) for s in sigmas]
            slo = [ex._mean(r.get("slo_attainment_pct", float("nan")) for r in sel if r["sigma"] == s) for s in sigmas]
            lab = p + (f" (cold starts {cold})" if len(colds) > 1 else "")
            ls = "-" if cold == "on" else "--"
            ax.plot(sigmas, cost, ls, marker="o", label=lab)
            ax2.plot(sigmas, slo, ls, marker="o", label=lab)
    ax.set_xlabel("demand volatility σ")
    ax.set_ylabel("total episode cost ($, summed over test days)")
    ax.set_title("Rolling re-planning vs. static plan")
    ax2.set_xlabel("demand volatility σ")
    ax2.set_ylabel("SLO attainment (%)")
    ax2.set_title("SLO attainment")
    for a in (ax, ax2):
        a.grid(True, alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sensitivity(rows: Sequence[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    params = list(dict.fromkeys(r["parameter"] for r in rows))
    fig, axes = plt.subplots(2, len(params), figsize=(4.5 * len(params), 6.5), squeeze=False)
    for k, param in enumerate(params):
        for m in dict.fromkeys(r["method"] for r in rows):
            sub = sorted((r for r in rows if r["parameter"] == param and r["method"] == m
                          and not (param == "budget" and r["scale"] > 5)), key=lambda r: r["scale"])
            xs = [r["scale"] for r in sub]
            axes[0][k].plot(xs, [r["objective"] if r["feasible"] else np.nan for r in sub], marker="o", label=m)
            axes[1][k].plot(xs, [r["unmet_pct"] if r["feasible"] else np.nan for r in sub], marker="o", label=m)
            bad = [r["scale"] for r in sub if not r["feasible"]]
            if bad:
                axes[0][k].scatter(bad, [0] * len(bad), marker="x", color="red", zorder=3,
                                   label="infeasible" if m == "AGH" else None)
        xl = {"budget": "budget / nominal rental", "delay_slo": "delay SLO scale", "error_slo": "error SLO scale"}[param]
        axes[0][k].set_title(f"cost vs. {param.replace('_', ' ')}")
        axes[1][k].set_title(f"unmet demand vs. {param.replace('_', ' ')}")
        axes[1][k].set_xlabel(xl)
        axes[0][k].set_ylabel("$/h")
        axes[1][k].set_ylabel("unmet (% of requests)")
        for a in (axes[0][k], axes[1][k]):
            a.grid(True, alpha=0.3)
        axes[0][k].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------- summary
def summary_table(results: dict[str, Any]) -> Table:
    """Each measured figure beside the paper's reported one."""
    t = Table(["experiment", "quantity", "paper", "ours"])
    sc = results.get("scaling")
    if sc:
        rows = sc["rows"]
        sizes = sorted({int(r["size"]) for r in rows})
        big = sizes[-1]

        def rng(method_pred, key="runtime_s"):
            v = [ex._mean(float(r[key]) for r in rows if method_pred(r["method"]) and int(r["size"]) == n) for n in sizes]
            return f"{fmt(min(v), '.3g')} s to {fmt(max(v), '.3g')} s"
        summ = sc["table"].records()
        last = summ[-1]
        t.rows.append(["scaling", "GH runtime over the grid (mean per size)", PAPER["gh_s"], rng(lambda m: m == "gh")])
        t.rows.append(["scaling", "AGH runtime over the grid (mean per size)", PAPER["agh_s"],
                       f"AGH (paper) {rng(lambda m: m == 'agh-paper')}; AGH {rng(lambda m: m == 'agh')}"])
        t.rows.append(["scaling", "MILP runtime over the grid (fastest solver)", PAPER["milp_s"],
                       f"{summ[0]['MILP s (fastest)']} s to {max(float(r['MILP s (fastest)']) for r in summ):.3g} s "
                       f"(statuses at ({big},{big},{big}): {last['MILP status']})"])
        t.rows.append(["scaling", f"speedup of AGH over the MILP at ({big},{big},{big})", PAPER["speedup"],
                       f"AGH (paper) {last['speedup (fastest MILP/AGH (paper))']}, AGH {last['speedup (fastest MILP/AGH)']} "
                       f"(fastest MILP solver); AGH {last['speedup (slowest MILP/AGH)']} (slowest)"])
        t.rows.append(["scaling", "AGH cost above the MILP optimum (mean per size)", PAPER["agh_gap"],
                       "AGH (paper) " + ", ".join(f"{r['size']}: {r['AGH (paper) gap']}" for r in summ)
                       + "; AGH " + ", ".join(f"{r['size']}: {r['AGH gap']}" for r in summ)])
    st = results.get("stress")
    if st:
        rows = st["rows"]

        def cell(method, routing, f, inst="paper"):
            c = [r for r in rows if r["instance"] == inst and r["method"] == method and r["routing"] == routing
                 and r["factor"] == f and r["inflate"] in ("both", "none")]
            return c[0] if c else None
        robust = [m for m in dict.fromkeys(r["method"] for r in rows) if m.startswith("AGH robust")]
        for m, key in [("MILP", "stress_milp"), ("AGH (paper)", "stress_agh"), ("AGH", None), ("GH", None)] + [(m, None) for m in robust]:
            parts = []
            for rt in ("planned", "rerouted"):
                cs = [cell(m, rt, f) for f in st["factors"]]
                if all(cs):
                    parts.append(f"{rt}: $" + " → $".join(f"{c['realised_cost']:.2f}" for c in cs) + "/h, SLO miss "
                                 + " → ".join(f"{c['slo_miss_pct']:.1f}%" for c in cs))
            if parts:
                t.rows.append(["stress (paper scenario)", f"{m} plan at " + "/".join(f"{f:g}x" for f in st["factors"]),
                               PAPER[key] if key else "—", "; ".join(parts)])
        gen = [r for r in rows if r["instance"] != "paper" and r["inflate"] == "both" and r["factor"] == max(st["factors"])]
        if gen:
            f = max(st["factors"])
            parts = [f"{m} {rt} {ex._mean(r['slo_miss_pct'] for r in gen if r['method'] == m and r['routing'] == rt):.1f}%"
                     for m in ["GH", "AGH (paper)", "AGH", "MILP"] + robust for rt in ("planned", "rerouted")
                     if any(r["method"] == m and r["routing"] == rt for r in gen)]
            t.rows.append(["stress (generated)", f"mean SLO miss at {f:g}x", "MILP degrades sharply, AGH controlled",
                           ", ".join(parts)])
    ab = results.get("ablation")
    if ab:
        recs = ab["table"].records()
        for v, key in (("no M1", "abl_m1"), ("no M2", "abl_m2"), ("no M3", "abl_m3")):
            parts = []
            for m in ("GH", "AGH (paper)"):
                r = next((x for x in recs if x["method"] == m and x["variant"] == v), None)
                if r:
                    parts.append(f"{m}: infeasible {r['infeasible']}/{r['instances']}, cost vs full {r['cost vs full (mean)']} "
                                 f"(max {r['cost vs full (max)']}); paper scenario {r['paper scenario']}")
            t.rows.append(["ablation", f"without {v[3:]}", PAPER[key], "; ".join(parts)])
    ro = results.get("rolling")
    if ro:
        recs = ro["table"].records()
        rolling = list(dict.fromkeys(r["policy"] for r in ro["rows"] if r["policy"].startswith("AGH rolling")))
        tag = lambda r: f"σ={r['sigma']}{'' if r['cold starts'] == 'on' else ' (no cold starts)'}"  # noqa: E731
        for rp in rolling:
            for p, key in (("AGH static", "roll_agh"), ("MILP static", "roll_milp")):
                col = f"saving vs {p}" if rp == "AGH rolling" else f"{rp} saving vs {p}"
                if recs and col in recs[0]:
                    t.rows.append(["rolling", f"saving of {rp} vs. the {p} plan", PAPER[key],
                                   ", ".join(f"{tag(r)}: {r[col]}" for r in recs)])
        if recs:
            t.rows.append(["rolling", "SLO attainment " + " / ".join(rolling + ["AGH static", "MILP static"]), "—",
                           ", ".join(f"{tag(r)}: " + " / ".join(r.get(f"{p} SLO %", "—") for p in rolling + ["AGH static", "MILP static"])
                                     + "%" for r in recs)])
    se = results.get("sensitivity")
    if se:
        rows = se["rows"]
        paper_col = {"budget": "$100/h budget and a $72/h \"critical budget\" case (figures not known)",
                     "delay_slo": "(not known)", "error_slo": "(not known)"}
        for param in dict.fromkeys(r["parameter"] for r in rows):
            parts = []
            for scale in dict.fromkeys(r["scale"] for r in rows if r["parameter"] == param):
                sub = {r["method"]: r for r in rows if r["parameter"] == param and r["scale"] == scale}
                cell = "/".join(fmt(sub[m]["objective"], ".2f") if sub[m]["feasible"] else "inf."
                                for m in ("AGH (paper)", "AGH", "MILP") if m in sub)
                label = f"${sub[next(iter(sub))]['value']:.0f}" if param == "budget" and scale > 5 else f"{scale:.3g}x"
                parts.append(f"{label}: {cell}")
            t.rows.append(["sensitivity", f"{param.replace('_', ' ')}: AGH (paper)/AGH/MILP $/h (inf. = no feasible plan)",
                           paper_col.get(param, "—"), ", ".join(parts)])
    return t


# ----------------------------------------------------------------------------------------- experiments
# One function per experiment: run it, write ``<name>.csv``, ``<name>.md``/``<name>_summary.csv`` and the figure,
# and return what ``summary_table`` reads (``rows``, ``table``, ...). ``main`` times each and keeps the results.
def _paper_problem() -> Any:
    import hetserve_env

    return hetserve_env.load_scenario("paper").problem()


def _generated(instances: Sequence[tuple[int, int]]) -> list[tuple[str, Any]]:
    from hetserve_env.instances import generate

    return [(f"gen{n}x{n}x{n}s{s}", generate(n, n, n, seed=s)) for n, s in instances]


def exp_scaling(args: argparse.Namespace, cfg: dict[str, Any], out: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    if args.scaling_csv:
        rows = refresh_heuristics(load_scaling_csv(Path(args.scaling_csv)), progress)
        write_csv(out / "scaling.csv", rows)
        note = (f"MILP rows ingested from `{args.scaling_csv}` (produced by `scripts/bench_solvers.py`; "
                f"see `results/bench_solvers.md` for its command and MILP time limit; warm-started from "
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
    plot_scaling(rows, out / "scaling.png")
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
    plot_stress(rows, cfg["stress_factors"], out / "stress.png")
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
                            progress=progress)
    write_csv(out / "rolling.csv", rows)
    table = ex.rolling_summary(rows)
    days = sorted({r["day"] for r in rows})
    write_tables(out, "rolling", [("Rolling re-optimisation every 5 min vs. a static plan for the day", table)],
                 f"`hetserve_env/HetServePaper-v0`{f' with every arrival rate x{k:g}' if k != 1 else ''}, test day(s) {days}, "
                 f"{'first ' + str(cfg['max_windows']) + ' windows' if cfg['max_windows'] else 'whole day (288 windows)'}, "
                 "LP router, noise seed = day (same draws for every policy and σ). Costs in $ summed over the days "
                 "(rental + cold starts + storage + penalties); SLO attainment = demand-weighted share served within "
                 "the delay SLO.")
    plot_rolling(rows, out / "rolling.png")
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
    plot_sensitivity(rows, out / "sensitivity.png")
    return {"rows": rows, "table": table}


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "scaling": exp_scaling, "stress": exp_stress, "ablation": exp_ablation, "rolling": exp_rolling,
    "sensitivity": exp_sensitivity}


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny settings for a CI smoke run (~30 s)")
    ap.add_argument("--out", default=None, help="output directory (default results/paper, or results/paper-quick)")
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
    out = Path(args.out or ("results/paper-quick" if args.quick else "results/paper"))
    if not out.is_absolute():
        out = ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    cfg = settings(args)
    command = "python scripts/reproduce_paper.py " + " ".join(argv if argv is not None else sys.argv[1:])
    progress = lambda msg: print(msg, flush=True)  # noqa: E731

    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    t_all = time.time()
    for name in EXPERIMENTS:  # the fixed order, whatever the order of --only
        if name in only:
            t0 = time.time()
            progress(f"[{name}]")
            results[name] = RUNNERS[name](args, cfg, out, progress)
            timings[name] = time.time() - t0

    total = time.time() - t_all
    summary = summary_table(results)
    (out / "summary.md").write_text("## Ours vs. the paper\n\n" + summary.markdown())
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
    (out / "README.md").write_text("\n".join(readme))
    print(summary.markdown())
    print(f"total {total:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
