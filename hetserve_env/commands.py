"""``hetserve scenarios | inspect | demand``: look at scenarios without solving anything."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from .perf import BINDING_NAMES
from .scenario import builtin_scenarios, load_scenario


def add_arguments_scenarios(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--details", action="store_true", help="also build templates and demand (slower)")


def run_scenarios(args: argparse.Namespace) -> int:
    rows = []
    for name in builtin_scenarios():
        sc = load_scenario(name)
        row = {"scenario": name, "types": len(sc.query_types), "models": len(sc.models), "tiers": len(sc.tiers),
               "window_min": sc.window_s / 60, "budget_$/h": sc.budget}
        if args.details:
            row.update(templates=len(sc.templates), days=len(sc.demand.days))
        row["description"] = " ".join(sc.description.split())[:70] + ("…" if len(sc.description) > 70 else "")
        rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


def add_arguments_inspect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="built-in scenario name or YAML path")
    parser.add_argument("--window", type=int, default=None, help="window index (default: the static plan's demand)")
    parser.add_argument("--all", action="store_true", help="also list templates that serve no type")
    parser.add_argument("--sort", default="cost", choices=["cost", "label", "gpus"], help="row order")


def inspect_table(scenario_name: str, window: int | None = None, show_all: bool = False) -> tuple[pd.DataFrame, str]:
    """Templates with GPUs, $/h, capacity (req/s) and zero-load latency (s) per query type."""
    sc = load_scenario(scenario_name)
    problem = sc.problem(window)
    tpl = sc.templates
    perf = sc.perf(problem.input_tokens, problem.output_tokens)
    df = pd.DataFrame({"template": problem.template_labels, "gpus": problem.gpus, "$/h": problem.cost})
    for i, t in enumerate(problem.type_names):
        df[f"mu[{t}]"] = np.round(problem.capacity[i], 2)
        df[f"lat[{t}]"] = np.where(problem.capacity[i] > 0, np.round(problem.latency[i], 2), np.nan)
        df[f"lim[{t}]"] = [BINDING_NAMES[b] for b in perf.binding[i]]
    if not show_all:
        df = df[(problem.capacity > 0).any(axis=0)]
    head = (
        f"scenario {sc.name}: {problem.n_types} types, {len(tpl)} templates "
        f"({len(sc.models)} models x {len(sc.tiers)} tiers x TP{sc.tp} x PP{sc.pp}, dominated pruned: {sc.prune})\n"
        f"demand ({problem.name}): " + ", ".join(
            f"{t} {r:.2f} req/s in {h:.0f}/out {f:.0f} tok, SLO {s:g}s err<={e:g}"
            for t, r, h, f, s, e in zip(problem.type_names, problem.rate, problem.input_tokens,
                                        problem.output_tokens, problem.delay_slo, problem.error_slo))
    )
    return df, head


def run_inspect(args: argparse.Namespace) -> int:
    df, head = inspect_table(args.scenario, args.window, args.all)
    key = {"cost": "$/h", "label": "template", "gpus": "gpus"}[args.sort]
    print(head)
    with pd.option_context("display.width", 250, "display.max_rows", 2000, "display.max_columns", 100):
        print(df.sort_values([key, "template"]).to_string(index=False))
    print("mu = capacity of one replica (req/s, type alone); lat = zero-load end-to-end latency (s); "
          "lim = the limit that sets mu (delay SLO, KV memory, prefill occupancy)")
    return 0


def add_arguments_demand(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="built-in scenario name or YAML path")


def run_demand(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    d = sc.demand
    print(f"scenario {sc.name}: {d.n_windows} windows of {d.window_s / 60:g} min over {len(d.days)} days; "
          f"splits " + ", ".join(f"{k}: days {list(v)}" for k, v in d.splits.items()))
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(d.summary().to_string())
    if d.filled is not None and d.filled.any():
        print(f"note: {int(d.filled.sum())} (window, type) values were interpolated over data gaps")
    return 0
