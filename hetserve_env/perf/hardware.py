"""What the performance model reads about a template (:class:`TemplateHardware`), what it returns
(:class:`PerfTable`), and the memory rules both the model and :mod:`hetserve_env.templates` use."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .constants import ARCHS, OLD_ARCHS, PerfConstants

GB = 1e9
TFLOP = 1e12


@dataclass(frozen=True)
class TemplateHardware:
    """Per-template arrays (length D) the model needs; built by :mod:`hetserve_env.templates`.

    The fields after ``link_bandwidth`` are optional: left out, they describe a dense model on a GPU of unknown
    generation at FP16 (``nvlink`` then follows ``link_bandwidth`` >= 100 GB/s, the NVLink class).
    """

    params_active: np.ndarray  # active parameters per token (count)
    weight_bytes: np.ndarray  # weight bytes of the whole replica at its precision (all experts)
    layers: np.ndarray
    hidden: np.ndarray
    kv_bytes_per_token: np.ndarray  # κ: FP16 bytes of K and V per token (all layers); the model applies the KV precision
    context: np.ndarray  # max context tokens of the model
    tp: np.ndarray
    pp: np.ndarray
    memory_bytes: np.ndarray  # per GPU
    bandwidth: np.ndarray  # bytes/s per GPU
    flops: np.ndarray  # dense FP16/BF16 FLOP/s per GPU (the precision's speed-up is compute_factor)
    link_bandwidth: np.ndarray  # bytes/s per GPU for all-reduce
    params_total: np.ndarray | None = None  # all parameters (MoE: every expert); default params_active
    experts: np.ndarray | None = None  # experts per MoE layer (1 = dense)
    experts_active: np.ndarray | None = None  # experts each token uses (top-k)
    attn_dim: np.ndarray | None = None  # q_heads x head_dim (attention FLOPs); default hidden
    arch: np.ndarray | None = None  # index into perf.constants.ARCHS; default 0 (unknown)
    nvlink: np.ndarray | None = None  # all-reduce over NVLink (else PCIe)
    compute_factor: np.ndarray | None = None  # peak compute factor of the precision on this GPU (FP8 W8A8: 2)
    weight_only: np.ndarray | None = None  # weights quantised, compute in FP16 (dequantisation cost)

    def __post_init__(self) -> None:
        d = np.shape(self.tp)
        defaults = {
            "params_total": self.params_active, "experts": np.ones(d), "experts_active": np.ones(d),
            "attn_dim": self.hidden, "arch": np.zeros(d, dtype=np.int64),
            "nvlink": np.asarray(self.link_bandwidth) >= 100 * GB, "compute_factor": np.ones(d),
            "weight_only": np.zeros(d, dtype=bool),
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.broadcast_to(np.asarray(value), d).copy())
        if np.any((self.arch < 0) | (self.arch >= len(ARCHS))):
            raise ValueError(f"TemplateHardware.arch: indices must be in [0, {len(ARCHS) - 1}] (ARCHS), got {self.arch}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class PerfTable:
    """Model outputs; type-indexed arrays have shape (..., I, D), template-only ones (D,)."""

    prefill_s: np.ndarray  # zero-load time to first token (TTFT0)
    step_base_s: np.ndarray  # a (D,): per-step time independent of the batch (weights, all-reduce latency, host)
    step_per_seq_s: np.ndarray  # c (..., I, D): added step time per extra sequence (MoE: up to E/k sequences)
    latency_s: np.ndarray  # zero-load end-to-end latency E0 = TTFT0 + f·ITL0
    max_batch: np.ndarray  # b_max (sequences)
    capacity_rps: np.ndarray  # μ
    load_slope: np.ndarray  # s with E2E(μ) = E0 / (1 - s): E2E at utilisation u is E0 / (1 - u·s)
    binding: np.ndarray  # which limit sets μ: 0 none(μ=0) 1 delay 2 memory 3 prefill
    prefill_busy_s: np.ndarray  # GPU time one prefill takes from decoding (per pipeline)
    ttft_at_capacity_s: np.ndarray  # TTFT at λ = μ (prefill queueing included)
    itl_at_capacity_s: np.ndarray  # inter-token latency at λ = μ (prefill interference included)
    ttft_s: np.ndarray  # zero-load time to first token (= prefill_s)
    itl_s: np.ndarray  # zero-load inter-token latency ITL0 = a + c (one sequence alone)


BINDING_NAMES = ("unservable", "delay", "memory", "prefill")


def kv_value_factor(compute_factor: np.ndarray, c: PerfConstants) -> np.ndarray:
    """KV bytes relative to FP16 under the engine's KV precision (``auto``: FP8 where the template computes
    in FP8)."""
    fp8 = {"fp16": np.zeros_like(compute_factor, dtype=bool), "fp8": np.ones_like(compute_factor, dtype=bool),
           "auto": np.asarray(compute_factor) > 1.0}[c.kv_precision]
    return np.where(fp8, 0.5, 1.0)


#: GPUs at or above this memory bandwidth carry HBM (A100, H100, H200; the GDDR parts T4, L4, A10G, L40S are far
#: below): their nominal "GB" is binary (HBM stacks come in 2^k-byte capacities: "80 GB" = 80 GiB).
HBM_MIN_BANDWIDTH = 1e12
GIB = 2.0**30


def memory_per_gpu(memory_bytes: np.ndarray, bandwidth: np.ndarray | None, c: PerfConstants) -> np.ndarray:
    """Bytes per GPU: the catalog's nominal GB x 1e9, or (v2, ``memory_binary_hbm``) x 2^30 on HBM GPUs."""
    if not c.memory_binary_hbm or bandwidth is None:
        return np.asarray(memory_bytes)
    return np.asarray(memory_bytes) * np.where(np.asarray(bandwidth) >= HBM_MIN_BANDWIDTH, GIB / GB, 1.0)


def kv_space_bytes(memory_bytes: np.ndarray, weight_bytes: np.ndarray, gpus: np.ndarray, c: PerfConstants,
                   bandwidth: np.ndarray | None = None) -> np.ndarray:
    """KV-cache bytes the engine leaves on a replica of ``gpus`` GPUs (``memory_bytes`` each, nominal; with the
    GPUs' ``bandwidth`` v2 reads HBM capacities as binary, :func:`memory_per_gpu`): ``total`` rule
    η·M − W − A, ``free`` rule η·(M − W − A), A the activation reserve; may be negative (does not fit)."""
    total = np.asarray(gpus) * memory_per_gpu(memory_bytes, bandwidth, c)
    act = np.asarray(gpus) * c.activation_reserve_gb * GB
    if c.memory_rule == "total":
        return c.memory_utilisation * total - weight_bytes - act
    return c.memory_utilisation * (total - weight_bytes - act)


def arch_factors(arch: np.ndarray, c: PerfConstants) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per template: prefill MFU of its GPU generation, weight-only prefill factor, weight-only decode factor."""
    mfu = np.array([c.mfu_prefill if a == "unknown" else getattr(c, f"mfu_prefill_{a}") for a in ARCHS])
    old = np.array([a in OLD_ARCHS for a in ARCHS])
    wo_pre = np.where(old, c.weight_only_prefill_old, c.weight_only_prefill_new)
    wo_dec = np.where(old, c.weight_only_decode_old, c.weight_only_decode_new)
    return mfu[arch], wo_pre[arch], wo_dec[arch]
