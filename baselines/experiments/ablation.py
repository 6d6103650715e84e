"""Ablation: GH and AGH with one of the mechanisms M1/M2/M3 switched off."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from hetserve_env.allocation import evaluate
from hetserve_env.problem import Problem

from .planning import method_label, plan
from .tables import Progress, Table, fmt, mean_finite, say


ABLATION_VARIANTS: dict[str, dict[str, bool]] = {
    "full": {}, "no M1": {"m1": False}, "no M2": {"m2": False}, "no M3": {"m3": False},
}


def ablation(instances: Sequence[tuple[str, Problem]], methods: Sequence[str] = ("gh", "agh-paper"),
             variants: Mapping[str, Mapping[str, bool]] = ABLATION_VARIANTS, progress: Progress = None) -> list[dict[str, Any]]:
    """Each method with each variant (mechanisms switched off) on each instance: feasibility and cost vs. full.

    The default AGH arm is ``agh-paper`` (``lp_start=False`` in every variant, the full one included): the
    LP-relaxation starts are not one of the paper's mechanisms and would mask the ablation (docs/solvers.md §5).

    For an infeasible result the violations are those ``evaluate`` finds in the heuristic's best attempt
    (``stats["attempt_allocation"]``) and ``reason`` is the solver's explanation.
    """
    rows: list[dict[str, Any]] = []
    for name, p in instances:
        for m in methods:
            full_cost = float("nan")
            for vname, opts in variants.items():
                sol = plan(p, m, **opts)
                viol = ""
                if sol.evaluation is not None:
                    viol = ";".join(sorted({v.constraint for v in sol.evaluation.violations}))
                elif sol.stats.get("attempt_allocation") is not None:
                    ev = evaluate(p, sol.stats["attempt_allocation"])
                    viol = ";".join(sorted({v.constraint for v in ev.violations}))
                if vname == "full":
                    full_cost = sol.objective if sol.feasible else float("nan")
                vs = 100 * (sol.objective / full_cost - 1) if sol.feasible and math.isfinite(full_cost) else float("nan")
                rows.append({"instance": name, "types": p.n_types, "templates": p.n_templates, "method": method_label(m),
                             "variant": vname, "status": sol.status, "feasible": sol.feasible, "objective": sol.objective,
                             "cost_vs_full_pct": vs, "runtime_s": sol.runtime_s, "violations": viol,
                             "reason": (sol.reason or "").split("\n")[0][:160]})
            say(progress, f"  ablation {name} {method_label(m)}: " + ", ".join(
                f"{r['variant']}={'ok' if r['feasible'] else 'INF'}" for r in rows[-len(variants):]))
    return rows


def ablation_summary(rows: Sequence[dict[str, Any]], paper_instance: str = "paper") -> Table:
    """Per method and variant: infeasible count, cost vs. full (mean, max over instances both solved), and
    costlier / same / cheaper counts; plus the paper scenario's own result."""
    t = Table(["method", "variant", "instances", "infeasible", "cost vs full (mean)", "cost vs full (max)",
               "costlier", "same", "cheaper", "paper scenario"])
    for m in dict.fromkeys(r["method"] for r in rows):
        for v in dict.fromkeys(r["variant"] for r in rows):
            sub = [r for r in rows if r["method"] == m and r["variant"] == v]
            if not sub:
                continue
            vs = [r["cost_vs_full_pct"] for r in sub if math.isfinite(r["cost_vs_full_pct"])]
            pap = [r for r in sub if r["instance"] == paper_instance]
            pcell = "—"
            if pap:
                r = pap[0]
                pcell = (f"${r['objective']:.2f}/h ({fmt(r['cost_vs_full_pct'], '+.1f', '%')})" if r["feasible"]
                         else f"infeasible ({r['violations'] or r['status']})")
            t.rows.append([m, v, len(sub), sum(not r["feasible"] for r in sub), fmt(mean_finite(vs), "+.1f", "%"),
                           fmt(max(vs) if vs else float("nan"), "+.1f", "%"), sum(x > 1e-6 for x in vs),
                           sum(abs(x) <= 1e-6 for x in vs), sum(x < -1e-6 for x in vs), pcell])
    return t


__all__ = ["ABLATION_VARIANTS", "ablation", "ablation_summary"]
