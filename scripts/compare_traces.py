"""How each policy of a ``hetserve compare`` run moves its fleet, from the run's per-step traces.

For every policy: the share of windows whose billed GPU count changes, the correlation of that change with the
demand change of the previous window (reacting) and of the same window (anticipating), and the demand served per
billed GPU (req/s per GPU, a measure of headroom). docs/agents.md quotes these for ``results/compare``:

    python scripts/compare_traces.py results/compare/traces.csv
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

NEEDED = {"policy", "day", "step", "gpus", "demand_rps"}


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation, or None where it is undefined (a constant fleet or demand has no variance)."""
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def fleet_moves(traces: pd.DataFrame) -> pd.DataFrame:
    """One row per policy: change share, correlation with last/this window's demand change (None when undefined),
    demand per GPU."""
    missing = NEEDED - set(traces.columns)
    if missing:
        raise ValueError(f"traces lack column(s) {sorted(missing)}; a hetserve compare traces.csv has them")
    rows = []
    for policy, g in traces.groupby("policy", sort=False):
        d_gpus, d_now, d_prev, changed = [], [], [], []
        for _, day in g.groupby("day"):
            day = day.sort_values("step")
            dg, dd = np.diff(day["gpus"].to_numpy(float)), np.diff(day["demand_rps"].to_numpy(float))
            changed.append(dg != 0)
            d_gpus.append(dg[1:])
            d_now.append(dd[1:])
            d_prev.append(dd[:-1])
        dg, now, prev = (np.concatenate(a) for a in (d_gpus, d_now, d_prev))
        rows.append({"policy": policy, "windows_changing_fleet_pct": 100 * float(np.mean(np.concatenate(changed))),
                     "corr_with_last_demand_change": _corr(dg, prev),
                     "corr_with_this_demand_change": _corr(dg, now),
                     "demand_rps_per_gpu": float(g["demand_rps"].sum() / g["gpus"].sum())})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("traces", help="traces.csv of a hetserve compare run")
    args = parser.parse_args(argv)
    try:
        table = fleet_moves(pd.read_csv(args.traces))
    except (OSError, ValueError) as exc:
        sys.exit(f"compare_traces: {exc}")
    print(table.to_string(index=False, na_rep="n/a", float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
