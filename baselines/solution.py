"""The result of every solver, and the shared clean-up / repair / diagnosis helpers.

Nothing here decides cost or feasibility: :func:`hetserve_env.allocation.evaluate` does. The helpers turn a
solver's raw numbers into an :class:`~hetserve_env.allocation.Allocation` that ``evaluate`` accepts (integral
replicas, shares in range, coverage exactly 1, round-off repaired) and explain, in words, why no feasible
allocation exists when that is the case.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hetserve_env import fleet_cost
from hetserve_env.allocation import TOL, Allocation, Evaluation, evaluate
from hetserve_env.problem import Problem

STATUSES = ("optimal", "feasible", "time_limit", "infeasible", "error")


class SolverError(RuntimeError):
    """A solver could not run (not installed, crashed) or a feasible allocation was required and none exists."""


@dataclass
class Solution:
    """What ``baselines.solve`` returns.

    ``status``: ``"optimal"`` (MILP, proven within the relative ``gap`` option), ``"feasible"`` (a heuristic's
    allocation, confirmed by ``evaluate``), ``"time_limit"`` (MILP stopped by its time limit; ``allocation`` holds
    the incumbent if there is one), ``"infeasible"`` (no feasible allocation: proven by the MILP, or not found by a
    heuristic; ``reason`` says which type and which constraint) or ``"error"`` (the solver failed).
    ``objective`` is ``evaluation.objective`` ($/h) of the returned allocation (nan without one);
    ``best_bound``/``gap`` are the MILP's proven lower bound and relative gap; ``log`` is the decision log
    (one readable line per decision with ``explain=True``); ``stats`` holds solver-specific numbers.
    """

    method: str
    status: str
    allocation: Allocation | None = None
    evaluation: Evaluation | None = None
    objective: float = float("nan")
    runtime_s: float = 0.0
    best_bound: float | None = None
    gap: float | None = None
    reason: str | None = None
    log: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """True when an allocation is returned and ``evaluate`` confirmed it."""
        return self.allocation is not None and self.evaluation is not None and self.evaluation.feasible

    def require_feasible(self) -> Allocation:
        """The allocation, or :class:`SolverError` with the reason when there is none."""
        if not self.feasible:
            raise SolverError(f"{self.method}: {self.status}: {self.reason or 'no feasible allocation'}")
        assert self.allocation is not None
        return self.allocation

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the Allocation (``hetserve.Allocation`` fields) plus the solution metadata."""
        out: dict[str, Any] = {
            "kind": "hetserve.Solution", "version": 1, "method": self.method, "status": self.status,
            "objective": _num(self.objective), "runtime_s": self.runtime_s, "best_bound": _num(self.best_bound),
            "gap": _num(self.gap), "reason": self.reason, "stats": _jsonable(self.stats), "log": list(self.log),
        }
        if self.evaluation is not None:
            out["breakdown"] = {k: _num(v) for k, v in self.evaluation.breakdown().items()}
            out["violations"] = [str(v) for v in self.evaluation.violations]
        out["allocation"] = self.allocation.to_dict() if self.allocation is not None else None
        return out

    def to_json(self, path: str | Path | None = None, indent: int | None = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).write_text(text)
        return text

    def __repr__(self) -> str:
        extra = f", bound={self.best_bound:.6g}" if self.best_bound is not None else ""
        why = f", reason={self.reason!r}" if self.reason else ""
        return (f"Solution(method={self.method!r}, status={self.status!r}, objective={self.objective:.6g}, "
                f"runtime_s={self.runtime_s:.3g}{extra}{why})")


def _num(v: Any) -> Any:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not isinstance(v, Allocation)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return _num(obj)
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)


# ----------------------------------------------------------------------------------------------------
# clean-up and repair
# ----------------------------------------------------------------------------------------------------

def clean_allocation(problem: Problem, replicas: np.ndarray, routing: np.ndarray, unmet: np.ndarray) -> Allocation:
    """Integral replicas, shares clipped to [0, 1] (tiny ones to 0, none on unservable pairs), unmet in
    [0, ζ], coverage renormalised to exactly 1, then :func:`repair` of any round-off violation."""
    R = np.maximum(np.rint(np.asarray(replicas, dtype=float)), 0).astype(np.int64)
    x = np.clip(np.asarray(routing, dtype=float), 0.0, 1.0)
    x[(x < 1e-10) | ~problem.servable] = 0.0
    u = np.clip(np.asarray(unmet, dtype=float), 0.0, 1.0)
    u[u < 1e-10] = 0.0
    u = np.minimum(u, problem.max_unmet)
    served = x.sum(axis=1)
    pos = served > 0
    # renormalise: served share = 1 - u (u already within [0, ζ])
    x[pos] *= ((1.0 - u[pos]) / served[pos])[:, None]
    u[~pos] = 1.0  # nothing served: all unmet (evaluate reports it if above ζ)
    return repair(problem, Allocation(R, x, u))


def repair(problem: Problem, alloc: Allocation, rounds: int = 4) -> Allocation:
    """Fix round-off violations (capacity and error SLO off by ~1e-7 relative) without loosening ``TOL``.

    Capacity: if a template's load exceeds its replicas by a hair, scale its shares down by the ratio and
    move the removed share to unmet within ζ, else add the replica (the ceiling) when budget and inventory
    allow. Error SLO: move the excess off the highest-error template in use to unmet (within ζ) or to the
    lowest-error template in use with spare capacity. Anything larger than round-off is left for
    ``evaluate`` to report.
    """
    R = alloc.replicas.astype(np.int64).copy()
    x = alloc.routing.copy()
    u = alloc.unmet.copy()
    lam, cap = problem.rate, problem.capacity
    inv_mu = np.divide(1.0, cap, out=np.zeros_like(cap), where=cap > 0)
    for _ in range(rounds):
        ev = evaluate(problem, Allocation(R, x, u))
        if ev.feasible:
            break
        changed = False
        load = (lam[:, None] * x * inv_mu).sum(axis=0)
        for v in ev.violations:
            if v.constraint == "capacity":
                d = problem.template_labels.index(v.index)
                over = load[d] - R[d]
                if over <= 1e-4 * max(1.0, R[d]) and R[d] > 0:
                    f = R[d] / load[d] * (1 - 1e-10)
                    removed = x[:, d] * (1 - f)
                    if np.all(u + removed <= problem.max_unmet + 1e-12):
                        x[:, d] *= f
                        u += removed
                        changed = True
                        continue
                if _can_add(problem, R, d, math.ceil(over - 1e-12)):
                    R[d] += math.ceil(over - 1e-12)
                    changed = True
            elif v.constraint == "error_slo":
                i = problem.type_names.index(v.index)
                excess = float((problem.error[i] - problem.error_slo[i]) @ x[i])
                if excess <= 0:
                    continue
                used = np.flatnonzero(x[i] > 0)
                hi = used[np.argmax(problem.error[i, used])]
                w = problem.error[i, hi] - problem.error_slo[i]
                if w <= 0:
                    continue
                delta = min(x[i, hi], excess / w * (1 + 1e-9) + 1e-15)
                if u[i] + delta <= problem.max_unmet[i] + 1e-12:
                    x[i, hi] -= delta
                    u[i] += delta
                    changed = True
                    continue
                lo_cands = used[problem.error[i, used] < problem.error_slo[i]]
                for lo in lo_cands[np.argsort(problem.error[i, lo_cands])]:
                    wl = problem.error_slo[i] - problem.error[i, lo]
                    # move delta from hi to lo: excess falls by delta*(w + wl)
                    dm = min(x[i, hi], excess / (w + wl) * (1 + 1e-9) + 1e-15)
                    spare = R[lo] - load[lo]
                    if spare * cap[i, lo] >= lam[i] * dm:
                        x[i, hi] -= dm
                        x[i, lo] += dm
                        changed = True
                        break
            elif v.constraint == "coverage":
                i = problem.type_names.index(v.index)
                gap = 1.0 - x[i].sum() - u[i]
                if abs(gap) < 1e-6:
                    if gap < 0 and u[i] >= -gap:
                        u[i] += gap
                    elif x[i].sum() > 0:
                        d = int(np.argmax(x[i]))
                        x[i, d] = max(x[i, d] + gap, 0.0)
                    else:
                        u[i] += gap
                    changed = True
        if not changed:
            break
    return Allocation(R, x, u)


def _can_add(problem: Problem, R: np.ndarray, d: int, k: int) -> bool:
    """Can ``k`` more replicas of template d join fleet R within budget, inventory *and* storage?"""
    if k <= 0:
        return False
    R2 = np.asarray(R, dtype=np.int64).copy()
    R2[d] += k
    return fleet_cost.fits(problem, R2)


# ----------------------------------------------------------------------------------------------------
# diagnosis
# ----------------------------------------------------------------------------------------------------

def type_reasons(problem: Problem, candidates: np.ndarray | None = None, note: str = "") -> dict[int, str]:
    """Types that no template can serve on its own terms, with the binding constraint in words.

    A type is unservable when no template meets its delay SLO (μ = 0 everywhere), when every template that
    does has an error rate above its error SLO (no mix can then meet a weighted-average SLO), or when no such
    template fits the budget, the inventory or the storage. Types allowed to go fully unmet (ζ = 1) are
    not reported. ``candidates`` (I, D) restricts the templates considered (e.g. a heuristic's filter).
    """
    out: dict[int, str] = {}
    ok = problem.servable if candidates is None else (problem.servable & candidates)
    # one replica of the template alone within budget, inventory and storage
    fits = fleet_cost.within_limits(problem.cost, problem.budget, problem.gpus, problem.inventory[problem.template_gpu],
                                    problem.artifact_gb[problem.template_artifact], problem.storage_gb)
    for i, name in enumerate(problem.type_names):
        if problem.max_unmet[i] >= 1.0 - TOL:
            continue
        slo = problem.delay_slo[i]
        if not ok[i].any():
            out[i] = f"type {name!r}: no template meets delay SLO {slo:g} s{note}"
            continue
        err_ok = ok[i] & (problem.error[i] <= problem.error_slo[i] + TOL)
        if not err_ok.any():
            best = float(problem.error[i, ok[i]].min())
            out[i] = (f"type {name!r}: no template meeting delay SLO {slo:g} s has error <= error SLO "
                      f"{problem.error_slo[i]:g} (best {best:.4g}){note}")
            continue
        if not (err_ok & fits).any():
            out[i] = (f"type {name!r}: every template meeting delay SLO {slo:g} s and error SLO "
                      f"{problem.error_slo[i]:g} exceeds the budget, the GPU inventory or the storage{note}")
    return out


def aggregate_reason(problem: Problem) -> str | None:
    """A fleet-level reason when every type is servable alone: a lower bound on the rental needed.

    Bound: each type must serve (1 - ζ_i)·λ_i req/s and no template serves type i cheaper than
    min_d cost_d / μ_id per req/s (error SLO ignored, so the bound is valid); if even that exceeds the budget
    or the inventory, say so.
    """
    lam_min = problem.rate * (1.0 - problem.max_unmet)
    unit = np.where(problem.servable, problem.cost[None, :] / np.where(problem.servable, problem.capacity, 1.0), np.inf)
    need = float((lam_min * unit.min(axis=1, initial=np.inf)).sum())
    if need > problem.budget + fleet_cost.LIMIT_TOL:
        return (f"budget: serving at least (1 - max_unmet) of every type needs >= ${need:.2f}/h of rental even on "
                f"the cheapest capacity, above the budget ${problem.budget:.2f}/h")
    gpu_unit = np.where(problem.servable, problem.gpus[None, :] / np.where(problem.servable, problem.capacity, 1.0), np.inf)
    gpus_need = float((lam_min * gpu_unit.min(axis=1, initial=np.inf)).sum())
    if gpus_need > problem.inventory.sum() + fleet_cost.LIMIT_TOL:
        return (f"inventory: serving at least (1 - max_unmet) of every type needs >= {gpus_need:.1f} GPUs, "
                f"above the {int(problem.inventory.sum())} available")
    return None


def infeasibility_reason(problem: Problem, candidates: np.ndarray | None = None, note: str = "") -> str | None:
    """Per-type reasons joined, else the fleet-level reason, else None (nothing structural found)."""
    per_type = type_reasons(problem, candidates, note)
    if per_type:
        return "; ".join(per_type[i] for i in sorted(per_type))
    return aggregate_reason(problem)


def violations_text(ev: Evaluation, limit: int = 6) -> str:
    items = [str(v) for v in ev.violations]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def finish(problem: Problem, method: str, alloc: Allocation | None, *, runtime_s: float, log: list[str],
           stats: dict[str, Any], status_if_feasible: str = "feasible", reason: str | None = None,
           best_bound: float | None = None) -> Solution:
    """Evaluate ``alloc`` and build the Solution (allocation only if ``evaluate`` says feasible)."""
    if alloc is None:
        return Solution(method, "infeasible", None, None, float("nan"), runtime_s, best_bound, None,
                        reason or "no allocation found", log, stats)
    ev = evaluate(problem, alloc)
    if ev.feasible:
        gap = None
        if best_bound is not None and math.isfinite(best_bound):
            gap = max(0.0, (ev.objective - best_bound) / max(abs(ev.objective), 1e-9))
        return Solution(method, status_if_feasible, alloc, ev, ev.objective, runtime_s, best_bound, gap, None, log, stats)
    stats = dict(stats)
    stats["attempt_allocation"] = alloc
    stats["attempt_objective"] = ev.objective
    why = reason or infeasibility_reason(problem)
    text = f"{why}; best attempt violates: {violations_text(ev)}" if why else f"best attempt violates: {violations_text(ev)}"
    return Solution(method, "infeasible", None, None, float("nan"), runtime_s, best_bound, None, text, log, stats)
