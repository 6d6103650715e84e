"""Fit the CALIBRATED constants of the performance model on the calibration rows of scripts/perf_points.csv
(never on the validation rows).

    python scripts/perf_calibrate.py --fit    # coordinate search on the calibration rows; prints the values
    python scripts/perf_calibrate.py          # the loss and per-group summary with the shipped constants

Every point is mapped as in the validation report (scripts/perf_validation.py: its engine's profile, its stated
KV precision, ``operating_point`` under load); the report itself is scripts/perf_reference.py. The shipped
constants were fitted by ``--fit`` at commit 80dc5f5, when the file held its first 61 rows (``fitted`` column of
results/perf_validation.csv); a re-fit must start from a clean run on calibration rows only and say so.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perf_reference as pr  # noqa: E402
import perf_validation as pv  # noqa: E402

from hetserve_env.perf import PerfConstants  # noqa: E402

#: What --fit may change, with its bounds (every other constant is sourced or an ESTIMATE left alone).
FIT = {
    "ttft_overhead_s": (0.0, 0.05), "step_overhead_s": (0.0, 0.01), "mbu_decode": (0.4, 0.95),
    "mbu_kv": (0.4, 1.0), "mfu_decode": (0.2, 1.0), "mfu_prefill_hopper": (0.2, 0.9),
    "mfu_prefill_ampere": (0.2, 0.9), "mfu_prefill_ada": (0.2, 0.9), "allreduce_latency_nvlink_s": (0.0, 1e-4),
    "weight_only_decode_old": (0.3, 1.0), "prefill_tokens_half": (0.0, 4096.0),
    "tp_gemm_overhead": (0.0, 1.0),
}
MISS = 3.0  # loss of a point the model cannot serve (|log error| of a factor e^3)


def loss(points, catalog, overrides) -> float:
    """Mean over groups of (median + half the mean) of |log(model / measured)| of its points (MISS for an
    unservable point); per group, so the large saturated-throughput group does not drown the others."""
    by_group: dict[str, list[float]] = {}
    for p in points:
        v = pv.predict(p, catalog, overrides).value
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="search the FIT constants on the calibration rows")
    ap.add_argument("--rounds", type=int, default=4, help="coordinate-search rounds (default 4, as shipped)")
    args = ap.parse_args(argv)
    catalog = pv.validation_catalog()
    points = pv.load_points(catalog=catalog)
    cal = [p for p in points if p.set == "calibration"]
    overrides = None
    if args.fit:
        overrides = fit(points, catalog, rounds=args.rounds)
        print("fitted:", ", ".join(f"{k}={v:.4g}" for k, v in overrides.items()))
    print(f"calibration loss {loss(cal, catalog, overrides):.4f} over {len(cal)} calibration rows")
    rows = [r for r in pr.point_rows(points, catalog, overrides) if r["set"] == "calibration"]
    print("\n".join(pr.summary_lines(pr.summaries(rows))))


if __name__ == "__main__":
    main()
