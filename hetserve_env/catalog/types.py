"""Typed, validated records of the catalog: GPU types, precisions, models, per-task quality.

Every record is a frozen dataclass whose ``__post_init__`` coerces its fields (numbers may arrive as
strings from a CSV file) and checks them, raising :class:`CatalogError` that names the offending
column.  The loader (``hetserve_env.catalog.loader``) adds the file name and row to the message.

Units: memory in GB (1e9 bytes), bandwidth in GB/s, dense FP16/BF16 tensor throughput in TFLOPS,
prices in USD per GPU-hour, parameter counts in billions.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from typing import Any

__all__ = [
    "TASKS",
    "CatalogError",
    "GPUType",
    "Precision",
    "ModelSpec",
    "QualityEntry",
]

#: GPU generations of the ``arch`` column (performance constants per generation: hetserve_env.perf).
GPU_ARCHS: tuple[str, ...] = ("unknown", "turing", "ampere", "ada", "hopper", "blackwell")
#: Values of the ``interconnect`` column.
INTERCONNECTS: tuple[str, ...] = ("unknown", "pcie", "nvlink")

#: The query-type families every model has a base error for (see ``data/quality.csv``).
TASKS: tuple[str, ...] = ("code", "math", "knowledge", "chat")


class CatalogError(ValueError):
    """A catalog file, record, override or lookup is invalid; the message names what and where."""


# --------------------------------------------------------------------------------------------
# field coercion and checks
# --------------------------------------------------------------------------------------------

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def _as_str(value: Any, column: str, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CatalogError(f"column {column!r} must be text, got {value!r}")
    value = value.strip()
    if required and not value:
        raise CatalogError(f"column {column!r} must not be empty")
    return value


def _as_float(value: Any, column: str) -> float:
    if isinstance(value, bool):
        raise CatalogError(f"column {column!r} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise CatalogError(f"column {column!r} is empty (a number is required)")
        try:
            out = float(text)
        except ValueError:
            raise CatalogError(f"column {column!r} must be a number, got {value!r}") from None
    else:
        raise CatalogError(f"column {column!r} must be a number, got {value!r}")
    if not math.isfinite(out):
        raise CatalogError(f"column {column!r} must be a finite number, got {value!r}")
    return out


def _as_int(value: Any, column: str) -> int:
    if isinstance(value, bool):
        raise CatalogError(f"column {column!r} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    number = _as_float(value, column)
    if not number.is_integer():
        raise CatalogError(f"column {column!r} must be an integer, got {value!r}")
    return int(number)


def _as_bool(value: Any, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CatalogError(f"column {column!r} must be true or false, got {value!r}")


def _check(ok: bool, column: str, rule: str, value: Any) -> None:
    if not ok:
        raise CatalogError(f"column {column!r} must be {rule}, got {value!r}")


class _Record:
    """Shared coercion, driven by each field's annotation: ``str`` (required unless it has a default),
    ``float``, ``int`` or ``bool``; the annotations are the one statement of every column's type."""

    def _coerce(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            raw = getattr(self, f.name)
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            if kind == "str":
                value: Any = _as_str(raw, f.name, required=f.default is MISSING)
            elif kind == "float":
                value = _as_float(raw, f.name)
            elif kind == "int":
                value = _as_int(raw, f.name)
            elif kind == "bool":
                value = _as_bool(raw, f.name)
            else:  # pragma: no cover - programming error
                raise AssertionError(f"{type(self).__name__}.{f.name}: unsupported field type {kind!r}")
            object.__setattr__(self, f.name, value)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """All field names, in declaration order (the CSV columns)."""
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    @classmethod
    def required_field_names(cls) -> tuple[str, ...]:
        """Fields without a default (columns a CSV file must have)."""
        return tuple(
            f.name
            for f in fields(cls)  # type: ignore[arg-type]
            if f.default is MISSING and f.default_factory is MISSING
        )


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GPUType(_Record):
    """One rentable GPU type.

    Attributes:
        name: catalog key, e.g. ``"H100-SXM"``.
        memory_gb: device memory (vendor nominal figure, treated as 1e9 bytes).
        bandwidth_gbs: peak memory bandwidth, GB/s.
        fp16_tflops: peak *dense* FP16/BF16 tensor throughput, TFLOPS.
        link_gbs: per-GPU, per-direction intra-node link bandwidth used for tensor-parallel
            all-reduce (NVLink for SXM parts, PCIe for PCIe parts), GB/s.
        gpus_per_node: most GPUs of this type in one instance of the pricing provider; limits
            the tensor-parallel degree.
        price_per_hour: on-demand USD per GPU-hour.
        default_inventory: how many GPUs of this type the cloud will rent you (quota).
        fp8: has FP8 tensor cores at twice the dense FP16 rate (Ada, Hopper); gates the
            compute speed-up of 8-bit precisions (:meth:`Precision.compute_factor_on`).
        source: citation(s) for the figures.
        notes: DERIVED / ESTIMATE / WEAK remarks.
        arch: GPU generation (:data:`GPU_ARCHS`; ``unknown`` uses the generic performance constants);
            selects the prefill efficiency and the weight-only dequantisation cost.
        interconnect: ``nvlink`` or ``pcie``, the link of ``link_gbs``; selects all-reduce latency and
            efficiency. ``unknown``: NVLink-class if ``link_gbs`` >= 100, else PCIe.
    """

    name: str
    memory_gb: float
    bandwidth_gbs: float
    fp16_tflops: float
    link_gbs: float
    gpus_per_node: int
    price_per_hour: float
    default_inventory: int
    fp8: bool
    source: str
    notes: str = ""
    arch: str = "unknown"
    interconnect: str = "unknown"

    def __post_init__(self) -> None:
        self._coerce()
        _check(self.arch in GPU_ARCHS, "arch", f"one of {', '.join(GPU_ARCHS)}", self.arch)
        _check(self.interconnect in INTERCONNECTS, "interconnect", f"one of {', '.join(INTERCONNECTS)}", self.interconnect)
        for column in ("memory_gb", "bandwidth_gbs", "fp16_tflops", "link_gbs", "price_per_hour"):
            value = getattr(self, column)
            _check(value > 0, column, "> 0", value)
        _check(self.gpus_per_node >= 1, "gpus_per_node", ">= 1", self.gpus_per_node)
        _check(self.default_inventory >= 0, "default_inventory", ">= 0", self.default_inventory)


@dataclass(frozen=True)
class Precision(_Record):
    """A weight/activation precision (the second half of a tier (GPU, precision)).

    Attributes:
        name: ``"fp16"``, ``"int8"``, ``"int4"``.
        bytes_per_param: effective weight bytes per parameter (incl. quantisation scales).
        compute_factor: speed-up of compute-bound work relative to dense FP16 on hardware that
            supports it (see :meth:`compute_factor_on`).
        error_multiplier: multiplies a model's base error rate (FP16 1.0, INT8 1.15, INT4 1.35
            by default, after the paper's precursor).
    """

    name: str
    bytes_per_param: float
    compute_factor: float
    error_multiplier: float
    source: str
    notes: str = ""


    def __post_init__(self) -> None:
        self._coerce()
        bpp = self.bytes_per_param
        _check(0 < bpp <= 4, "bytes_per_param", "in (0, 4]", bpp)
        _check(self.compute_factor > 0, "compute_factor", "> 0", self.compute_factor)
        _check(self.error_multiplier > 0, "error_multiplier", "> 0", self.error_multiplier)

    def compute_factor_on(self, gpu: GPUType) -> float:
        """Compute speed factor of this precision on ``gpu``.

        A speed-up (factor > 1) needs 8-bit tensor cores, i.e. ``gpu.fp8``; elsewhere the
        precision runs as weight-only quantisation (smaller weights, FP16 compute) and the factor
        is 1.0.  Factors <= 1 (fp16, weight-only int4) apply on every GPU.
        """
        if self.compute_factor > 1.0 and not gpu.fp8:
            return 1.0
        return self.compute_factor


@dataclass(frozen=True)
class ModelSpec(_Record):
    """Architecture of one LLM, enough to size weights and the KV cache.

    Attributes:
        params_b: total parameters, billions (all experts for MoE).
        active_params_b: parameters used per token, billions (= params_b for dense models).
        layers, hidden, q_heads, kv_heads, head_dim: transformer shape (GQA: kv_heads <= q_heads).
        context: maximum context length in tokens.
        experts, experts_active: MoE experts per layer and experts each token uses (top-k); 1 and 1 for a
            dense model. The performance model reads only the experts a decode step touches.
    """

    name: str
    family: str
    params_b: float
    active_params_b: float
    layers: int
    hidden: int
    q_heads: int
    kv_heads: int
    head_dim: int
    context: int
    source: str
    notes: str = ""
    experts: int = 1
    experts_active: int = 1

    def __post_init__(self) -> None:
        self._coerce()
        _check(self.experts >= 1, "experts", ">= 1", self.experts)
        _check(1 <= self.experts_active <= self.experts, "experts_active", f"in [1, experts ({self.experts})]",
               self.experts_active)
        _check((self.experts > 1) == (self.active_params_b < self.params_b), "experts",
               "> 1 exactly when active_params_b < params_b (a mixture of experts)", self.experts)
        _check(self.params_b > 0, "params_b", "> 0", self.params_b)
        _check(self.active_params_b > 0, "active_params_b", "> 0", self.active_params_b)
        _check(
            self.active_params_b <= self.params_b,
            "active_params_b",
            f"<= params_b ({self.params_b})",
            self.active_params_b,
        )
        for column in ("layers", "hidden", "q_heads", "kv_heads", "head_dim", "context"):
            value = getattr(self, column)
            _check(value >= 1, column, ">= 1", value)
        _check(
            self.kv_heads <= self.q_heads,
            "kv_heads",
            f"<= q_heads ({self.q_heads})",
            self.kv_heads,
        )
        _check(
            self.q_heads % self.kv_heads == 0,
            "kv_heads",
            f"a divisor of q_heads ({self.q_heads}) for grouped-query attention",
            self.kv_heads,
        )

    @property
    def kv_bytes_per_token(self) -> int:
        """FP16 KV-cache bytes per token: 2 (K and V) x layers x kv_heads x head_dim x 2 bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * 2

    @property
    def is_moe(self) -> bool:
        """True for mixture-of-experts models (fewer active than total parameters)."""
        return self.active_params_b < self.params_b

    def weight_gb(self, precision: Precision) -> float:
        """Weight memory in GB (1e9 bytes) at ``precision``: params_b x bytes_per_param."""
        return self.params_b * precision.bytes_per_param


@dataclass(frozen=True)
class QualityEntry(_Record):
    """Base error rate of ``model`` on query-type family ``task`` (FP16, before precision).

    ``error`` is 1 - score/100 for accuracy benchmarks and 1 - score/10 for MT-Bench;
    ``benchmark`` says which benchmark (and protocol) ``score`` comes from.
    """

    model: str
    task: str
    error: float
    benchmark: str
    score: float
    source: str
    notes: str = ""


    def __post_init__(self) -> None:
        self._coerce()
        if self.task not in TASKS:
            raise CatalogError(
                f"column 'task' must be one of {', '.join(TASKS)}, got {self.task!r}"
                + _did_you_mean(self.task, TASKS)
            )
        _check(0.0 <= self.error <= 1.0, "error", "in [0, 1]", self.error)
        _check(self.score >= 0, "score", ">= 0", self.score)

    @property
    def key(self) -> tuple[str, str]:
        """``(model, task)``, the key of this entry in :attr:`Catalog.quality`."""
        return (self.model, self.task)


def closest_name(name: str, known: Any) -> str | None:
    """The known name closest to ``name`` (difflib, case-insensitive), or None."""
    import difflib

    lowered = {str(k).lower(): str(k) for k in known}
    matches = difflib.get_close_matches(str(name).lower(), list(lowered), n=1, cutoff=0.5)
    return lowered[matches[0]] if matches else None


def _did_you_mean(name: str, known: Any) -> str:
    """``" (did you mean 'X'?)"`` for the closest known name, or ``""``."""
    match = closest_name(name, known)
    return f" (did you mean {match!r}?)" if match else ""
