"""Deployment templates: (model, GPU type, precision, TP, PP) combinations that fit in memory.

A template is one replica of a model; ``build_templates`` enumerates the candidates of a scenario, drops
those that cannot run (memory, TP beyond one node, TP not dividing the attention heads), and returns them
as arrays for the vectorised performance model.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Sequence

import numpy as np

from .catalog import Catalog
from .perf import ARCHS, GB, TFLOP, PerfConstants, TemplateHardware, evaluate_templates, kv_space_bytes, kv_value_factor

#: A template must leave room in the KV cache for at least this many tokens (one long request).
MIN_KV_TOKENS = 2048


@dataclass(frozen=True)
class TemplateSet:
    """The D templates of a scenario, as parallel arrays plus the names they index."""

    model_names: tuple[str, ...]
    gpu_names: tuple[str, ...]
    precision_names: tuple[str, ...]
    model: np.ndarray  # (D,) index into model_names
    gpu: np.ndarray  # (D,) index into gpu_names
    precision: np.ndarray  # (D,) index into precision_names
    tp: np.ndarray
    pp: np.ndarray
    cost_per_hour: np.ndarray  # $/h of one replica (tp·pp GPUs)
    weight_gb: np.ndarray  # weight GB of the replica
    hardware: TemplateHardware

    def __len__(self) -> int:
        return int(self.model.shape[0])

    @property
    def gpus(self) -> np.ndarray:
        return self.tp * self.pp

    def label(self, d: int) -> str:
        return (
            f"{self.model_names[self.model[d]]}@{self.gpu_names[self.gpu[d]]}/"
            f"{self.precision_names[self.precision[d]]} TP{self.tp[d]} PP{self.pp[d]}"
        )

    @property
    def labels(self) -> list[str]:
        return [self.label(d) for d in range(len(self))]

    def subset(self, keep: np.ndarray) -> "TemplateSet":
        """The templates where ``keep`` is true (a boolean mask or index array), names unchanged."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep, dtype=int)
        hw = TemplateHardware(**{k: v[idx] for k, v in vars(self.hardware).items()})
        return TemplateSet(
            self.model_names, self.gpu_names, self.precision_names,
            self.model[idx], self.gpu[idx], self.precision[idx], self.tp[idx], self.pp[idx],
            self.cost_per_hour[idx], self.weight_gb[idx], hw,
        )


def build_templates(
    catalog: Catalog,
    models: Sequence[str],
    tiers: Sequence[tuple[str, str]],
    tp: Sequence[int] = (1, 2, 4, 8),
    pp: Sequence[int] = (1,),
    constants: PerfConstants | None = None,
) -> TemplateSet:
    """Enumerate every (model, tier, TP, PP) that can run; tiers are (GPU type, precision) pairs.

    Rules (documented in docs/model.md §2): TP ≤ GPUs per node, TP divides the model's attention heads,
    PP ≤ layers, and the KV cache the engine leaves after weights and activations
    (:func:`hetserve_env.perf.kv_space_bytes`) holds ``MIN_KV_TOKENS`` tokens at the engine's KV precision.
    """
    c = constants or PerfConstants()
    model_specs = [catalog.model(m) for m in models]
    gpu_names = tuple(dict.fromkeys(g for g, _ in tiers))
    prec_names = tuple(dict.fromkeys(p for _, p in tiers))
    rows: list[tuple[int, int, int, int, int]] = []
    for (jm, spec), (g, p), n, m in product(enumerate(model_specs), tiers, tp, pp):
        gpu, prec = catalog.gpu(g), catalog.precision(p)
        if n > gpu.gpus_per_node or spec.q_heads % n or m > spec.layers:
            continue
        kv = spec.kv_bytes_per_token * float(kv_value_factor(np.array(prec.compute_factor_on(gpu)), c))
        if kv_space_bytes(gpu.memory_gb * GB, spec.weight_gb(prec) * GB, n * m, c, gpu.bandwidth_gbs * GB) < MIN_KV_TOKENS * kv:
            continue
        rows.append((jm, gpu_names.index(g), prec_names.index(p), n, m))
    if not rows:
        raise ValueError(f"no template fits: models {list(models)} on tiers {list(tiers)} with TP {list(tp)}, PP {list(pp)}")
    arr = np.array(rows, dtype=np.int64)
    jm, gi, pi, n, m = arr.T
    gpus = [catalog.gpu(g) for g in gpu_names]
    precs = [catalog.precision(p) for p in prec_names]
    spec_arr = lambda attr: np.array([getattr(model_specs[j], attr) for j in jm], dtype=float)  # noqa: E731
    weight_gb = np.array([model_specs[j].weight_gb(precs[p]) for j, p in zip(jm, pi)])
    factor = np.array([precs[p].compute_factor_on(gpus[g]) for g, p in zip(gi, pi)])
    weight_only = np.array([precs[p].bytes_per_param < 2 and precs[p].compute_factor_on(gpus[g]) <= 1.0
                            for g, p in zip(gi, pi)])
    hw = TemplateHardware(
        params_active=spec_arr("active_params_b") * 1e9,
        weight_bytes=weight_gb * GB,
        layers=spec_arr("layers"),
        hidden=spec_arr("hidden"),
        kv_bytes_per_token=np.array([model_specs[j].kv_bytes_per_token for j in jm], dtype=float),
        context=spec_arr("context"),
        tp=n,
        pp=m,
        memory_bytes=np.array([gpus[g].memory_gb for g in gi]) * GB,
        bandwidth=np.array([gpus[g].bandwidth_gbs for g in gi]) * GB,
        flops=np.array([gpus[g].fp16_tflops for g in gi]) * TFLOP,
        link_bandwidth=np.array([gpus[g].link_gbs for g in gi]) * GB,
        params_total=spec_arr("params_b") * 1e9,
        experts=spec_arr("experts"),
        experts_active=spec_arr("experts_active"),
        attn_dim=np.array([model_specs[j].q_heads * model_specs[j].head_dim for j in jm], dtype=float),
        arch=np.array([ARCHS.index(gpus[g].arch) for g in gi], dtype=np.int64),
        nvlink=np.array([gpus[g].interconnect == "nvlink" or (gpus[g].interconnect == "unknown" and gpus[g].link_gbs >= 100)
                         for g in gi]),
        compute_factor=factor,
        weight_only=weight_only,
    )
    price = np.array([gpus[g].price_per_hour for g in gi])
    return TemplateSet(
        model_names=tuple(models), gpu_names=gpu_names, precision_names=prec_names,
        model=jm, gpu=gi, precision=pi, tp=n, pp=m,
        cost_per_hour=price * n * m, weight_gb=weight_gb, hardware=hw,
    )


def prune_dominated(
    templates: TemplateSet,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    delay_slo_s: np.ndarray,
    constants: PerfConstants | None = None,
) -> np.ndarray:
    """Boolean mask of templates to keep.

    Template d is dominated by d' when both run the same model at the same precision on the same GPU type
    (so error and inventory use are alike per GPU), d' uses no more GPUs, and at the given token means d'
    has at least d's capacity and at most d's zero-load latency for every query type, one of them strictly
    or with fewer GPUs. Dominated templates can never improve a plan, so dropping them is exact for the
    static problem at those token means.
    """
    perf = evaluate_templates(templates.hardware, input_tokens, output_tokens, delay_slo_s, constants)
    return undominated(templates, perf.capacity_rps, perf.latency_s)


def undominated(templates: TemplateSet, mu: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Keep-mask of :func:`prune_dominated`'s rule for given capacities ``mu`` and latencies ``lat`` (types x
    templates); compares only within (model, GPU, precision) groups, so it needs no D x D x I array."""
    gpus = templates.gpus
    a, b = pairs_within(templates.model * 10_000 + templates.gpu * 100 + templates.precision)  # does b dominate a?
    dom = ((mu[:, b] >= mu[:, a] - 1e-12).all(axis=0) & (lat[:, b] <= lat[:, a] + 1e-12).all(axis=0) & (gpus[b] <= gpus[a])
           & ((mu[:, b] > mu[:, a] + 1e-9).any(axis=0) | (lat[:, b] < lat[:, a] - 1e-9).any(axis=0) | (gpus[b] < gpus[a])))
    dominated = np.zeros(len(gpus), dtype=bool)
    dominated[a[dom]] = True
    useless = (mu <= 0).all(axis=0)  # serves no type at all
    return ~(dominated | useless)


def pairs_within(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (a, b), a != b, of indices with equal ``key`` — without a D x D matrix."""
    key = np.asarray(key, dtype=np.int64)
    D = len(key)
    if D == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    sizes = np.diff(np.r_[starts, D])
    size_of = np.repeat(sizes, sizes)
    a = np.repeat(np.arange(D), size_of)
    first = np.repeat(np.cumsum(size_of) - size_of, size_of)
    b = np.repeat(np.repeat(starts, sizes), size_of) + (np.arange(len(a)) - first)
    a, b = order[a], order[b]
    keep = a != b
    return a[keep].astype(np.int64), b[keep].astype(np.int64)
