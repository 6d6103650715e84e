"""Analytic two-phase performance model (docs/model.md §3), vectorised over (query types x templates).

A *template* is one replica of model j on n·m GPUs of type g at precision p (TP n, PP m). For a query type
with mean input h and output f tokens the model gives, per (type, template):

* prefill time      T_pre = 2·P_act·h / (n·F·MFU_pre) + TP all-reduce time of the prompt + (m-1)·hop
* decode step time  T_step(b) = a + c·b  with
  a = W / (n·BW·MBU) + TP all-reduce latency per step + (m-1)·hop          (weights read once per step)
  c = κ·(h + f/2) / (n·m·BW·MBU) + 2·P_act / (n·m·F·MFU_dec) + TP bytes per sequence   (KV read + compute)
* end-to-end latency at arrival rate λ (Little's law b = λ·E2E):
  E2E(λ) = (T_pre + f·a) / (1 - λ·f·c)
* concurrency limit b_max = min((n·m·mem·η - W) / (κ·(h + f)), max_num_seqs)
* capacity μ = max λ with E2E(λ) ≤ Δ, λ·E2E(λ) ≤ b_max and λ·T_pre ≤ 1; μ = 0 if the zero-load latency
  already misses Δ, if not one sequence fits in the KV cache, or if h + f exceeds the model's context.

Everything broadcasts: type arrays may carry leading axes (e.g. windows x types), so a whole day of
windows is compiled in one call. All efficiency constants live in :class:`PerfConstants` with sources.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

import numpy as np

GB = 1e9
TFLOP = 1e12


@dataclass(frozen=True)
class PerfConstants:
    """Every efficiency constant of the performance model, with where it comes from.

    mfu_prefill: model-FLOPs utilisation of prefill. ESTIMATE: no sourced typical value exists
        (catalog-facts §E.1 "a specific % is UNSOURCED"); 0.5 sits between Calculon's 0.95 large-GEMM
        efficiency (training, optimistic) and the "more variable than MBU" note of [E3].
    mbu_decode: memory-bandwidth utilisation of decode. [E3] "real systems land around 60 to 85 percent"
        (WEAK source); 0.6, the low end, reproduces measured single-stream decode of Llama-3.1-8B on one
        H100 (~128 tok/s) and Llama-3-70B TP4 on four (~52 tok/s) in vLLM's CI (scripts/perf_reference.py).
    mfu_decode: FLOPs utilisation of the per-sequence compute term of a decode step (small GEMMs).
        ESTIMATE, lower than prefill: 0.4.
    memory_utilisation: share of GPU memory the engine may use (η). vLLM's default
        gpu_memory_utilization is 0.9 (vLLM engine arguments documentation).
    link_efficiency: achieved share of link bandwidth in all-reduce. Calculon models NVLink at 0.65 [E7].
    allreduce_latency_s: fixed latency per all-reduce (launch + synchronisation). ESTIMATE 10 µs, the order
        of NCCL small-message all-reduce latency inside one node.
    hop_latency_s: pipeline-stage hand-off latency per stage boundary. ESTIMATE 50 µs.
    allreduces_per_layer: Megatron-style TP does 2 all-reduces per transformer layer [E8].
    kv_bytes_per_value: KV cache kept in FP16/BF16 (2 bytes) at every weight precision.
    max_num_seqs: the engine's cap on concurrent sequences per replica; vLLM's default ``--max-num-seqs``
        is 256 (vLLM engine arguments documentation). b_max = min(KV-cache limit, max_num_seqs).
    """

    mfu_prefill: float = 0.5
    mbu_decode: float = 0.6
    mfu_decode: float = 0.4
    memory_utilisation: float = 0.9
    link_efficiency: float = 0.65
    allreduce_latency_s: float = 10e-6
    hop_latency_s: float = 50e-6
    allreduces_per_layer: int = 2
    kv_bytes_per_value: int = 2
    max_num_seqs: int = 256

    def __post_init__(self) -> None:
        for name in ("mfu_prefill", "mbu_decode", "mfu_decode", "memory_utilisation", "link_efficiency"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"PerfConstants.{name} must be in (0, 1], got {value!r}")
        for name in ("allreduce_latency_s", "hop_latency_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"PerfConstants.{name} must be >= 0, got {getattr(self, name)!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "PerfConstants":
        """Defaults overridden by ``values``; unknown keys are an error naming the key."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown performance constant(s) {unknown}; known: {sorted(known)}")
        return replace(cls(), **{k: type(getattr(cls(), k))(v) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TemplateHardware:
    """Per-template arrays (length D) the model needs; built by :mod:`hetserve_env.templates`."""

    params_active: np.ndarray  # active parameters (count), MoE-aware
    weight_bytes: np.ndarray  # weight bytes of the whole replica at its precision
    layers: np.ndarray
    hidden: np.ndarray
    kv_bytes_per_token: np.ndarray  # κ: bytes of K and V per token (all layers)
    context: np.ndarray  # max context tokens of the model
    tp: np.ndarray
    pp: np.ndarray
    memory_bytes: np.ndarray  # per GPU
    bandwidth: np.ndarray  # bytes/s per GPU
    flops: np.ndarray  # dense FLOP/s per GPU at the template's precision
    link_bandwidth: np.ndarray  # bytes/s per GPU for all-reduce


@dataclass(frozen=True)
class PerfTable:
    """Model outputs; type-indexed arrays have shape (..., I, D), template-only ones (D,)."""

    prefill_s: np.ndarray  # T_pre
    step_base_s: np.ndarray  # a (D,)
    step_per_seq_s: np.ndarray  # c (..., I, D)
    latency_s: np.ndarray  # zero-load end-to-end latency E0 = T_pre + f·a
    max_batch: np.ndarray  # b_max (sequences)
    capacity_rps: np.ndarray  # μ
    load_slope: np.ndarray  # μ·f·c: E2E at utilisation u is E0 / (1 - u·load_slope)
    binding: np.ndarray  # which limit sets μ: 0 none(μ=0) 1 delay 2 memory 3 prefill


BINDING_NAMES = ("unservable", "delay", "memory", "prefill")


def _allreduce_time(msg_bytes: np.ndarray | float, hw: TemplateHardware, c: PerfConstants) -> np.ndarray:
    """Ring all-reduce of ``msg_bytes`` over the TP group, per layer count; zero when TP = 1."""
    n = hw.tp
    ring = 2.0 * (n - 1) / n * msg_bytes / (hw.link_bandwidth * c.link_efficiency)
    per_allreduce = np.where(n > 1, c.allreduce_latency_s + ring, 0.0)
    return c.allreduces_per_layer * hw.layers * per_allreduce


def evaluate_templates(
    hw: TemplateHardware,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    delay_slo_s: np.ndarray,
    constants: PerfConstants | None = None,
) -> PerfTable:
    """Compute the performance table for every (type, template) pair.

    ``input_tokens``, ``output_tokens`` and ``delay_slo_s`` have shape (..., I); the result (..., I, D).
    """
    c = constants or PerfConstants()
    h = np.asarray(input_tokens, dtype=float)[..., None]
    f = np.asarray(output_tokens, dtype=float)[..., None]
    slo = np.broadcast_to(np.asarray(delay_slo_s, dtype=float), np.shape(input_tokens))[..., None]
    n, m = hw.tp.astype(float), hw.pp.astype(float)
    hop = (m - 1.0) * c.hop_latency_s
    act_bytes = hw.hidden * c.kv_bytes_per_value  # one token's activation, FP16

    prefill = 2.0 * hw.params_active * h / (n * hw.flops * c.mfu_prefill) + _allreduce_time(h * act_bytes, hw, c) + hop
    a = hw.weight_bytes / (n * hw.bandwidth * c.mbu_decode) + _allreduce_time(0.0, hw, c) + hop
    per_seq_comm = _allreduce_time(act_bytes, hw, c) - _allreduce_time(0.0, hw, c)
    step_c = (
        hw.kv_bytes_per_token * (h + f / 2.0) / (n * m * hw.bandwidth * c.mbu_decode)
        + 2.0 * hw.params_active / (n * m * hw.flops * c.mfu_decode)
        + per_seq_comm / m
    )
    latency = prefill + f * a
    kv_space = n * m * hw.memory_bytes * c.memory_utilisation - hw.weight_bytes
    max_batch = np.minimum(np.maximum(kv_space, 0.0) / (hw.kv_bytes_per_token * (h + f)), c.max_num_seqs)

    fc = f * step_c
    with np.errstate(divide="ignore", invalid="ignore"):
        lam_delay = np.where(latency < slo, (1.0 - latency / slo) / fc, 0.0)
        lam_mem = max_batch / (latency + max_batch * fc)
        lam_pre = 1.0 / prefill
    limits = np.stack(np.broadcast_arrays(lam_delay, lam_mem, lam_pre), axis=0)
    capacity = limits.min(axis=0)
    servable = (latency < slo) & (max_batch >= 1.0) & (h + f <= hw.context)
    capacity = np.where(servable, capacity, 0.0)
    binding = np.where(servable, limits.argmin(axis=0) + 1, 0)
    return PerfTable(
        prefill_s=prefill,
        step_base_s=np.broadcast_to(a, np.shape(hw.tp)).astype(float),
        step_per_seq_s=step_c,
        latency_s=latency,
        max_batch=max_batch,
        capacity_rps=capacity,
        load_slope=capacity * fc,
        binding=binding,
    )


def latency_at_utilisation(latency_s: np.ndarray, load_slope: np.ndarray, utilisation: np.ndarray) -> np.ndarray:
    """End-to-end latency when a replica runs at ``utilisation`` (share of its capacity in use).

    For one query type this is exactly E2E(λ) with λ = u·μ. For a mix on one replica, ``u`` is the summed
    share Σ_k λ_k/μ_k, so u ≤ 1 keeps every type within its SLO, consistent with the linear capacity
    constraint; past saturation (u·slope ≥ 1) the latency is infinite (the queue grows without bound).
    """
    denom = 1.0 - utilisation * load_slope
    with np.errstate(divide="ignore"):
        return np.where(denom > 0, latency_s / np.where(denom > 0, denom, 1.0), np.inf)
