"""Out-of-sample stress test: plans made at nominal parameters, evaluated on inflated latency and error."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from hetserve_env.allocation import evaluate
from hetserve_env.problem import Problem

from .planning import method_label, plan, slo_metrics
from .tables import Progress, Table, fmt, mean_finite, say


INFLATE = {"both": (1, 1), "latency": (1, 0), "error": (0, 1)}
ROUTINGS = ("planned", "rerouted")


def stress_test(instances: Sequence[tuple[str, Problem]], methods: Sequence[str] = ("gh", "agh-paper", "agh", "milp"),
                factors: Sequence[float] = (1.0, 1.2, 1.5), inflate: Sequence[str] = ("both", "latency", "error"),
                routings: Sequence[str] = ROUTINGS, milp_options: Mapping[str, Any] | None = None,
                robust: Sequence[float] = (), progress: Progress = None) -> list[dict[str, Any]]:
    """Plan each instance with each method at nominal parameters; evaluate the fleet on inflated parameters.

    ``robust``: for each factor r also an AGH plan made *on the inflated problem* ``scaled(r, r)`` (labelled
    ``AGH robust r x``): explicit headroom against latency and error inflation, for comparison (such a plan
    is feasible at nominal parameters too: capacities only grow and errors only shrink).

    ``inflate``: ``"both"`` (latency and error × f, the paper's test), ``"latency"`` or ``"error"`` alone.
    ``routings``: ``"planned"`` keeps the plan's routing shares (the paper's static plan); ``"rerouted"``
    keeps the fleet and re-routes the demand with the exact LP router on the inflated problem (what an
    operator's load balancer would do). Evaluation uses load-dependent latency (``latency="load"``), so
    overloaded replicas and pairs pushed past their delay SLO show as late requests.
    """
    from hetserve_env.routing import route

    rows: list[dict[str, Any]] = []
    for name, p in instances:
        specs = [(m, method_label(m), p) for m in methods] + [("agh", f"AGH robust {r:g}x", p.scaled(latency=r, error=r)) for r in robust]
        for m, label, planned_on in specs:
            sol = plan(planned_on, m, milp_options)
            if sol.feasible and planned_on is not p:
                sol.objective = evaluate(p, sol.allocation).objective  # its nominal $/h
            base = {"instance": name, "types": p.n_types, "templates": p.n_templates, "method": label,
                    "plan_status": sol.status, "plan_cost": sol.objective, "plan_runtime_s": sol.runtime_s,
                    "plan_replicas": int(sol.allocation.replicas.sum()) if sol.allocation is not None else -1}
            say(progress, f"  stress {name} {label}: {sol.status} ${sol.objective:.3f}/h ({sol.runtime_s:.2f} s)")
            if not sol.feasible:
                rows.append({**base, "inflate": "", "factor": float("nan"), "routing": "", "feasible": False})
                continue
            R = sol.allocation.replicas
            for mode in inflate:
                kl, ke = INFLATE[mode]
                for f in factors:
                    if f == 1.0 and mode != inflate[0]:
                        continue  # nominal: one row per routing, under the first mode
                    q = p.scaled(latency=f if kl else 1.0, error=f if ke else 1.0)
                    for r in routings:
                        if r == "planned":
                            alloc = sol.allocation
                        elif r == "rerouted":
                            alloc = route(q, available=R.astype(float), method="lp", replicas=R)
                        else:
                            raise ValueError(f"unknown routing {r!r}; choose from {list(ROUTINGS)}")
                        ev = evaluate(q, alloc, latency="load")
                        rows.append({**base, "inflate": mode if f != 1.0 else "none", "factor": f, "routing": r,
                                     "feasible": ev.feasible, "realised_cost": ev.objective, "rental": ev.rental,
                                     "penalties": ev.unmet_penalty + ev.delay_penalty + ev.error_penalty,
                                     **slo_metrics(q, alloc, ev)})
    return rows


def stress_summary(rows: Sequence[dict[str, Any]], factors: Sequence[float] = (1.0, 1.2, 1.5),
                   paper_instance: str = "paper") -> Table:
    """Per instance group (the paper scenario; the mean over generated instances), method, routing and factor
    (latency and error inflated together): realised $/h, change vs. nominal, SLO miss shares."""
    t = Table(["instances", "method", "routing", "factor", "realised $/h", "vs nominal", "unmet %", "late %",
               "error excess %", "SLO miss %", "feasible"])
    groups = [(paper_instance, lambda n: n == paper_instance)]
    gen = sorted({r["instance"] for r in rows if r["instance"] != paper_instance})
    if gen:
        groups.append((f"generated (mean of {len(gen)})", lambda n: n != paper_instance))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    routings = list(dict.fromkeys(r["routing"] for r in rows if r["routing"]))
    for gname, sel in groups:
        for m in methods:
            for rt in routings:
                sub = [r for r in rows if sel(r["instance"]) and r["method"] == m and r["routing"] == rt]
                if not sub:
                    continue
                nominal = {r["instance"]: r["realised_cost"] for r in sub if r["factor"] == 1.0}
                for f in factors:
                    cell = [r for r in sub if r["factor"] == f and r["inflate"] in ("both", "none")]
                    if not cell:
                        continue
                    change = mean_finite(100 * (r["realised_cost"] / nominal[r["instance"]] - 1) for r in cell if r["instance"] in nominal)
                    t.rows.append([gname, m, rt, f"{f:g}x", fmt(mean_finite(r["realised_cost"] for r in cell), ".3f"),
                                   fmt(change, "+.1f", "%"),
                                   fmt(mean_finite(r["unmet_pct"] for r in cell), ".2f"), fmt(mean_finite(r["late_pct"] for r in cell), ".2f"),
                                   fmt(mean_finite(r["error_excess_pct"] for r in cell), ".2f"),
                                   fmt(mean_finite(r["slo_miss_pct"] for r in cell), ".2f"),
                                   f"{sum(bool(r['feasible']) for r in cell)}/{len(cell)}"])
    return t


def stress_by_mode(rows: Sequence[dict[str, Any]], factor: float = 1.5) -> Table:
    """SLO miss % (mean over all instances) at ``factor`` by what was inflated: latency only, error only, both."""
    t = Table(["method", "routing", "inflated", "factor", "realised $/h (mean)", "unmet %", "late %", "error excess %", "SLO miss %"])
    methods = list(dict.fromkeys(r["method"] for r in rows))
    routings = list(dict.fromkeys(r["routing"] for r in rows if r["routing"]))
    for m in methods:
        for rt in routings:
            for mode in ("latency", "error", "both"):
                cell = [r for r in rows if r["method"] == m and r["routing"] == rt and r["inflate"] == mode and r["factor"] == factor]
                if not cell:
                    continue
                t.rows.append([m, rt, mode, f"{factor:g}x", fmt(mean_finite(r["realised_cost"] for r in cell), ".3f"),
                               fmt(mean_finite(r["unmet_pct"] for r in cell)), fmt(mean_finite(r["late_pct"] for r in cell)),
                               fmt(mean_finite(r["error_excess_pct"] for r in cell)), fmt(mean_finite(r["slo_miss_pct"] for r in cell))])
    return t


__all__ = ["INFLATE", "ROUTINGS", "stress_by_mode", "stress_summary", "stress_test"]
