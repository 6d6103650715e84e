"""Allocation and ``evaluate``: the one place that decides cost, feasibility and violations.

The environment, every solver, every script and every test call :func:`evaluate`; nothing re-derives
cost or feasibility on its own. Its numeric core is the compiled :func:`hetserve_env.kernels.evaluate.evaluate_core`
(numba), which the environment's step calls directly; this module wraps it in the :class:`Evaluation` and
:class:`Violation` objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .kernels.access import as_float64, as_int64, compiled
from .kernels.records import FAMILY_INDEX, VIOLATION_FAMILIES, AllocationArrays, ProblemArrays
from .problem import Problem
from .rules import read_json_object

#: Absolute tolerance on shares and capacities when judging feasibility (solver round-off).
TOL = 1e-6


@dataclass
class Allocation:
    """Replicas per template R (D,), routing shares x (I, D) and unmet shares u (I,)."""

    replicas: np.ndarray
    routing: np.ndarray
    unmet: np.ndarray

    def __post_init__(self) -> None:
        self.replicas = _numbers("replicas", self.replicas)
        self.routing = _numbers("routing", self.routing).astype(float, copy=False)
        self.unmet = _numbers("unmet", self.unmet).astype(float, copy=False)
        if self.routing.ndim != 2 or self.replicas.shape != self.routing.shape[1:] or self.unmet.shape != self.routing.shape[:1]:
            raise ValueError(
                f"Allocation shapes disagree: replicas {self.replicas.shape}, routing {self.routing.shape}, "
                f"unmet {self.unmet.shape} (expected (D,), (I, D), (I,))"
            )
        self.check_nan()

    def check_nan(self) -> None:
        """Raise ValueError naming the first NaN entry: NaN would make ``evaluate`` report a feasible plan with a
        NaN objective. (±inf and out-of-range entries are not errors: ``evaluate`` reports them as violations.)"""
        for f in ("replicas", "routing", "unmet"):
            arr = getattr(self, f)
            if arr.dtype.kind == "f" and np.isnan(arr).any():
                idx = np.argwhere(np.isnan(arr))[0].tolist()
                raise ValueError(f"Allocation.{f}: must be a number (finite, or inf to be reported as a violation), "
                                 f"got nan at index {idx}")

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
        data, src = read_json_object(text_or_path, "hetserve.Allocation", "Allocation")
        missing = [k for k in ("replicas", "routing", "unmet") if k not in data]
        if missing:
            raise ValueError(f"{src}: Allocation JSON is missing field(s) {missing}")
        try:
            return cls(data["replicas"], data["routing"], data["unmet"])
        except ValueError as exc:
            raise ValueError(f"{src}: {exc}") from None


def _numbers(name: str, value: Any) -> np.ndarray:
    """``value`` as a numeric array (JSON's NaN literal included); strings, None or ragged lists name the field."""
    try:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"Allocation.{name}: expected an array of numbers, got {value!r:.80}") from None
    return arr


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

    Every number and violation (family, index, amount) comes from :func:`hetserve_env.kernels.evaluate.evaluate_core`;
    the :class:`Violation` objects are built only when it reports one.
    """
    allocation.check_shape(problem)
    allocation.check_nan()  # the arrays may have been changed in place since construction
    R = allocation.replicas.astype(float)
    serving = R if available is None else np.minimum(np.asarray(available, dtype=float), R)
    load_latency = latency == "load"
    ev = _kernels().evaluate_core(problem_arrays(problem), AllocationArrays(_f(R), _f(serving), _f(allocation.routing),
                                                                            _f(allocation.unmet)), load_latency, float(tol))
    lat = ev.latency if load_latency else problem.latency
    viol = violations_from_codes(problem.type_names, problem.template_labels, problem.gpu_names, ev.families, ev.indices,
                                 ev.amounts, ev.billed, problem.budget, ev.storage_used) if len(ev.families) else []
    return Evaluation(
        feasible=not viol,
        objective=ev.objective,
        rental=ev.rental, cold_start=ev.cold_start, storage=ev.storage,
        unmet_penalty=ev.unmet_penalty, delay_penalty=ev.delay_penalty, error_penalty=ev.error_penalty,
        violations=viol,
        utilisation=ev.utilisation,
        latency=lat,
        served_share=ev.served_share,
        on_time_share=ev.on_time_share,
        mean_error=ev.mean_error,
        gpus_by_type=ev.gpus_by_type,
        storage_used_gb=ev.storage_used,
    )


_kernels = compiled  # local short names for the kernel access helpers
_f = as_float64
_i = as_int64


def problem_arrays(problem: Problem) -> ProblemArrays:
    """``problem``'s arrays as the kernels' ProblemArrays record (float64 / int64, C-contiguous: one compiled
    specialisation)."""
    p = problem
    return ProblemArrays(
        rate=_f(p.rate), capacity=_f(p.capacity), latency=_f(p.latency), load_slope=_f(p.load_slope), error=_f(p.error),
        error_slo=_f(p.error_slo), delay_slo=_f(p.delay_slo), max_unmet=_f(p.max_unmet), unmet_penalty=_f(p.unmet_penalty),
        delay_penalty=_f(p.delay_penalty), error_penalty=_f(p.error_penalty), cost=_f(p.cost),
        template_gpu=_i(p.template_gpu), template_artifact=_i(p.template_artifact), gpus=_i(p.gpus),
        inventory=_f(p.inventory), artifact_gb=_f(p.artifact_gb), budget=float(p.budget), storage_gb=float(p.storage_gb),
        storage_cost=float(p.storage_cost), window_s=float(p.window_s), n_gpu_types=len(p.gpu_names))


#: Detail text of each violation family (budget and storage add their totals).
_DETAIL = {"coverage": "routing + unmet must sum to 1", "capacity": "replicas needed beyond those serving",
           "error_slo": "mean error over served requests above the SLO",
           "delay_slo": "share of requests served after the delay SLO",
           "unservable_route": "share routed to a template that cannot meet the type's delay SLO",
           "routing_range": "routing shares must lie in [0, 1]", "integrality": "replicas must be non-negative integers"}


def violations_from_codes(type_names, template_labels, gpu_names, families, indices, amounts, billed: float,
                          budget: float, storage_used: float) -> list[Violation]:
    """The :class:`Violation` objects of evaluate_core's (family, index, amount) triples, in its order."""
    labels = {"type": type_names, "template": template_labels, "gpu": gpu_names}
    out = []
    for f, i, amount in zip(families.tolist(), indices.tolist(), amounts.tolist()):
        name, kind = VIOLATION_FAMILIES[f], FAMILY_INDEX[f]
        if name == "budget":
            detail = f"rental ${billed:.2f}/h over ${budget:.2f}/h"
        elif name == "storage":
            detail = f"{storage_used:.1f} GB stored"
        else:
            detail = _DETAIL.get(name, "")
        out.append(Violation(name, labels[kind][i] if kind else "", amount, detail))
    return out
