"""``hetserve scenarios | inspect | demand | catalog``: look at scenarios and the catalog without solving anything."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from .catalog import TASKS, Catalog, load_catalog, merge_catalog
from .perf import BINDING_NAMES
from .scenario import builtin_scenarios, load_scenario


def _catalog_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", default=None, metavar="PATH",
                        help="your catalog (YAML file or folder of CSVs) merged over the bundled one (docs/your-own.md)")


def _catalog(path: str | None) -> Catalog | None:
    return None if path is None else merge_catalog(load_catalog(), path)


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
    _catalog_arg(parser)


def inspect_table(scenario_name: str, window: int | None = None, show_all: bool = False,
                  catalog: Catalog | None = None) -> tuple[pd.DataFrame, str]:
    """Templates with GPUs, $/h, and per query type capacity (req/s), zero-load latency (s), error rate and
    the binding limit."""
    sc = load_scenario(scenario_name, catalog)
    problem = sc.problem(window)
    tpl = sc.templates
    perf = sc.perf(problem.input_tokens, problem.output_tokens)
    df = pd.DataFrame({"template": problem.template_labels, "gpus": problem.gpus, "$/h": problem.cost})
    for i, t in enumerate(problem.type_names):
        df[f"mu[{t}]"] = np.round(problem.capacity[i], 2)
        df[f"lat[{t}]"] = np.where(problem.capacity[i] > 0, np.round(problem.latency[i], 2), np.nan)
        df[f"err[{t}]"] = np.round(problem.error[i], 3)
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
    df, head = inspect_table(args.scenario, args.window, args.all, _catalog(args.catalog))
    key = {"cost": "$/h", "label": "template", "gpus": "gpus"}[args.sort]
    print(head)
    with pd.option_context("display.width", 250, "display.max_rows", 2000, "display.max_columns", 100):
        print(df.sort_values([key, "template"]).to_string(index=False))
    print("mu = capacity of one replica (req/s, type alone); lat = zero-load end-to-end latency (s); "
          "err = error rate on the type's task (benchmark error x precision multiplier; SLO above); "
          "lim = the limit that sets mu (delay SLO, KV memory, prefill occupancy)")
    return 0


def add_arguments_demand(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="built-in scenario name or YAML path")
    _catalog_arg(parser)


#: ``DemandSeries.summary()`` column -> the printed header, with its unit
DEMAND_COLUMNS = {
    "split": "split", "type": "type", "days": "days", "windows": "windows",
    "rate_mean": "mean (req/s)", "rate_p50": "p50 (req/s)", "rate_p95": "p95 (req/s)", "rate_max": "max (req/s)",
    "input_tokens_mean": "input (tok/req)", "output_tokens_mean": "output (tok/req)",
    "filled_windows": "filled windows",
}


def run_demand(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario, _catalog(args.catalog))
    d = sc.demand
    print(f"scenario {sc.name}: {d.n_windows} windows of {d.window_s / 60:g} min over {len(d.days)} days; "
          f"splits " + ", ".join(f"{k}: days {list(v)}" for k, v in d.splits.items()))
    table = d.summary().rename(columns=DEMAND_COLUMNS).round(2)
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(table.to_string(index=False))
    print("rates: requests per second over the split's windows (mean, median, 95th percentile, max); "
          "tokens: request-weighted mean input / output tokens per request")
    if d.filled is not None and d.filled.any():
        print(f"note: {int(d.filled.sum())} (window, type) values were interpolated over data gaps")
    return 0


def add_arguments_catalog(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("part", nargs="?", default="all", choices=["all", "gpus", "models", "precisions"],
                        help="what to list (default: all)")
    _catalog_arg(parser)


def catalog_tables(cat: Catalog) -> dict[str, pd.DataFrame]:
    """The catalog's names and key figures: GPU types, models, precisions (the units are in the headers)."""
    gpus = pd.DataFrame([{"GPU": g.name, "memory (GB)": g.memory_gb, "bandwidth (GB/s)": g.bandwidth_gbs,
                          "FP16 (TFLOPS)": g.fp16_tflops, "link (GB/s)": g.link_gbs, "$/GPU-hour": g.price_per_hour,
                          "fp8": g.fp8, "default inventory": g.default_inventory} for g in cat.gpus.values()])
    models = pd.DataFrame([{"model": m.name, "family": m.family, "params (B)": m.params_b,
                            "active params (B)": m.active_params_b, "layers": m.layers, "KV heads": m.kv_heads,
                            "context (tok)": m.context,
                            **{f"err[{t}]": cat.base_error(m.name, t) for t in TASKS}}
                           for m in cat.models.values()])
    precs = pd.DataFrame([{"precision": p.name, "bytes/param": p.bytes_per_param, "compute factor": p.compute_factor,
                           "error multiplier": p.error_multiplier} for p in cat.precisions.values()])
    return {"gpus": gpus, "models": models, "precisions": precs}


def run_catalog(args: argparse.Namespace) -> int:
    cat = _catalog(args.catalog) or load_catalog()
    tables = catalog_tables(cat)
    parts = list(tables) if args.part == "all" else [args.part]
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        for part in parts:
            print(f"{part} ({len(tables[part])}):")
            print(tables[part].to_string(index=False))
            print()
    print("err[task] = benchmark error rate at FP16 (x the precision's error multiplier); sources of every row: "
          "hetserve_env/catalog/data/SOURCES.md" + (f"; merged: {args.catalog}" if args.catalog else ""))
    return 0
