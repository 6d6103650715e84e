"""Fit the CALIBRATED constants of the performance model on the calibration rows of scripts/perf_points.csv
(never on the validation rows), and print the engine-aware error summary of both sets.

    python scripts/perf_calibrate.py          # per-point errors and per-group summary with the shipped constants
    python scripts/perf_calibrate.py --fit    # coordinate search on the calibration rows; prints the values
    python scripts/perf_calibrate.py --readme-points   # the README's four reference points

Engine-aware mapping (scripts/perf_validation.py is the engine-blind one of scripts/perf_reference.py): each point
runs under its engine's profile (TensorRT-LLM -> ``trtllm``, SGLang -> ``sglang``, anything else -> ``vllm``)
with its measured KV precision; TTFT and ITL under load come from :func:`hetserve_env.perf.operating_point`,
saturated throughput from the capacity at an unbounded delay SLO.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perf_reference as pr  # noqa: E402
import perf_validation as pv  # noqa: E402

from hetserve_env.perf import PerfConstants, evaluate_templates, operating_point  # noqa: E402
from hetserve_env.templates import build_templates  # noqa: E402

#: What --fit may change, with its bounds (every other constant is sourced or an ESTIMATE left alone).
FIT = {
    "ttft_overhead_s": (0.0, 0.05), "step_overhead_s": (0.0, 0.01), "mbu_decode": (0.4, 0.95),
    "mbu_kv": (0.4, 1.0), "mfu_decode": (0.2, 1.0), "mfu_prefill_hopper": (0.2, 0.9),
    "mfu_prefill_ampere": (0.2, 0.9), "mfu_prefill_ada": (0.2, 0.9), "allreduce_latency_nvlink_s": (0.0, 1e-4),
    "weight_only_decode_old": (0.3, 1.0), "prefill_tokens_half": (0.0, 4096.0),
    "tp_gemm_overhead": (0.0, 1.0),
}
MISS = 3.0  # loss of a point the model cannot serve (|log error| of a factor e^3)


def engine_of(point: pv.Point) -> str:
    name = point.engine.lower()
    return "trtllm" if name.startswith("tensorrt") else "sglang" if name.startswith("sglang") else "vllm"


def predict(point: pv.Point, catalog, overrides: dict | None = None) -> pv.Prediction:
    """The model's value of ``point.metric`` under the point's engine, KV precision and load."""
    c = PerfConstants.from_mapping(overrides or {}, engine=engine_of(point))
    c = replace(c, kv_precision="fp8" if point.kv_precision == "fp8" else "fp16")
    latency = point.unit == "ms"
    try:
        t = build_templates(catalog, [point.model], [(point.gpu, pv.PRECISIONS[point.precision])],
                            tp=[point.tp], pp=[point.pp], constants=c)
    except ValueError:
        return pv.Prediction(math.inf if latency else 0.0, "no_template")
    h, f = np.array([point.input_tokens]), np.array([point.output_tokens])
    perf = evaluate_templates(t.hardware, h, f, np.array([pv.SLO_UNBOUNDED_S]), c)
    if perf.capacity_rps[0, 0] <= 0:
        return pv.Prediction(math.inf if latency else 0.0, "unservable")
    g = point.group
    if g == "ttft":
        return pv.Prediction(1e3 * float(perf.ttft_s[0, 0]), "ok")
    if g == "single_stream_decode":
        itl = float(perf.itl_s[0, 0])
        return pv.Prediction(1.0 / itl if point.metric == "decode_speed" else 1e3 * itl, "ok")
    if g in ("saturated_throughput", "offline_burst"):
        mu = float(perf.capacity_rps[0, 0])
        return pv.Prediction(mu * (point.output_tokens if point.metric == "output_throughput" else 1.0), "ok")
    load = {"rate": np.array([point.request_rate])} if g in ("fixed_rate", "ttft_under_load") else \
        {"concurrency": np.array([point.concurrency])}
    op = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in operating_point(t.hardware, h, f, constants=c, **load).items()}
    values = {"ttft": 1e3 * op["ttft_s"], "tpot": 1e3 * op["itl_s"], "itl": 1e3 * op["itl_s"],
              "e2e_latency": 1e3 * op["e2e_s"], "output_throughput": op["output_tok_s"]}
    value = values[point.metric]
    return pv.Prediction(value, "ok" if math.isfinite(value) else "overloaded")


def rows_for(points, catalog, overrides=None) -> list[dict]:
    rows = []
    for p in points:
        pred = predict(p, catalog, overrides)
        rows.append({"id": p.id, "set": p.set, "group": p.group, "error": pv.relative_error(pred.value, p.value),
                     "measured": p.value, "model_value": pred.value, "status": pred.status, "gpu": p.gpu,
                     "model": p.model, "engine": engine_of(p), "tp": p.tp, "precision": p.precision,
                     "in_out": f"{p.input_tokens:g}/{p.output_tokens:g}", "metric": p.metric})
    return rows


def loss(points, catalog, overrides) -> float:
    """Mean over groups of (median + half the mean) of |log(model / measured)| of its points (MISS for an
    unservable point); per group, so the large saturated-throughput group does not drown the others."""
    by_group: dict[str, list[float]] = {}
    for p in points:
        v = predict(p, catalog, overrides).value
        by_group.setdefault(p.group, []).append(abs(math.log(v / p.value)) if 0 < v < math.inf else MISS)
    # the target statistic (each group's median) plus half the mean, which keeps the search smooth
    return float(np.mean([np.median(v) + 0.5 * np.mean(v) for v in by_group.values()]))


def fit(points, catalog, rounds: int = 4) -> dict:
    """Coordinate search over FIT on ``points`` (calibration rows only)."""
    cal = [p for p in points if p.set == "calibration"]
    base = PerfConstants()
    best = {k: getattr(base, k) for k in FIT}
    best_loss = loss(cal, catalog, best)
    for r in range(rounds):
        step = 0.5 / (r + 1)
        for k, (lo, hi) in FIT.items():
            for mult in (1 - step, 1 - step / 2, 1 + step / 2, 1 + step):
                start = best[k] if best[k] > 0 else 0.1 * hi  # a constant at 0 is tried from a tenth of its bound
                trial = dict(best, **{k: float(min(max(start * mult, lo), hi))})
                val = loss(cal, catalog, trial)
                if val < best_loss - 1e-9:
                    best, best_loss = trial, val
        print(f"round {r + 1}: calibration mean |log error| {best_loss:.4f}", flush=True)
    return best


#: The README's four reference points (v0's scripts/perf_reference.py): model, GPU, TP, measured single-stream
#: tok/s, measured max output tok/s at ShareGPT-like 230 in / 200 out (sources in README "How realistic ...").
README_POINTS = [("Llama-3.1-8B", "H100-SXM", 1, 128.0, 12553.0), ("Llama-3.1-70B", "H100-SXM", 4, 51.6, 3700.6)]


def readme_points() -> None:
    """Single-stream decode (1 / zero-load ITL) and max output tok/s (capacity x 200 at an unbounded SLO) of the
    README's two templates under the default (vLLM) constants."""
    cat = pv.validation_catalog()
    for model, gpu, tp, single, peak in README_POINTS:
        t = build_templates(cat, [model], [(gpu, "fp16")], tp=[tp])
        perf = evaluate_templates(t.hardware, np.array([230.0]), np.array([200.0]), np.array([pv.SLO_UNBOUNDED_S]))
        tok_s, max_out = 1.0 / float(perf.itl_s[0, 0]), float(perf.capacity_rps[0, 0]) * 200.0
        print(f"{t.label(0):38s} single stream {tok_s:7.1f} tok/s (measured {single:g}, {tok_s / single:.2f})   "
              f"max output {max_out:7.0f} tok/s (measured {peak:g}, {max_out / peak:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--set", choices=("calibration", "validation", "all"), default="all", help="rows to print")
    ap.add_argument("--readme-points", action="store_true", help="only the README's four reference points")
    args = ap.parse_args()
    if args.readme_points:
        readme_points()
        return
    catalog = pv.validation_catalog()
    points = pv.load_points(catalog=catalog)
    overrides = None
    if args.fit:
        overrides = fit(points, catalog)
        print("fitted:", ", ".join(f"{k}={v:.4g}" for k, v in overrides.items()))
    rows = [r for r in rows_for(points, catalog, overrides) if args.set in ("all", r["set"])]
    for r in rows:
        print(f"{r['id']:12s} {r['set']:11s} {r['group']:21s} {r['engine']:6s} {r['gpu']:9s} {r['model']:14s} "
              f"{r['precision']:5s} TP{r['tp']} {r['in_out']:>10s} {r['metric']:17s} {r['measured']:10.4g} "
              f"{r['model_value']:10.4g} {100 * r['error']:+6.0f}% {r['status']}")
    print("\n".join(pr.summary_lines(pr.summaries(rows))))


if __name__ == "__main__":
    main()
