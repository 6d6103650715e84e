"""Allocation and ``evaluate``: the one place that decides cost, feasibility and violations.

The environment, every solver, every script and every test call :func:`evaluate`; nothing re-derives
cost or feasibility on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .perf import latency_at_utilisation
from .problem import Problem

#: Absolute tolerance on shares and capacities when judging feasibility (solver round-off).
TOL = 1e-6


@dataclass
class Allocation:
    """Replicas per template R (D,), routing shares x (I, D) and unmet shares u (I,)."""

    replicas: np.ndarray
    routing: np.ndarray
    unmet: np.ndarray

    def __post_init__(self) -> None:
        self.replicas = np.asarray(self.replicas)
        self.routing = np.asarray(self.routing, dtype=float)
        self.unmet = np.asarray(self.unmet, dtype=float)
        if self.routing.ndim != 2 or self.replicas.shape != self.routing.shape[1:] or self.unmet.shape != self.routing.shape[:1]:
            raise ValueError(
                f"Allocation shapes disagree: replicas {self.replicas.shape}, routing {self.routing.shape}, "
                f"unmet {self.unmet.shape} (expected (D,), (I, D), (I,))"
            )

    @classmethod
    def empty(cls, problem: Problem) -> "Allocation":
        """No replicas: every request unmet."""
        return cls(np.zeros(problem.n_templates, dtype=np.int64), np.zeros((problem.n_types, problem.n_templates)), np.ones(problem.n_types))

    def check_shape(self, problem: Problem) -> None:
        if self.routing.shape != (problem.n_types, problem.n_templates):
            raise ValueError(
                f"Allocation routing has shape {self.routing.shape}, problem has {problem.n_types} types x "
                f"{problem.n_templates} templates"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "hetserve.Allocation", "version": 1, "replicas": self.replicas.tolist(),
                "routing": self.routing.tolist(), "unmet": self.unmet.tolist()}

    def to_json(self, path: str | Path | None = None, indent: int | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "Allocation":
        s = str(text_or_path)
        text = s if s.lstrip().startswith("{") else Path(s).read_text()
        data = json.loads(text)
        if data.get("kind", "hetserve.Allocation") != "hetserve.Allocation":
            raise ValueError(f"JSON holds a {data.get('kind')!r}, not a hetserve.Allocation")
        missing = [k for k in ("replicas", "routing", "unmet") if k not in data]
        if missing:
            raise ValueError(f"Allocation JSON is missing field(s) {missing}")
        return cls(np.asarray(data["replicas"]), np.asarray(data["routing"], dtype=float), np.asarray(data["unmet"], dtype=float))


@dataclass(frozen=True)
class Violation:
    """One violated constraint: ``name`` is the constraint family with its index, e.g. ``capacity[Llama…]``."""

    constraint: str
    index: str
    amount: float  # how far past the limit, in the constraint's own unit
    detail: str = ""

    @property
    def name(self) -> str:
        return f"{self.constraint}[{self.index}]" if self.index else self.constraint

    def __str__(self) -> str:
        return f"{self.name}: exceeds by {self.amount:.6g}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Evaluation:
    """Everything ``evaluate`` decides. Money terms are $/h; rates req/s."""

    feasible: bool
    objective: float
    rental: float  # $/h of replicas that serve
    cold_start: float  # $/h of replicas billed while still starting (0 for static plans)
    storage: float
    unmet_penalty: float
    delay_penalty: float
    error_penalty: float
    violations: list[Violation]
    utilisation: np.ndarray  # (D,) load / replicas (0 where no replica)
    latency: np.ndarray  # (I, D) latency used for penalties (zero-load or load-dependent)
    served_share: np.ndarray  # (I,) share of demand routed to a replica
    on_time_share: np.ndarray  # (I,) share served within the delay SLO
    mean_error: np.ndarray  # (I,) mean error over served requests (0 where nothing served)
    gpus_by_type: np.ndarray  # (G,)
    storage_used_gb: float
    extra: dict[str, Any] = field(default_factory=dict)

    def breakdown(self) -> dict[str, float]:
        return {"rental": self.rental, "cold_start": self.cold_start, "storage": self.storage, "unmet_penalty": self.unmet_penalty,
                "delay_penalty": self.delay_penalty, "error_penalty": self.error_penalty, "total": self.objective}

    def violation(self, name_prefix: str) -> list[Violation]:
        return [v for v in self.violations if v.constraint == name_prefix]


def evaluate(
    problem: Problem,
    allocation: Allocation,
    *,
    latency: Literal["zero_load", "load"] = "zero_load",
    available: np.ndarray | None = None,
    tol: float = TOL,
) -> Evaluation:
    """Cost breakdown, feasibility and every violated constraint of ``allocation`` on ``problem``.

    ``latency="zero_load"`` charges the delay penalty on each pair's zero-load latency: exactly the MILP's
    linear objective. ``latency="load"`` charges the load-dependent latency at each template's utilisation
    (what the environment uses); with utilisation ≤ 1 every served request still meets its SLO, beyond it
    the template is over capacity (a violation) and latency is capped at the window length.

    ``available`` (D,) is the replica-equivalents that actually serve during the window (the environment
    passes fewer than ``replicas`` while new replicas cold-start). Capacity is judged against it; all
    ``replicas`` are billed, the share not serving as ``cold_start`` instead of ``rental``.
    """
    allocation.check_shape(problem)
    R = allocation.replicas.astype(float)
    serving = R if available is None else np.minimum(np.asarray(available, dtype=float), R)
    x, u = allocation.routing, allocation.unmet
    lam = problem.rate
    cap = problem.capacity
    served_ok = cap > 0
    viol: list[Violation] = []

    # Capacity: Σ_i λ_i x_id / μ_id ≤ R_d
    load = (lam[:, None] * x / np.where(served_ok, cap, 1.0) * served_ok).sum(axis=0)
    utilisation = np.divide(load, serving, out=np.where(load > 0, np.inf, 0.0), where=serving > 0)
    if latency == "load":
        lat = np.minimum(latency_at_utilisation(problem.latency, problem.load_slope, utilisation[None, :]), problem.window_s)
    else:
        lat = problem.latency

    billed = float(problem.cost @ R)
    rental = float(problem.cost @ serving)
    cold_start = billed - rental
    deployed = np.zeros(len(problem.artifact_names), dtype=bool)
    deployed[problem.template_artifact[R > 0]] = True
    storage_used = float(problem.artifact_gb[deployed].sum())
    served = x.sum(axis=1)
    err_excess = (problem.error * x).sum(axis=1) - problem.error_slo * served
    per_hour = 3600.0 * lam
    unmet_pen = float(per_hour @ (problem.unmet_penalty * u))
    delay_pen = float(per_hour @ (problem.delay_penalty * (lat * x).sum(axis=1)))
    error_pen = float(per_hour @ (problem.error_penalty * np.maximum(err_excess, 0.0)))
    storage = problem.storage_cost * storage_used
    late = np.where(lat > problem.delay_slo[:, None] * (1 + 1e-9), x, 0.0).sum(axis=1)

    def add(name: str, mask: np.ndarray, amount: Any, labels: tuple[str, ...], detail: str = "") -> None:
        if not mask.any():  # the common case: skip the index search (and computing a lazy amount)
            return
        amount = amount() if callable(amount) else amount
        for k in np.flatnonzero(mask):
            viol.append(Violation(name, labels[k], float(amount[k]), detail))

    types, tpls = problem.type_names, problem.template_labels
    coverage_gap = np.abs(served + u - 1)
    add("coverage", coverage_gap > tol, coverage_gap, types, "routing + unmet must sum to 1")
    add("max_unmet", u > problem.max_unmet + tol, lambda: u - problem.max_unmet, types)
    add("capacity", load > serving + tol * np.maximum(1, serving), lambda: load - serving, tpls, "replicas needed beyond those serving")
    add("error_slo", err_excess > tol, err_excess, types, "mean error over served requests above the SLO")
    if latency == "load":
        add("delay_slo", late > tol, late, types, "share of requests served after the delay SLO")
    bad_route = (~served_ok & (x > tol)).any(axis=0)
    add("unservable_route", bad_route, lambda: (x * ~served_ok).max(axis=0), tpls, "share routed to a template that cannot meet the type's delay SLO")
    out_of_range = (x < -tol).any(axis=0) | (x > 1 + tol).any(axis=0)
    add("routing_range", out_of_range, lambda: np.abs(x).max(axis=0), tpls, "routing shares must lie in [0, 1]")
    add("unmet_range", u < -tol, lambda: -u, types)
    frac = np.abs(R - np.round(R))
    add("integrality", (frac > tol) | (R < 0), lambda: np.maximum(frac, -R), tpls, "replicas must be non-negative integers")
    if billed > problem.budget + tol:
        viol.append(Violation("budget", "", billed - problem.budget, f"rental ${billed:.2f}/h over ${problem.budget:.2f}/h"))
    gpus_by_type = np.bincount(problem.template_gpu, weights=R * problem.gpus, minlength=problem.n_gpu_types)
    add("inventory", gpus_by_type > problem.inventory + tol, lambda: gpus_by_type - problem.inventory, problem.gpu_names)
    if storage_used > problem.storage_gb + tol:
        viol.append(Violation("storage", "", storage_used - problem.storage_gb, f"{storage_used:.1f} GB stored"))

    # mean error over served requests (0 where nothing is served); the masked divide never divides by zero
    mean_error = np.divide((problem.error * x).sum(axis=1), served, out=np.zeros_like(served), where=served > 0)
    return Evaluation(
        feasible=not viol,
        objective=billed + storage + unmet_pen + delay_pen + error_pen,
        rental=rental, cold_start=cold_start, storage=storage, unmet_penalty=unmet_pen, delay_penalty=delay_pen, error_penalty=error_pen,
        violations=viol,
        utilisation=utilisation,
        latency=lat,
        served_share=served,
        on_time_share=served - late,
        mean_error=mean_error,
        gpus_by_type=gpus_by_type,
        storage_used_gb=storage_used,
    )
