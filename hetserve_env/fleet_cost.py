"""Fleet cost, routing cost and fleet limits of a Problem, written once (numpy only; see docs/solvers.md).

:func:`hetserve_env.allocation.evaluate` decides cost and feasibility; the solvers need the same numbers inside
their search loops, many thousands of times, and cannot afford a full ``evaluate`` per move. They take them from
here, so each formula exists once and a test pins it to ``evaluate`` (``tests/test_fleet_cost.py``):

* :func:`fleet_cost` — $/h of a fleet: rental ``cost @ R`` plus storage cost of every artifact with a replica.
* :func:`routing_cost` — $/h of a routing: unmet, zero-load delay and error penalties (``evaluate``'s
  ``latency="zero_load"`` terms). :func:`delay_cost_per_share` and :func:`unmet_cost_per_share` are its
  linear coefficients, the objective coefficients of every LP/MILP (``hetserve_env.formulation``).
* :func:`check_limits` — budget, inventory and storage of a fleet with ONE tolerance, :data:`LIMIT_TOL` (the
  tolerance ``evaluate`` judges them with), reported as a :class:`LimitReport`. :func:`new_replicas_within`
  is its incremental form (how many more replicas of each template still fit), for greedy inner loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .problem import Problem

#: Absolute tolerance of every fleet-limit check ($/h, GPUs, GB): equal to ``allocation.TOL``, the tolerance with
#: which ``evaluate`` reports budget, inventory and storage violations, so a solver accepts exactly the fleets
#: ``evaluate`` calls feasible.
LIMIT_TOL = 1e-6


# ------------------------------------------------------------------------------------------------ fleet
def stored_artifacts(problem: Problem, replicas: np.ndarray) -> np.ndarray:
    """(A,) bool: the artifacts (model weights at a precision) a fleet must store — those with a replica."""
    stored = np.zeros(len(problem.artifact_names), dtype=bool)
    stored[problem.template_artifact[np.asarray(replicas) > 0]] = True
    return stored


def storage_add_cost(problem: Problem) -> np.ndarray:
    """(A,) $/h each artifact costs while it is stored (``storage_cost × artifact_gb``)."""
    return problem.storage_cost * problem.artifact_gb


def fleet_cost(problem: Problem, replicas: np.ndarray) -> float:
    """$/h of a fleet: rental of every replica plus storage of the artifacts it deploys (``evaluate``'s
    ``rental + storage`` for a static plan)."""
    R = np.asarray(replicas)
    return float(problem.cost @ R + (storage_add_cost(problem) * stored_artifacts(problem, R)).sum())


def gpus_used(problem: Problem, replicas: np.ndarray) -> np.ndarray:
    """(G,) GPUs of each type the fleet rents."""
    return np.bincount(problem.template_gpu, weights=np.asarray(replicas) * problem.gpus,
                       minlength=problem.n_gpu_types).astype(float)


# ---------------------------------------------------------------------------------------------- routing
def delay_cost_per_rate(problem: Problem) -> np.ndarray:
    """(I, D) $/h per req/s of type i routed to template d (zero-load delay penalty): 3600 ρ_i latency_id."""
    return 3600.0 * problem.delay_penalty[:, None] * problem.latency


def unmet_cost_per_rate(problem: Problem) -> np.ndarray:
    """(I,) $/h per req/s of type i left unmet: 3600 φ_i."""
    return 3600.0 * problem.unmet_penalty


def delay_cost_per_share(problem: Problem) -> np.ndarray:
    """(I, D) $/h of routing all of type i to template d, charged at zero-load latency: 3600 λ_i ρ_i latency_id."""
    return 3600.0 * problem.rate[:, None] * problem.delay_penalty[:, None] * problem.latency


def unmet_cost_per_share(problem: Problem) -> np.ndarray:
    """(I,) $/h of leaving all of type i unmet: 3600 λ_i φ_i."""
    return 3600.0 * problem.rate * problem.unmet_penalty


def error_excess(problem: Problem) -> np.ndarray:
    """(I, D) error rate above the type's SLO per routed share, e_id − ε_i (≤ 0 creates slack)."""
    return problem.error - problem.error_slo[:, None]


def routing_cost_terms(problem: Problem, routing: np.ndarray, unmet: np.ndarray) -> tuple[float, float, float]:
    """($/h unmet penalty, zero-load delay penalty, error penalty) of a routing, as ``evaluate`` counts them with
    ``latency="zero_load"`` (error penalty: 3600 λ_i ψ_i max(0, Σ_d (e_id − ε_i) x_id))."""
    p = problem
    x = np.asarray(routing, dtype=float)
    unmet_pen = float(unmet_cost_per_share(p) @ np.asarray(unmet, dtype=float))
    delay_pen = float((delay_cost_per_share(p) * x).sum())
    excess = np.maximum((error_excess(p) * x).sum(axis=1), 0.0)
    error_pen = float((3600.0 * p.rate * p.error_penalty * excess).sum())
    return unmet_pen, delay_pen, error_pen


def routing_cost(problem: Problem, routing: np.ndarray, unmet: np.ndarray) -> float:
    """$/h of a routing: the sum of :func:`routing_cost_terms`."""
    return float(sum(routing_cost_terms(problem, routing, unmet)))


def cost_per_request(problem: Problem) -> np.ndarray:
    """(I, D) $ per request of type i on template d at full capacity: rental per request (cost_d / 3600 / μ_id)
    + zero-load delay penalty (ρ_i latency_id) + error penalty beyond the SLO (ψ_i max(0, e_id − ε_i));
    inf where the template cannot serve the type. ``evaluate``'s objective per request of a fully used replica."""
    p = problem
    ok = p.capacity > 0
    out = np.full(p.capacity.shape, np.inf)
    ii, dd = np.nonzero(ok)
    out[ii, dd] = (p.cost[dd] / 3600.0 / p.capacity[ii, dd] + p.delay_penalty[ii] * p.latency[ii, dd]
                   + p.error_penalty[ii] * np.maximum(p.error[ii, dd] - p.error_slo[ii], 0.0))
    return out


# ----------------------------------------------------------------------------------------------- limits
@dataclass(frozen=True)
class LimitReport:
    """Which fleet limits a fleet breaks and by how much (0 where it holds; tolerance :data:`LIMIT_TOL`)."""

    budget: float  # $/h of rental above the budget
    inventory: np.ndarray = field(repr=False)  # (G,) GPUs above each type's inventory
    storage: float  # GB above the storage capacity
    gpu_names: tuple[str, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        """True when every limit holds."""
        return not self.broken()

    def broken(self) -> list[str]:
        """Names of the broken limits, e.g. ``["budget", "inventory[H100]"]`` (in ``evaluate``'s order)."""
        out = ["budget"] if self.budget > 0 else []
        out += [f"inventory[{self.gpu_names[g] if self.gpu_names else g}]" for g in np.flatnonzero(self.inventory > 0)]
        return out + (["storage"] if self.storage > 0 else [])


def check_limits(problem: Problem, replicas: np.ndarray, tol: float = LIMIT_TOL) -> LimitReport:
    """Budget, inventory and storage of a fleet, judged as ``evaluate`` judges them (a limit is broken when the
    use exceeds it by more than ``tol``)."""
    p = problem
    R = np.asarray(replicas)
    rental = float(p.cost @ R)
    used = gpus_used(p, R)
    gb = float(p.artifact_gb[stored_artifacts(p, R)].sum())
    return LimitReport(rental - p.budget if rental > p.budget + tol else 0.0,
                       np.where(used > p.inventory + tol, used - p.inventory, 0.0),
                       gb - p.storage_gb if gb > p.storage_gb + tol else 0.0, tuple(p.gpu_names))


def fits(problem: Problem, replicas: np.ndarray, tol: float = LIMIT_TOL) -> bool:
    """True when the fleet keeps budget, inventory and storage (:func:`check_limits` without the report)."""
    return check_limits(problem, replicas, tol).ok


def new_replicas_within(cost: np.ndarray, gpus: np.ndarray, budget_left: np.ndarray | float, gpus_left: np.ndarray,
                        new_gb: np.ndarray, storage_left: float, tol: float = LIMIT_TOL) -> np.ndarray:
    """Most new replicas of each template that still fit: the incremental form of :func:`check_limits` for
    greedy loops. ``cost``/``gpus`` per replica, ``budget_left`` ($/h, inf: no budget), ``gpus_left`` of each
    template's GPU type, ``new_gb`` the storage a template's artifact adds (0 if already stored). Returns float
    counts ≥ 0 (2^40 when nothing binds)."""
    B = np.asarray(budget_left, dtype=float)
    with np.errstate(invalid="ignore"):
        kb = np.where(np.isfinite(B), np.floor((B + tol) / cost), _UNBOUNDED)
    ki = np.floor((gpus_left + tol) / gpus)
    storage_ok = np.asarray(new_gb) <= storage_left + tol
    return np.where(storage_ok, np.maximum(np.minimum(kb, ki), 0.0), 0.0)


_UNBOUNDED = float(1 << 40)


def within_limits(rental: np.ndarray | float, budget: float, gpus: np.ndarray | float, inventory: np.ndarray | float,
                  storage_gb_used: np.ndarray | float, storage_gb: float, tol: float = LIMIT_TOL) -> np.ndarray:
    """Elementwise: do these (candidate) fleet totals keep budget, inventory and storage? The vectorised form of
    :func:`check_limits` for search loops that update the totals incrementally (same comparisons, same tol)."""
    return ((np.asarray(rental) <= budget + tol) & (np.asarray(gpus) <= inventory + tol)
            & (np.asarray(storage_gb_used) <= storage_gb + tol))
