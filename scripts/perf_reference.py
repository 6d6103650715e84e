"""Validation report of the performance model against sourced measurements (issue 13, docs/model.md "How good is the model?").

    python scripts/perf_reference.py                     # all points, models v1 and v2; writes results/perf_validation.{md,csv}
    python scripts/perf_reference.py --model v2          # one model version
    python scripts/perf_reference.py --set validation    # only the validation set
    python scripts/perf_reference.py --no-write          # print only

Reads scripts/perf_points.csv (every row: a measured figure, its engine and version, its source URL and how it
was read), maps each point to the model's prediction under its engine's profile and stated KV precision
(scripts/perf_validation.py, the one mapping; the fit uses it too), prints the per-point errors and, per set and
group, the median absolute error and the share of points within ±20 %.
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
ROW_FIELDS = ("version", "id", "set", "fitted", "group", "engine", "engine_version", "profile", "kv", "gpu", "model", "precision",
              "tp", "pp", "input_tokens", "output_tokens", "load", "metric", "unit", "measured", "model_value", "error",
              "status")
#: the rows a sensitivity summary leaves out, and why it is shown (docs/model.md "How good is the model?")
SENSITIVITY = ("TGI", "without the 13 TGI 1.0.3 rows (TGI 1.0.3 behind a SageMaker endpoint; their figure is "
                      "computed from TGI's own server-side request times, the quantity the model predicts, so they "
                      "count in the summary above; shown because they hold several of the largest errors)")


#: performance model versions the report covers (hetserve_env.perf.PERF_SETS)
VERSIONS = ("v1", "v2")
#: which calibration rows tuned each version's constants (docs/model.md "How good is the model?")
FIT_NOTES = {
    "v1": f"the calibration rows among the file's first {pv.FITTED_ON_FIRST_ROWS} rows (`perf_calibrate.py --fit`)",
    "v2": "every calibration row of the file (`perf_calibrate.py --fit --version v2`)",
}


@dataclass(frozen=True)
class Summary:
    n: int
    median_abs_error: float  # median of |model/measured − 1|
    within: float  # share of points with |error| ≤ 20 %


def point_rows(points: Sequence[pv.Point], catalog=None, overrides=None, version: str = "v1") -> list[dict]:
    """One row per point under performance model ``version``: configuration, engine profile and KV precision it
    ran under, whether its row tuned that version's constants (``fitted``), measured value, model value, signed
    relative error, status."""
    cat = catalog or pv.validation_catalog()
    fitted = pv.fitted_ids() if version == "v1" else {p.id for p in points if p.set == "calibration"}
    overrides = {"version": version, **(overrides or {})}
    rows = []
    for p in points:
        pred = pv.predict(p, cat, overrides)
        load = (f"rate {p.request_rate:g}/s" if p.request_rate is not None and math.isfinite(p.request_rate)
                else "rate inf" if p.request_rate is not None else f"conc {p.concurrency:g}")
        rows.append({
            "version": version, "id": p.id, "set": p.set, "fitted": "yes" if p.id in fitted else "no", "group": p.group,
            "engine": p.engine, "engine_version": p.engine_version, "profile": pv.engine_profile(p).profile,
            "kv": pv.point_constants(p).kv_precision, "gpu": p.gpu, "model": p.model, "precision": p.precision, "tp": p.tp, "pp": p.pp,
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
    lines = ["| id | set | fitted | group | engine (profile, KV) | GPU | model | prec | TP×PP | in/out | load | metric | "
             "measured | model | error | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['id']} | {r['set']} | {r['fitted']} | {r['group']} | {r['engine']} {r['engine_version']} "
            f"({r['profile']}, {r['kv']}) | {r['gpu']} | {r['model']} | {r['precision']} | {r['tp']}×{r['pp']} | "
            f"{r['input_tokens']:g}/{r['output_tokens']:g} | {r['load']} | {r['metric']} ({r['unit']}) | "
            f"{_fmt_val(r['measured'])} | {_fmt_val(r['model_value'])} | {_fmt_err(r['error'])} | {r['status']} |")
    return lines


def engine_lines(points: Sequence[pv.Point]) -> list[str]:
    """Each engine of the points, the profile it runs under and why."""
    lines = ["| engine | points | profile | why |", "|---|---|---|---|"]
    seen: dict[str, list[pv.Point]] = {}
    for p in points:
        seen.setdefault(p.engine, []).append(p)
    for engine, pts in seen.items():
        choice = pv.engine_profile(pts[0])
        lines.append(f"| {engine} | {len(pts)} | {choice.profile} | {choice.reason} |")
    return lines


def compare_lines(by_version: dict[str, dict[tuple[str, str], Summary]]) -> list[str]:
    """One line per (set, group): each version's median |error| and share within ±20 %."""
    names = list(by_version)
    lines = ["| set | group | points | " + " | ".join(f"{v} median abs error | {v} within ±20 %" for v in names) + " |",
             "|---|---|---|" + "---|---|" * len(names)]
    for key, first in by_version[names[0]].items():
        cells = " | ".join(f"{100 * by_version[v][key].median_abs_error:.1f}% | {100 * by_version[v][key].within:.0f}%"
                           for v in names)
        lines.append(f"| {key[0]} | {key[1]} | {first.n} | {cells} |")
    return lines


def fit_lines(rows: Sequence[dict]) -> list[str]:
    """Median |error| and share within ±20 % of the rows that tuned the constants and of those that did not."""
    lines = ["| rows | points | median abs error | within ±20 % |", "|---|---|---|---|"]
    parts = {"calibration, fitted (tuned the constants)": [r for r in rows if r["fitted"] == "yes"],
             "calibration, added after the fit (tuned nothing)": [r for r in rows if r["set"] == "calibration"
                                                                  and r["fitted"] == "no"],
             "validation (tuned nothing)": [r for r in rows if r["set"] == "validation"]}
    for name, sel in parts.items():
        if sel:
            v = summarize(sel)
            lines.append(f"| {name} | {v.n} | {100 * v.median_abs_error:.1f}% | {100 * v.within:.0f}% |")
    return lines


def unfitted_lines(rows: Sequence[dict]) -> list[str]:
    """Per group, every row that tuned nothing (validation rows and calibration rows added after the fit)."""
    lines = ["| group | points | median abs error | within ±20 % |", "|---|---|---|---|"]
    free = [r for r in rows if r["fitted"] == "no"]
    for g in [*pv.GROUPS, "all"]:
        sel = [r for r in free if g == "all" or r["group"] == g]
        if sel:
            v = summarize(sel)
            lines.append(f"| {g} | {v.n} | {100 * v.median_abs_error:.1f}% | {100 * v.within:.0f}% |")
    return lines


def coverage_line(rows: Sequence[dict]) -> str:
    """What the points span: GPU types, engines, TP and PP degrees, precisions, models."""
    def values(key: str) -> str:
        return ", ".join(str(v) for v in sorted({r[key] for r in rows}, key=str))
    return (f"{len(rows)} points; GPUs: {values('gpu')}; engines: {values('engine')}; TP: {values('tp')}; "
            f"PP: {values('pp')}; precisions: {values('precision')}; models: {values('model')}.")


def _count_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def _version_lines(version: str, rows: Sequence[dict], summ: dict) -> list[str]:
    """One model version's section: its summary, the sensitivity summary and which rows tuned it."""
    prefix, why = SENSITIVITY
    rest = [r for r in rows if not r["engine"].startswith(prefix)]
    return [
        f"## Model {version}",
        "",
        *summary_lines(summ),
        "",
        f"### Model {version}, sensitivity: {why}",
        "",
        *(summary_lines(summaries(rest)) if rest else ["(no rows left)"]),
        "",
        f"### Which rows tuned model {version}'s constants",
        "",
        f"Its CALIBRATED constants were fitted on {FIT_NOTES[version]} (column `fitted`); no validation row tuned "
        "anything.",
        "",
        *fit_lines(rows),
        "",
        "Every row that tuned nothing, per group:",
        "",
        *unfitted_lines(rows),
        "",
    ]


def write_outputs(rows: dict[str, list[dict]], points: Sequence[pv.Point], summ: dict[str, dict], md_path: Path,
                  csv_path: Path, which: str) -> None:
    """``rows`` and ``summ`` per model version: the CSV holds every version's rows (column ``version``)."""
    md_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=ROW_FIELDS, lineterminator="\n")
        w.writeheader()
        for version_rows in rows.values():
            for r in version_rows:
                w.writerow({k: (repr(r[k]) if isinstance(r[k], float) else r[k]) for k in ROW_FIELDS})
    first = next(iter(rows.values()))
    args = ("" if which == "all" else " --set " + which) + ("" if len(rows) == 2 else " --model " + next(iter(rows)))
    text = [
        "# Performance model vs. sourced measurements",
        "",
        f"Made by `python scripts/perf_reference.py{args}` from "
        "`scripts/perf_points.csv` (sources, engine versions and how each figure was read are in that file) with "
        f"the shipped constants of performance model {' and '.join(rows)}, each point under its engine's profile "
        "and the KV-cache precision its source "
        "states (`unstated`: the profile's default). Error = model / measured − 1; a point the model cannot serve "
        "or that is past its capacity has an infinite latency error or a −100 % throughput error and counts as "
        "outside ±20 %. The mapping of each group to the model: `scripts/perf_validation.py`; split rule, groups "
        "and what the figures mean: docs/model.md \"How good is the model?\".",
        "",
        coverage_line(first),
        "",
        f"Points on GPUs or precisions outside the catalog are listed, not mapped, in "
        f"`scripts/{pv.UNCATALOGUED_CSV.name}` ({_count_rows(pv.UNCATALOGUED_CSV)} rows).",
        "",
        "## Summary" + (": " + " vs ".join(rows) if len(rows) > 1 else ""),
        "",
        *compare_lines(summ),
        "",
    ]
    for version, version_rows in rows.items():
        text += _version_lines(version, version_rows, summ[version])
    text += ["## Engines and the profile each runs under", "", *engine_lines(points), ""]
    for version, version_rows in rows.items():
        text += [f"## Per point, model {version}", "", *point_lines(version_rows), ""]
    md_path.write_text("\n".join(text), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> dict[str, dict[tuple[str, str], Summary]]:
    """Prints (and writes) the report; returns each version's summaries."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("calibration", "validation", "all"), default="all")
    ap.add_argument("--model", choices=(*VERSIONS, "both"), default="both", help="performance model version(s)")
    ap.add_argument("--points", type=Path, default=pv.POINTS_CSV)
    ap.add_argument("--out-md", type=Path, default=OUT_MD)
    ap.add_argument("--out-csv", type=Path, default=OUT_CSV)
    ap.add_argument("--no-write", action="store_true", help="print only; write no results files")
    args = ap.parse_args(argv)
    cat = pv.validation_catalog()
    points = [p for p in pv.load_points(args.points, cat) if args.set in ("all", p.set)]
    versions = VERSIONS if args.model == "both" else (args.model,)
    rows = {v: point_rows(points, cat, version=v) for v in versions}
    summ = {v: summaries(r) for v, r in rows.items()}
    for v in versions:
        print(f"model {v}:")
        print("\n".join(point_lines(rows[v])))
        print()
        print("\n".join(summary_lines(summ[v])))
        print()
    print("\n".join(compare_lines(summ)))
    if not args.no_write:
        write_outputs(rows, points, summ, args.out_md, args.out_csv, args.set)
        print(f"\nwrote {args.out_md} and {args.out_csv}")
    return summ


if __name__ == "__main__":
    main()
