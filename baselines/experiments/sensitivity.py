"""Sensitivity: cost and unmet demand against the budget, the delay SLOs and the error SLOs."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from hetserve_env.allocation import evaluate
from hetserve_env.problem import Problem

from .planning import method_label, plan
from .tables import Progress, Table, fmt, say


def _scenario_with(scenario: Any, delay_scale: float = 1.0, error_scale: float = 1.0) -> Any:
    """A copy of ``scenario`` with every type's delay SLO and error SLO scaled (templates re-built and re-pruned)."""
    return scenario.replace(query_types=[{**q, "delay_slo_s": q["delay_slo_s"] * delay_scale,
                                          "error_slo": min(q["error_slo"] * error_scale, 1.0)}
                                         for q in scenario.raw["query_types"]])


def sensitivity(scenario: Any, methods: Sequence[str] = ("gh", "agh-paper", "agh", "milp"),
                budget_scales: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0),
                delay_scales: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
                error_scales: Sequence[float] = (0.8, 0.9, 1.0, 1.1, 1.25, 1.5),
                milp_options: Mapping[str, Any] | None = None, progress: Progress = None) -> list[dict[str, Any]]:
    """Re-plan the scenario's static problem while sweeping one parameter at a time.

    * ``budget``: ``scale × `` the nominal plan's rental (the MILP's, else AGH's) — the scenario's own budget
      (far above what the static problem needs) is reported as its own row (``value`` = the budget in $/h);
    * ``delay_slo``: every type's end-to-end delay SLO × scale (the scenario is re-compiled: capacities change);
    * ``error_slo``: every type's error SLO × scale.

    Rows hold the status, $/h, rental, demand-weighted unmet %, replicas and GPUs of each method's plan; for a
    setting without a feasible plan, the reason and the violations of the heuristic's best attempt.
    """
    p0 = scenario.problem()
    nominal = {m: plan(p0, m, milp_options) for m in methods}
    ref = next((nominal[m] for m in ("milp", "agh", "gh") if m in nominal and nominal[m].feasible), None)
    rental0 = ref.evaluation.rental if ref is not None else float(np.min(p0.cost))
    cases: list[tuple[str, float, float, Problem]] = []
    for s in budget_scales:
        cases.append(("budget", s, s * rental0, dataclasses.replace(p0, budget=s * rental0)))
    cases.append(("budget", p0.budget / rental0, p0.budget, p0))
    for s in delay_scales:
        cases.append(("delay_slo", s, s, _scenario_with(scenario, delay_scale=s).problem()))
    for s in error_scales:
        cases.append(("error_slo", s, s, _scenario_with(scenario, error_scale=s).problem()))
    rows: list[dict[str, Any]] = []
    for param, scale, value, p in cases:
        for m in methods:
            sol = nominal[m] if (param == "budget" and value == p0.budget) else plan(p, m, milp_options)
            viol = ""
            alloc = sol.allocation if sol.allocation is not None else sol.stats.get("attempt_allocation")
            if alloc is not None:
                ev = sol.evaluation if sol.evaluation is not None else evaluate(p, alloc)
                viol = ";".join(sorted({v.constraint for v in ev.violations}))
            lam = p.rate / p.rate.sum()
            rows.append({"parameter": param, "scale": scale, "value": value, "templates": p.n_templates,
                         "method": method_label(m), "status": sol.status, "feasible": sol.feasible, "objective": sol.objective,
                         "rental": sol.evaluation.rental if sol.evaluation is not None else float("nan"),
                         "unmet_pct": 100 * float(lam @ sol.allocation.unmet) if sol.feasible else float("nan"),
                         "replicas": int(sol.allocation.replicas.sum()) if sol.feasible else -1,
                         "gpus": int(sol.evaluation.gpus_by_type.sum()) if sol.feasible else -1,
                         "runtime_s": sol.runtime_s, "violations": viol,
                         "reason": (sol.reason or "").split("\n")[0][:160]})
        say(progress, f"  sensitivity {param}={value:.4g}: " + ", ".join(
            f"{r['method']} {r['status']} {fmt(r['objective'], '.3f')}" for r in rows[-len(methods):]))
    return rows


def sensitivity_summary(rows: Sequence[dict[str, Any]]) -> Table:
    """One row per (parameter, value): each method's $/h and unmet % (``infeasible`` where no plan exists)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    t = Table(["parameter", "scale", "value"] + [f"{m} $/h" for m in methods] + [f"{m} unmet %" for m in methods]
              + [f"{m} GPUs" for m in methods] + ["AGH vs MILP" if {"AGH", "MILP"} <= set(methods) else "note"])
    keys = list(dict.fromkeys((r["parameter"], r["scale"], r["value"]) for r in rows))
    for param, scale, value in keys:
        sub = {r["method"]: r for r in rows if (r["parameter"], r["scale"], r["value"]) == (param, scale, value)}
        cells: list[Any] = [param, f"{scale:.3g}x", f"${value:.2f}/h" if param == "budget" else f"{value:g}x"]
        cells += [fmt(sub[m]["objective"], ".3f") if sub[m]["feasible"] else "infeasible" for m in methods]
        cells += [fmt(sub[m]["unmet_pct"], ".2f") if sub[m]["feasible"] else "—" for m in methods]
        cells += [str(sub[m]["gpus"]) if sub[m]["feasible"] else "—" for m in methods]
        if {"AGH", "MILP"} <= set(sub) and sub["AGH"]["feasible"] and sub["MILP"]["feasible"]:
            cells.append(fmt(100 * (sub["AGH"]["objective"] / sub["MILP"]["objective"] - 1), "+.1f", "%"))
        else:
            cells.append("—")
        t.rows.append(cells)
    return t


__all__ = ["sensitivity", "sensitivity_summary"]
