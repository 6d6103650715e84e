"""Choose the headroom of ``hetserve compare``'s ``-headroom`` policies on the VALIDATION days (never the test days).

Scores ``<method>-headroom`` for every headroom of a grid on the validation split and writes the table and the
choice (the least mean episode cost). ``agents.compare.COMPARE_HEADROOM`` holds the value chosen by

    python scripts/tune_headroom.py --method gh --out results/headroom_validation.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.evaluation import score_policy
from baselines.gap import VALIDATION_HEADROOM_GRID
from baselines.policies import SolverPolicy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="gh", help="a per-window registry solver (default gh)")
    parser.add_argument("--env", default="hetserve_env/HetServe-v1")
    parser.add_argument("--grid", default=",".join(str(h) for h in VALIDATION_HEADROOM_GRID),
                        help="comma-separated headrooms")
    parser.add_argument("--out", type=Path, default=None, help="Markdown file for the table and the choice")
    args = parser.parse_args(argv)
    try:
        grid = [float(h) for h in args.grid.split(",")]
    except ValueError:
        parser.error(f"--grid must be comma-separated numbers, got {args.grid!r}")
    bad = [h for h in grid if not h >= 0]
    if bad:
        parser.error(f"--grid headrooms must be >= 0, got {bad}")
    rows = []
    for h in grid:
        row = score_policy(lambda env, h=h: SolverPolicy(env, args.method, estimate="headroom", headroom=h),
                           args.env, split="validation", progress=False)
        rows.append((h, row))
        print(f"headroom {h:.0%}: ${row['mean_cost_usd']:,.2f}/episode, SLO {row['slo_attainment_pct']:.2f} %, "
              f"unmet {row['unmet_pct']:.3f} %, {row['gpu_hours']:.1f} GPU-h", flush=True)
    best_h, best = min(rows, key=lambda r: r[1]["mean_cost_usd"])
    print(f"chosen on the validation days: headroom {best_h:.0%} (${best['mean_cost_usd']:,.2f}/episode)")
    if args.out:
        lines = [f"# Headroom of `{args.method}-headroom` chosen on the validation days ({args.env})", "",
                 f"`python scripts/tune_headroom.py --method {args.method} --env {args.env} --out {args.out}`", "",
                 "| headroom | mean episode cost ($) | SLO attainment (%) | unmet (%) | GPU-hours |",
                 "|---:|---:|---:|---:|---:|"]
        lines += [f"| {h:.0%} | {r['mean_cost_usd']:,.2f} | {r['slo_attainment_pct']:.2f} | {r['unmet_pct']:.3f} | "
                  f"{r['gpu_hours']:.1f} |" for h, r in rows]
        lines += ["", f"Chosen: **{best_h:.0%}** (least mean validation cost)."]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
