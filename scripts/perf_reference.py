"""Validation report of the performance model against sourced measurements (issue 13, README "How good is the model?").

    python scripts/perf_reference.py                     # all points; writes results/perf_validation.{md,csv}
    python scripts/perf_reference.py --set validation    # only the validation set
    python scripts/perf_reference.py --no-write          # print only

Reads scripts/perf_points.csv (every row: a measured figure, its engine and version, its source URL and how it
was read), maps each point to the model's prediction (scripts/perf_validation.py, public API only), prints the
per-point errors and, per set and group, the median absolute error and the share of points within ±20 %.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perf_validation as pv  # noqa: E402  (a sibling script module)

ROOT = Path(__file__).resolve().parents[1]
OUT_MD = ROOT / "results" / "perf_validation.md"
OUT_CSV = ROOT / "results" / "perf_validation.csv"
WITHIN = 0.20  # "within ±20 %"
ROW_FIELDS = ("id", "set", "group", "engine", "engine_version", "gpu", "model", "precision", "tp", "pp",
              "input_tokens", "output_tokens", "load", "metric", "unit", "measured", "model_value", "error", "status")


@dataclass(frozen=True)
class Summary:
    n: int
    median_abs_error: float  # median of |model/measured − 1|
    within: float  # share of points with |error| ≤ 20 %


def point_rows(points: Sequence[pv.Point], catalog=None, constants=None) -> list[dict]:
    """One row per point: configuration, measured value, model value, signed relative error, status."""
    cat = catalog or pv.validation_catalog()
    rows = []
    for p in points:
        pred = pv.predict(p, cat, constants)
        load = (f"rate {p.request_rate:g}/s" if p.request_rate is not None and math.isfinite(p.request_rate)
                else "rate inf" if p.request_rate is not None else f"conc {p.concurrency:g}")
        rows.append({
            "id": p.id, "set": p.set, "group": p.group, "engine": p.engine, "engine_version": p.engine_version,
            "gpu": p.gpu, "model": p.model, "precision": p.precision, "tp": p.tp, "pp": p.pp,
            "input_tokens": p.input_tokens, "output_tokens": p.output_tokens, "load": load, "metric": p.metric,
            "unit": p.unit, "measured": p.value, "model_value": pred.value,
            "error": pv.relative_error(pred.value, p.value), "status": pred.status,
        })
    return rows


def summarize(rows: Sequence[dict]) -> Summary:
    """Median |error| and share within ±20 % of ``rows`` (an infinite error counts as outside)."""
    err = np.abs(np.array([r["error"] for r in rows], dtype=float))
    if err.size == 0:
        raise ValueError("no points to summarise")
    return Summary(int(err.size), float(np.median(err)), float(np.mean(err <= WITHIN)))


def summaries(rows: Sequence[dict]) -> dict[tuple[str, str], Summary]:
    """(set, group) -> Summary, plus (set, "all") for each set present; groups in GROUPS order."""
    out: dict[tuple[str, str], Summary] = {}
    for s in pv.SETS:
        in_set = [r for r in rows if r["set"] == s]
        for g in pv.GROUPS:
            sel = [r for r in in_set if r["group"] == g]
            if sel:
                out[(s, g)] = summarize(sel)
        if in_set:
            out[(s, "all")] = summarize(in_set)
    return out


def group_medians(rows: Sequence[dict], which_set: str = "validation") -> dict[str, float]:
    """group -> median absolute error within ``which_set``: what an accuracy-threshold test would assert on."""
    return {g: s.median_abs_error for (s_name, g), s in summaries(rows).items() if s_name == which_set and g != "all"}


def _fmt_err(e: float) -> str:
    return f"{100 * e:+.0f}%" if math.isfinite(e) else "+inf"


def _fmt_val(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:,.4g}" if v < 100 else f"{v:,.0f}"


def summary_lines(summ: dict[tuple[str, str], Summary]) -> list[str]:
    lines = ["| set | group | points | median abs error | within ±20 % |", "|---|---|---|---|---|"]
    for (s, g), v in summ.items():
        lines.append(f"| {s} | {g} | {v.n} | {100 * v.median_abs_error:.1f}% | {100 * v.within:.0f}% |")
    return lines


def point_lines(rows: Sequence[dict]) -> list[str]:
    lines = ["| id | set | group | engine | GPU | model | prec | TP×PP | in/out | load | metric | measured | model | error | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['id']} | {r['set']} | {r['group']} | {r['engine']} {r['engine_version']} | {r['gpu']} | {r['model']} | "
            f"{r['precision']} | {r['tp']}×{r['pp']} | {r['input_tokens']:g}/{r['output_tokens']:g} | {r['load']} | "
            f"{r['metric']} ({r['unit']}) | {_fmt_val(r['measured'])} | {_fmt_val(r['model_value'])} | "
            f"{_fmt_err(r['error'])} | {r['status']} |")
    return lines


def write_outputs(rows: Sequence[dict], summ: dict, md_path: Path, csv_path: Path, which: str) -> None:
    md_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=ROW_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(r[k]) if isinstance(r[k], float) else r[k]) for k in ROW_FIELDS})
    text = [
        "# Performance model vs. sourced measurements",
        "",
        f"Made by `python scripts/perf_reference.py{'' if which == 'all' else ' --set ' + which}` from "
        "`scripts/perf_points.csv` (sources, engine versions and how each figure was read are in that file) with the "
        "model's default constants. Error = model / measured − 1; a point the model cannot serve or that is past "
        "its capacity has an infinite latency error or a −100 % throughput error and counts as outside ±20 %. "
        "Groups and the mapping of each to the model: `scripts/perf_validation.py`; split rule and groups: "
        "docs/model.md \"How good is the model?\".",
        "",
        "## Summary",
        "",
        *summary_lines(summ),
        "",
        "## Per point",
        "",
        *point_lines(rows),
        "",
    ]
    md_path.write_text("\n".join(text), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> dict[tuple[str, str], Summary]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("calibration", "validation", "all"), default="all")
    ap.add_argument("--points", type=Path, default=pv.POINTS_CSV)
    ap.add_argument("--out-md", type=Path, default=OUT_MD)
    ap.add_argument("--out-csv", type=Path, default=OUT_CSV)
    ap.add_argument("--no-write", action="store_true", help="print only; write no results files")
    args = ap.parse_args(argv)
    cat = pv.validation_catalog()
    points = [p for p in pv.load_points(args.points, cat) if args.set in ("all", p.set)]
    rows = point_rows(points, cat)
    summ = summaries(rows)
    print("\n".join(point_lines(rows)))
    print()
    print("\n".join(summary_lines(summ)))
    if not args.no_write:
        write_outputs(rows, summ, args.out_md, args.out_csv, args.set)
        print(f"\nwrote {args.out_md} and {args.out_csv}")
    return summ


if __name__ == "__main__":
    main()
