"""Problem: one planning window compiled to arrays (docs/model.md §4), with JSON in/out.

Index sets: I query types, D templates, G GPU types, A weight artifacts ((model, precision) pairs, what
storage holds). Rates are requests/s, costs $/h, latencies seconds.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .rules import PROBLEM_RULES, check_array, check_number, check_unique, read_json_object

_TYPE_FIELDS = (
    "rate", "input_tokens", "output_tokens", "delay_slo", "error_slo", "max_unmet",
    "unmet_penalty", "delay_penalty", "error_penalty",
)
_TEMPLATE_FIELDS = ("template_gpu", "template_artifact", "gpus", "cost")
_PAIR_FIELDS = ("capacity", "latency", "error", "load_slope")


@dataclass
class Problem:
    """One planning window of the static allocation problem.

    Per query type i (length I): ``rate`` λ (req/s), mean ``input_tokens``/``output_tokens``, ``delay_slo`` Δ (s),
    ``error_slo`` ε, ``max_unmet`` ζ (share), ``unmet_penalty`` φ ($/request), ``delay_penalty`` ρ
    ($/request-second), ``error_penalty`` ψ ($ per erroneous request beyond the SLO).
    Per template d (length D): ``template_labels``, ``template_gpu`` (index into ``gpu_names``), ``template_artifact``
    (index into ``artifact_names``), ``gpus`` per replica, ``cost`` ($/h per replica).
    Per pair (I, D): ``capacity`` μ (req/s one replica sustains for type i alone; 0 = cannot serve),
    ``latency`` (zero-load end-to-end seconds), ``error`` (expected error rate), ``load_slope`` (latency at
    utilisation u is latency / (1 - u·load_slope)).
    Fleet: ``inventory`` per GPU type, ``budget`` ($/h of rental), ``artifact_gb`` and ``storage_gb`` capacity,
    ``storage_cost`` ($/GB-h), ``window_s`` (length of the planning window).
    """

    type_names: tuple[str, ...]
    template_labels: tuple[str, ...]
    gpu_names: tuple[str, ...]
    artifact_names: tuple[str, ...]
    rate: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    delay_slo: np.ndarray
    error_slo: np.ndarray
    max_unmet: np.ndarray
    unmet_penalty: np.ndarray
    delay_penalty: np.ndarray
    error_penalty: np.ndarray
    template_gpu: np.ndarray
    template_artifact: np.ndarray
    gpus: np.ndarray
    cost: np.ndarray
    capacity: np.ndarray
    latency: np.ndarray
    error: np.ndarray
    load_slope: np.ndarray
    inventory: np.ndarray
    artifact_gb: np.ndarray
    budget: float = float("inf")
    storage_gb: float = float("inf")
    storage_cost: float = 0.0
    window_s: float = 3600.0
    name: str = "problem"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ shape
    @property
    def n_types(self) -> int:
        return len(self.type_names)

    @property
    def n_templates(self) -> int:
        return len(self.template_labels)

    @property
    def n_gpu_types(self) -> int:
        return len(self.gpu_names)

    def validate(self) -> None:
        """Check every field against :data:`hetserve_env.rules.PROBLEM_RULES` (the rules a Scenario obeys) and
        store arrays as float64 / int64; raise ValueError naming the field, the value and the allowed range.

        Whole-number fields (indices, GPUs, inventory) are checked before the integer cast, so 2.5 GPUs is an
        error rather than 2. ``budget`` and ``storage_gb`` may be ``inf`` (no limit); nothing else may be.
        """
        for f in ("type_names", "template_labels", "gpu_names", "artifact_names"):
            setattr(self, f, check_unique(ValueError, f"Problem.{f}", getattr(self, f)))
        I, D, G, A = self.n_types, self.n_templates, self.n_gpu_types, len(self.artifact_names)
        expect = {f: (I,) for f in _TYPE_FIELDS}
        expect.update({f: (D,) for f in _TEMPLATE_FIELDS})
        expect.update({f: (I, D) for f in _PAIR_FIELDS})
        expect.update(inventory=(G,), artifact_gb=(A,))
        for f, shape in expect.items():
            rule = PROBLEM_RULES[f]
            arr = check_array(ValueError, f"Problem.{f}", getattr(self, f), rule, shape)
            setattr(self, f, arr.astype(np.int64) if rule.integer else arr)
        for f, n, what in (("template_gpu", G, "gpu_names"), ("template_artifact", A, "artifact_names")):
            arr = getattr(self, f)
            if (arr >= n).any():
                d = int(np.argmax(arr >= n))
                raise ValueError(f"Problem.{f}: must be an index into {what} (0..{n - 1}), got {int(arr[d])} at "
                                 f"template {d}")
        for f in ("budget", "storage_gb", "storage_cost", "window_s"):
            setattr(self, f, check_number(ValueError, f"Problem.{f}", getattr(self, f), PROBLEM_RULES[f]))

    # ------------------------------------------------------------- derived
    @property
    def servable(self) -> np.ndarray:
        """(I, D) bool: template d can serve type i within its delay SLO (μ > 0)."""
        return self.capacity > 0

    def max_replicas(self) -> np.ndarray:
        """Upper bound on replicas per template implied by inventory and budget (used as MILP bounds)."""
        by_inventory = self.inventory[self.template_gpu] // self.gpus
        if np.isfinite(self.budget):
            # in float, capped by inventory before the integer cast: a huge budget must not overflow int64
            by_budget = np.floor(self.budget / np.maximum(self.cost, 1e-12) + 1e-9)
            return np.minimum(by_inventory, by_budget).astype(np.int64)
        return by_inventory

    def with_rates(self, rate: np.ndarray) -> "Problem":
        """A copy with other arrival rates (same tokens, so capacities are unchanged)."""
        data = self.to_dict()
        data["rate"] = np.asarray(rate, dtype=float)
        return Problem(**_arrays(data))

    def scaled(self, latency: float = 1.0, error: float = 1.0) -> "Problem":
        """A copy with latencies (and so capacities' delay limits) and error rates inflated.

        Used by the out-of-sample stress test: a plan made at nominal parameters is re-evaluated on the
        inflated problem. Latency inflation multiplies zero-load latency and the load slope's effect: the
        capacity of each pair shrinks to the largest λ that still meets Δ (or to 0).
        """
        data = self.to_dict()
        lat = self.latency * latency
        # E2E(u) = lat/(1-u·s) <= Δ at u=1  <=>  s <= 1 - lat/Δ; keep the same per-request slope c·f.
        per_rate_slope = np.divide(self.load_slope, self.capacity, out=np.zeros_like(self.capacity), where=self.capacity > 0)
        slope_scaled = per_rate_slope * latency
        with np.errstate(divide="ignore", invalid="ignore"):
            mu_delay = np.where(slope_scaled > 0, (1 - lat / self.delay_slo[:, None]) / slope_scaled, 0.0)
        cap = np.where(lat < self.delay_slo[:, None], np.minimum(self.capacity, np.maximum(mu_delay, 0.0)), 0.0)
        data.update(latency=lat, capacity=cap, load_slope=np.minimum(cap * slope_scaled, 1 - 1e-12),
                    error=np.minimum(self.error * error, 1.0))
        return Problem(**_arrays(data))

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else (list(v) if isinstance(v, tuple) else v)
        for k in ("budget", "storage_gb"):
            if not np.isfinite(out[k]):
                out[k] = None  # JSON has no infinity
        return out

    def to_json(self, path: str | Path | None = None, indent: int | None = None) -> str:
        text = json.dumps({"kind": "hetserve.Problem", "version": 1, **self.to_dict()}, indent=indent)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Problem":
        if not isinstance(data, dict):
            raise ValueError(f"Problem JSON: the top level must be an object of fields, got a {type(data).__name__}")
        data = dict(data)
        data.pop("kind", None)
        data.pop("version", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown Problem field(s) {unknown}")
        missing = sorted(f.name for f in fields(cls)
                         if f.name not in data and f.default is MISSING and f.default_factory is MISSING)
        if missing:
            raise ValueError(f"Problem JSON is missing field(s) {missing}")
        for k in ("budget", "storage_gb"):
            if k in data and data[k] is None:
                data[k] = float("inf")
        return cls(**_arrays(data))

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "Problem":
        data, src = read_json_object(text_or_path, "hetserve.Problem", "Problem")
        if src == "Problem JSON":
            return cls.from_dict(data)
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{src}: {exc}") from None


def _arrays(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (np.asarray(v) if isinstance(v, list) and k not in ("type_names", "template_labels", "gpu_names", "artifact_names") else v)
            for k, v in data.items()}
