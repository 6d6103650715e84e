#!/usr/bin/env python
"""Calibrate the forecast planners on the validation days and write what was chosen, and from what.

    python scripts/calibrate_planners.py [--scenario default] [--forecasters last,seasonal-naive,seasonal-max,holt-winters]
                                         [--choose-with gh] [--out results/planners/calibration]

For each forecaster (:mod:`baselines.forecast`): the Holt-Winters parameters fitted on the training days, the
headroom of every residual quantile level on the validation days, the mean validation episode cost of the planner
(``--choose-with``) at each, and the level kept (:func:`baselines.forecast_planner.calibrate`). Writes
``<out>.json`` and ``<out>.md``. The test days are not touched; ``hetserve compare --policies gh-seasonal-max,…``
runs the same calibration before scoring the planners on them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402

import hetserve_env  # noqa: E402,F401
from agents.compare import scenario_env  # noqa: E402
from baselines.forecast import FORECASTERS  # noqa: E402
from baselines.forecast_planner import LEVELS, calibrate  # noqa: E402


def markdown(rows: list[dict], command: str) -> str:
    head = ["forecaster", "parameters", *[f"q{q:g}: headroom / validation $" for q in LEVELS], "kept", "seconds"]
    lines = [f"# Forecast planners: calibration on the validation days", "", f"Command: `{command}`", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in r["forecaster_params"].items()) or "—"
        cells = [f"{100 * r['residual_quantiles'][str(q)]:.1f}% / {r['validation_cost'][str(q)]:,.2f}" for q in LEVELS]
        lines.append("| " + " | ".join([r["forecaster"], params, *cells,
                                         f"q{r['level']:g} ({100 * r['headroom']:.1f}%)",
                                         f"{r['calibration_s']:.0f}"]) + " |")
    lines += ["", "Headroom = max(0, quantile of actual / forecast − 1 over the validation windows and types); "
              "validation $ = mean episode cost over the validation days (exact replay) of the planner with "
              f"{rows[0]['chosen_with'].upper() if rows else 'GH'} at that headroom; kept = the cheapest level.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--forecasters", default=",".join(FORECASTERS))
    ap.add_argument("--choose-with", default="gh")
    ap.add_argument("--out", default="results/planners/calibration")
    args = ap.parse_args(argv)
    command = "python scripts/calibrate_planners.py " + " ".join(argv if argv is not None else sys.argv[1:])
    env_id, kw = scenario_env(args.scenario)
    env = gym.make(env_id, split="test", **kw)
    rows = []
    t0 = time.time()
    for name in [f.strip() for f in args.forecasters.split(",") if f.strip()]:
        _, settings = calibrate(env, name, choose_with=args.choose_with, log=print)
        print(f"{name}: {settings.line()}", flush=True)
        rows.append(settings.to_dict())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"command": command, "env_id": env_id, "planners": rows},
                                                   indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(rows, command))
    print(f"total {time.time() - t0:.0f} s; wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
