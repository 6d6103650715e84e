"""``hetserve benchmark`` (hooked into :mod:`hetserve_env.cli`): the protocol of :mod:`agents.benchmark`."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .bench_stats import MissingExtra
from .policies import PolicyImportError

USER_ERRORS = (MissingExtra, PolicyImportError)


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .bench_protocol import DEFAULT_NOISE_SEEDS, NOISE_SIGMA
    from .bench_select import HEADROOM_GRID
    from .benchmark import DEFAULT_POLICIES

    parser.add_argument("policies", nargs="*", metavar="[GROUP=]POLICY",
                        help="policies: registered names (gh, agh, gh-headroom, …), model .zip paths, training run "
                             "directories, module:attr, or 'model' (the shipped agent); GROUP=… names a group, and "
                             "entries of one group are seeds of one policy (default: "
                             f"{' '.join(DEFAULT_POLICIES)})")
    parser.add_argument("--scenario", default="default", help="built-in scenario or YAML path (default: default)")
    parser.add_argument("--split", default="test", choices=["validation", "test"], help="days scored (default test)")
    parser.add_argument("--episodes", type=int, default=None, help="first N days of the split (default: all)")
    parser.add_argument("--noise-seeds", default=",".join(map(str, DEFAULT_NOISE_SEEDS)),
                        help="comma-separated; 0 = exact replay, s >= 1 = demand noise seeded by s (default 0,1,2)")
    parser.add_argument("--noise", type=float, default=NOISE_SIGMA,
                        help=f"σ of the log-normal demand noise of seeds >= 1 (default {NOISE_SIGMA:g})")
    parser.add_argument("--reference", default="hindsight",
                        help="the 100-point reference: hindsight (MILP bound), hindsight-lp, or policy:SPEC (a "
                             "stand-in: that policy's cost, not a bound)")
    parser.add_argument("--hindsight-time-limit", type=float, default=60.0, help="s per episode (default 60)")
    parser.add_argument("--selection", action="append", default=[], metavar="JSON",
                        help="a selection record (headroom or checkpoint chosen on validation days); repeatable")
    parser.add_argument("--headroom-grid", type=_floats, default=list(HEADROOM_GRID),
                        help="grid for -headroom policies without a record (chosen on validation days)")
    parser.add_argument("--milp-time-limit", type=float, default=10.0, help="MILP s per window (default 10)")
    parser.add_argument("--reps", type=int, default=10_000, help="bootstrap replicates (default 10000)")
    parser.add_argument("--no-intervals", action="store_true",
                        help="mean normalised scores only (no IQM/intervals; works without the benchmark extra)")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="reuse earlier runs and reference values from DIR when nothing they depend on changed "
                             "(settings, model files, package code), and store new ones there (default: no cache)")
    parser.add_argument("--out", default=None, help="output folder (default: a fresh runs/benchmark-YYYYmmdd-HHMMSS/)")


def run(args: argparse.Namespace) -> int:
    from hetserve_env.runs import resolve_out, run_marker

    from .bench_report import format_scorecard, write_scorecard
    from .bench_select import Selection
    from .benchmark import DEFAULT_POLICIES, benchmark

    from .bench_protocol import check_noise_seeds, check_sigma
    from .bench_stats import require_iqm

    if not args.no_intervals:
        require_iqm()  # say what to install before a run folder is made
    seeds = check_noise_seeds([s.strip() for s in args.noise_seeds.split(",") if s.strip()])
    check_sigma(args.noise, seeds)
    selections = [Selection.read(p) for p in args.selection]
    out = resolve_out(args.out, "benchmark")
    command = " ".join(["hetserve benchmark", *(shlex.quote(a) for a in sys.argv[2:])])
    with run_marker(out, command) as folder:
        res = benchmark(args.scenario, tuple(args.policies) or DEFAULT_POLICIES, noise_seeds=seeds, noise=args.noise,
                        split=args.split, episodes=args.episodes, reference=args.reference, selections=selections,
                        headroom_grid=args.headroom_grid, intervals=not args.no_intervals, reps=args.reps,
                        milp_time_limit=args.milp_time_limit, hindsight_time_limit=args.hindsight_time_limit,
                        command=command, cache_dir=args.cache)
        files = write_scorecard(res, folder)
    print()
    print(format_scorecard(res["table"]))
    print(f"\nwrote {out}/ ({', '.join(Path(f).name for f in files.values())}) in {res['wall_s'] / 60:.1f} min")
    return 0
