"""``hetserve solve TARGET --method gh|agh|milp ...``: solve one static problem and print the plan.

TARGET is a built-in scenario name or a scenario YAML path (its static peak problem, or one window with
``--window K``), a Problem JSON file (``Problem.to_json``), or a synthetic instance spec such as
``instance:20x20x20:seed=1``. The command prints the fleet (template, replicas, GPUs, $/h), the routing table
(share of each type per template, and unmet), the cost breakdown and the runtime; ``--out FILE`` writes the
Allocation plus the solution metadata as JSON (``kind: hetserve.Solution``; its ``allocation`` entry is a
``hetserve.Allocation`` that ``Allocation.from_json`` reads back after extraction).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from hetserve_env.cli import positive_int
from hetserve_env.problem import Problem

from . import Solution, solve
from .solution import SolverError
from .registry import get_solver, solver_names


#: besides ValueError and FileNotFoundError, user errors of ``hetserve solve`` (one line, exit 2)
USER_ERRORS = (SolverError,)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hetserve solve``: methods from :mod:`baselines.registry`; a solver option left out is not
    passed, so the solver's own default applies (:func:`baselines.default_options`; PuLP is not imported
    to read them)."""
    parser.add_argument("target", metavar="TARGET",
                        help="scenario name or YAML path, Problem JSON path, or instance spec like instance:20x20x20:seed=1")
    parser.add_argument("--method", choices=solver_names(), default="agh",
                        help=f"solver: {', '.join(solver_names())} (default: agh)")
    parser.add_argument("--solver", choices=("cbc", "highs"), default=None, help="MILP solver (default: the MILP's own)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="S",
                        help="MILP time limit in seconds (default: the MILP's own)")
    parser.add_argument("--gap", type=float, default=None, metavar="G", help="MILP relative gap (default: the MILP's own)")
    parser.add_argument("--no-warm-start", action="store_true", help="MILP: do not start from AGH's allocation")
    parser.add_argument("--window", type=int, default=None, metavar="K",
                        help="scenario window to solve (default: the static peak problem)")
    parser.add_argument("--seed", type=int, default=None, metavar="S", help="AGH seed (random starts; default: AGH's own)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the allocation and solution metadata as JSON")
    parser.add_argument("--explain", action="store_true", help="print the decision log (GH/AGH)")
    parser.add_argument("--max-rows", type=positive_int, default=40, metavar="N", help="rows shown per table (default 40)")


add_arguments_solve = add_arguments


def load_target(target: str, window: int | None = None) -> Problem:
    """The Problem named by TARGET (see the module docstring)."""
    t = str(target).strip()
    if t.startswith("instance:"):
        if window is not None:
            raise ValueError("--window applies to scenarios, not to synthetic instances")
        from baselines.instances import parse_spec

        return parse_spec(t)
    p = Path(t)
    if p.suffix.lower() == ".json":
        if not p.exists():
            raise FileNotFoundError(f"Problem JSON {t!r} does not exist")
        if window is not None:
            raise ValueError("--window applies to scenarios, not to a Problem JSON")
        return Problem.from_json(p)
    from hetserve_env.scenario import load_scenario

    return load_scenario(t).problem(window=window)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given that the chosen solver takes (by its option names); the rest keep the solver's defaults."""
    given = {"solver": args.solver, "time_limit": args.time_limit, "gap": args.gap,
             "warm_start": False if args.no_warm_start else None, "explain": True if args.explain else None,
             "seed": args.seed}
    accepted = get_solver(args.method).options()
    return {k: v for k, v in given.items() if k in accepted and v is not None}


def _table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    widths = [max(len(str(r[k])) for r in [header] + rows) for k in range(len(header))]
    fmt = lambda r: "  ".join(str(c).rjust(w) if k in right else str(c).ljust(w) for k, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def format_solution(problem: Problem, sol: Solution, max_rows: int = 40) -> str:
    """The human-readable report printed by ``hetserve solve``."""
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError(f"max_rows must be an integer >= 1, got {max_rows!r}")
    out = [f"problem   {problem.name}: {problem.n_types} types, {problem.n_templates} templates, "
           f"budget {'none' if not math.isfinite(problem.budget) else f'${problem.budget:.2f}/h'}"]
    line = f"method    {sol.method}  status {sol.status}  runtime {sol.runtime_s:.3f} s"
    if sol.best_bound is not None:
        line += f"  best bound ${sol.best_bound:.4f}/h"
    if sol.gap is not None:
        line += f"  gap {100 * sol.gap:.3f}%"
    out.append(line)
    over = sol.stats.get("time_limit_overrun_s")
    if over is not None:
        out.append(f"WARNING   time limit overrun: +{over:.2f} s past the {sol.stats.get('time_limit'):g} s limit")
    if sol.allocation is not None and sol.reason:
        out.append(f"note      {sol.reason}")
    if sol.allocation is None or sol.evaluation is None:
        out.append(f"no feasible allocation: {sol.reason}")
        return "\n".join(out)
    a, ev = sol.allocation, sol.evaluation
    used = np.flatnonzero(a.replicas > 0)
    rows = [[problem.template_labels[d], str(int(a.replicas[d])), str(int(a.replicas[d] * problem.gpus[d])),
             f"{a.replicas[d] * problem.cost[d]:.3f}", f"{ev.utilisation[d]:.2f}"] for d in used]
    out += ["", "fleet", _table(["template", "replicas", "GPUs", "$/h", "util"], rows[:max_rows], {1, 2, 3, 4})]
    if len(rows) > max_rows:
        out.append(f"... {len(rows) - max_rows} more")
    out.append(f"total: {int(a.replicas.sum())} replicas on {int((a.replicas * problem.gpus).sum())} GPUs "
               f"(" + ", ".join(f"{g} {int(n)}" for g, n in zip(problem.gpu_names, ev.gpus_by_type) if n > 0) + ")")
    routed = np.flatnonzero(a.routing.sum(axis=0) > 1e-9)
    header = ["type", "rate/s", "unmet", "mean err"] + [f"[{k}]" for k in range(len(routed))]
    rrows = []
    for i, name in enumerate(problem.type_names):
        rrows.append([name, f"{problem.rate[i]:.3f}", f"{a.unmet[i]:.3f}", f"{ev.mean_error[i]:.3f}"]
                     + [f"{a.routing[i, d]:.3f}" if a.routing[i, d] > 1e-9 else "." for d in routed])
    out += ["", "routing (share of each type per template)",
            _table(header, rrows[:max_rows], set(range(1, len(header))))]
    out += [f"  [{k}] {problem.template_labels[d]}" for k, d in enumerate(routed)]
    b = ev.breakdown()
    out += ["", "cost ($/h)"] + [f"  {k:<14}{v:>12.4f}" for k, v in b.items()]
    return "\n".join(out)


def _memory_rule_words(c: Any) -> str:
    """The engine's memory rule in words (docs/model.md §3; :func:`hetserve_env.perf.kv_space_bytes`)."""
    if c.memory_rule == "total":
        return f"{c.memory_utilisation:g} x the replica's GPU memory for weights, activations and KV cache"
    return f"KV cache in {c.memory_utilisation:g} of the GPU memory left after weights and activations"


def _memory_need(spec: Any, gpu: Any, prec: Any, n_gpus: int, c: Any) -> str:
    """Why one (model, tier, TP x PP) does not fit: the same inequality as :func:`build_templates`, in GB."""
    from hetserve_env.perf import GB, kv_value_factor
    from hetserve_env.templates import MIN_KV_TOKENS

    kv = MIN_KV_TOKENS * spec.kv_bytes_per_token * float(kv_value_factor(np.array(prec.compute_factor_on(gpu)), c)) / GB
    w, act, mem, eta = spec.weight_gb(prec), n_gpus * c.activation_reserve_gb, n_gpus * gpu.memory_gb, c.memory_utilisation
    if c.memory_rule == "total":
        return (f"needs {w + act + kv:.1f} GB = weights {w:.1f} + activations {act:g} + KV {kv:.1f} "
                f"> {eta:g} x {n_gpus} x {gpu.memory_gb:g} GB = {eta * mem:.1f} GB")
    return (f"needs {w + act + kv / eta:.1f} GB = weights {w:.1f} + activations {act:g} + KV {kv:.1f} / {eta:g} "
            f"> {n_gpus} x {gpu.memory_gb:g} GB = {mem:.1f} GB")


def template_filter_lines(target: str, max_examples: int = 3) -> list[str]:
    """``--explain`` on a scenario: how its templates were generated — the (model, tier, TP, PP) combinations
    dropped because the weights do not fit in memory (``[memory]``), by the parallelism rules, and by dominance
    pruning (``[templates]``). Empty for a Problem JSON or a synthetic instance (their templates are given)."""
    t = str(target).strip()
    if t.startswith("instance:") or Path(t).suffix.lower() == ".json":
        return []
    from itertools import product

    from hetserve_env.scenario import load_scenario
    from hetserve_env.templates import MIN_KV_TOKENS, build_templates

    sc = load_scenario(t)
    cat, c = sc.catalog, sc.constants
    rule: list[str] = []
    memory: list[str] = []
    n_combos = 0
    for model, (g, prec), n, m in product(sc.models, sc.tiers, sc.tp, sc.pp):
        n_combos += 1
        spec, gpu, pr = cat.model(model), cat.gpu(g), cat.precision(prec)
        label = f"{model}@{g}/{prec} TP{n} PP{m}"
        if n > gpu.gpus_per_node or spec.q_heads % n or m > spec.layers:
            rule.append(label)
            continue
        try:
            build_templates(cat, [model], [(g, prec)], tp=[n], pp=[m], constants=sc.constants)
        except ValueError:
            memory.append(f"{label} ({_memory_need(spec, gpu, pr, n * m, c)})")
    built = build_templates(cat, sc.models, sc.tiers, sc.tp, sc.pp, sc.constants).labels
    kept = set(sc.templates.labels)
    pruned = [lab for lab in built if lab not in kept]

    def ex(items: list[str]) -> str:
        if not items:
            return ""
        more = f", +{len(items) - max_examples} more" if len(items) > max_examples else ""
        return ": " + ", ".join(items[:max_examples]) + more

    return [
        f"[templates] scenario {sc.name}: {len(sc.models)} models x {len(sc.tiers)} tiers x TP {sc.tp} x PP {sc.pp} "
        f"= {n_combos} combinations -> {len(kept)} templates",
        f"[memory] {len(memory)} dropped because weights + activations ({c.activation_reserve_gb:g} GB per GPU) + "
        f"{MIN_KV_TOKENS} KV-cache tokens do not fit the memory engine {c.engine!r} gives them "
        f"({_memory_rule_words(c)}){ex(memory)}",
        f"[templates] {len(rule)} dropped by the parallelism rules (TP <= GPUs per node, TP divides the attention "
        f"heads, PP <= layers){ex(rule)}",
        f"[templates] {len(pruned)} pruned as dominated (same model, precision and GPU type, no more GPUs, at least "
        f"the capacity and at most the latency for every type) or serving no type"
        + ("" if sc.prune else " (pruning off)") + ex(pruned),
    ]


def run(args: argparse.Namespace) -> int:
    problem = load_target(args.target, args.window)
    sol = solve(problem, args.method, **_options(args))
    print(format_solution(problem, sol, args.max_rows))
    if args.explain and sol.log:
        print("\ndecision log")
        pre = template_filter_lines(args.target) if args.method in ("gh", "agh") else []
        print("\n".join("  " + line for line in pre + list(sol.log)))
    if args.out:
        data = sol.to_dict()
        data["problem"] = problem.name
        Path(args.out).write_text(json.dumps(data, indent=2))
        print(f"\nwrote {args.out}")
    return 0 if sol.feasible else 1


run_solve = run
