"""Fit the CALIBRATED constants of the performance model on the calibration rows of scripts/perf_points.csv
(never on the validation rows).

    python scripts/perf_calibrate.py --fit                 # model v1's fit (FIT, first 61 rows' calibration rows)
    python scripts/perf_calibrate.py --fit --version v2 --rounds 6   # model v2's fit (FIT_V2), ALL calibration rows
    python scripts/perf_calibrate.py [--version v2]        # the loss and per-group summary with the shipped constants

Every point is mapped as in the validation report (scripts/perf_validation.py: its engine's profile, its stated
KV precision, ``operating_point`` under load); the report itself is scripts/perf_reference.py. The shipped
constants were fitted by ``--fit`` at commit 80dc5f5, when the file held its first 61 rows (``fitted`` column of
results/perf_validation.csv); a re-fit must start from a clean run on calibration rows only and say so.
Model v2's constants (``PERF_V2`` in hetserve_env/perf/constants.py) were fitted by ``--fit --version v2 --rounds 6`` on all
calibration rows of the file, starting from the v1 values, each point's |log error| beyond CAP counted at a
quarter (robust: a handful of rows the model cannot describe, e.g. TGI 1.0.3 at TP 8 on a 7B model, cannot
drag the rest).
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

from hetserve_env.perf import PERF_SETS, PerfConstants  # noqa: E402

#: What --fit may change, with its bounds (every other constant is sourced or an ESTIMATE left alone).
FIT = {
    "ttft_overhead_s": (0.0, 0.05), "step_overhead_s": (0.0, 0.01), "mbu_decode": (0.4, 0.95),
    "mbu_kv": (0.4, 1.0), "mfu_decode": (0.2, 1.0), "mfu_prefill_hopper": (0.2, 0.9),
    "mfu_prefill_ampere": (0.2, 0.9), "mfu_prefill_ada": (0.2, 0.9), "allreduce_latency_nvlink_s": (0.0, 1e-4),
    "weight_only_decode_old": (0.3, 1.0), "prefill_tokens_half": (0.0, 4096.0),
    "tp_gemm_overhead": (0.0, 1.0),
}
#: Model v2 fits these (bounded): FIT plus the constants v1 left at an ESTIMATE that calibration rows now cover
#: (weight-only prefill on old GPUs, PCIe all-reduce), v2's eager-prefill launch time per layer and its host and
#: closed-loop terms. The FP8 speed-up is not fitted: it keeps its sourced value (docs/model.md "Model v2").
#: Large prefill GEMMs run at >= 40 % of peak on every generation (bound; an earlier v2 variant's search, trading
#: the L4 server-overhead TTFT row wmx-02, 27 ms for a 0.5B model, against the L40S TTFT rows, ended at an
#: implausible 25 % on Ada).
FIT_V2 = {
    **FIT, **{f"mfu_prefill_{a}": (0.4, 0.9) for a in ("hopper", "ampere", "ada")},
    "weight_only_prefill_old": (0.2, 1.0), "allreduce_latency_pcie_s": (0.0, 5e-4), "prefill_layer_overhead_s": (0.0, 1e-3),
    # serial host work of engines without overlap (per running sequence per step: at most 0.5 ms; in TTFT: at most
    # 50 ms) and the share of closed-loop clients in step (a share)
    "host_per_seq_s": (0.0, 5e-4), "host_ttft_s": (0.0, 0.05), "closed_loop_sync": (0.0, 1.0),
}
FITS = {"v1": FIT, "v2": FIT_V2}
MISS = 3.0  # loss of a point the model cannot serve (|log error| of a factor e^3)
CAP = {"v1": MISS, "v2": math.log(2.0)}  # |log error| beyond which a point counts with slope SLOPE (v2: a factor 2)
SLOPE = {"v1": 1.0, "v2": 0.25}


def loss(points, catalog, overrides, cap: float = MISS, slope: float = 1.0) -> float:
    """Mean over groups of (median + half the mean) of |log(model / measured)| of its points, beyond ``cap``
    counted with ``slope`` (robust, yet every point keeps pulling; an unservable point counts as MISS); per
    group, so the large saturated-throughput group does not drown the others. v1's cap MISS = no change."""
    by_group: dict[str, list[float]] = {}
    for p in points:
        v = pv.predict(p, catalog, overrides).value
        e = abs(math.log(v / p.value)) if 0 < v < math.inf else MISS
        by_group.setdefault(p.group, []).append(e if e <= cap else cap + slope * (e - cap))
    # the target statistic (each group's median) plus half the mean, which keeps the search smooth
    return float(np.mean([np.median(v) + 0.5 * np.mean(v) for v in by_group.values()]))


def fit(points, catalog, rounds: int = 4, version: str = "v1") -> dict:
    """Coordinate search over ``FITS[version]`` on ``points`` (calibration rows only), from model v1's values
    (with the version's switches on), never from the version's shipped values."""
    cal = [p for p in points if p.set == "calibration"]
    space, cap = FITS[version], CAP[version]
    base = PerfConstants()  # every fit starts from model v1's values (reproducible whatever PERF_V2 holds)
    best = {k: getattr(base, k) for k in space}
    if version != "v1":
        best["version"] = version  # the version's switches; its fitted values are what the search replaces
        # a shipped value outside the search space must not leak in: it keeps v1's value (a sourced constant)
        best.update({k: getattr(base, k) for k, v in PERF_SETS[version].items()
                     if k not in space and not isinstance(v, (bool, str))})
    best_loss = loss(cal, catalog, best, cap, SLOPE[version])
    for r in range(rounds):
        step = 0.5 / (r + 1)
        for k, (lo, hi) in space.items():
            for mult in (1 - step, 1 - step / 2, 1 + step / 2, 1 + step):
                start = best[k] if best[k] > 0 else 0.1 * hi  # a constant at 0 is tried from a tenth of its bound
                trial = dict(best, **{k: float(min(max(start * mult, lo), hi))})
                val = loss(cal, catalog, trial, cap, SLOPE[version])
                if val < best_loss - 1e-9:
                    best, best_loss = trial, val
        print(f"round {r + 1}: calibration mean |log error| {best_loss:.4f}", flush=True)
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="search the FIT constants on the calibration rows")
    ap.add_argument("--rounds", type=int, default=4, help="coordinate-search rounds (default 4: v1 as shipped; v2 was fitted with 6)")
    ap.add_argument("--version", choices=tuple(FITS), default="v1", help="performance model version (default v1)")
    args = ap.parse_args(argv)
    catalog = pv.validation_catalog()
    points = pv.load_points(catalog=catalog)
    if args.fit and args.version == "v1":
        points = [p for p in points if p.id in pv.fitted_ids()]  # v1 was fitted on the first rows' calibration rows
    cal = [p for p in points if p.set == "calibration"]
    overrides = {"version": args.version}
    if args.fit:
        overrides = fit(points, catalog, rounds=args.rounds, version=args.version)
        print("fitted:", ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in overrides.items()))
    print(f"calibration loss {loss(cal, catalog, overrides, CAP[args.version], SLOPE[args.version]):.4f} over {len(cal)} calibration rows")
    rows = [r for r in pr.point_rows(points, catalog, overrides, args.version) if r["set"] == "calibration"]
    print("\n".join(pr.summary_lines(pr.summaries(rows))))


if __name__ == "__main__":
    main()
