"""Analytic two-phase serving model v1 and v2 (docs/model.md §3 and "Model v2"), vectorised over (query types x
templates). v2 = v1 plus three switches in :class:`PerfConstants` (their v1 values leave v1 exactly as it was):
a batched prefill step's weight pass shared by its prompts without chunked prefill (``prefill_weight_pass_shared``),
an eager-prefill launch time per layer (``prefill_layer_overhead_s`` on ``eager_prefill`` engines; in TTFT0 and,
shared by a step's prompts, in ``busy``) and binary HBM capacities (``memory_binary_hbm``); serial host work of
engines that do not overlap it with the GPU (``host_per_seq_s`` per running sequence per step, ``host_ttft_s`` in
TTFT0) and the closed-loop TTFT wait (``closed_loop_ttft``, :func:`operating_point` at a fixed concurrency).

A *template* is one replica of model j on n·m GPUs of type g at precision p (TP n, PP m). For a query type
with mean input h and output f tokens, per (type, template):

* TTFT0 = max(prefill compute incl. attention FLOPs, one pass over the weights) + TP all-reduce of the prompt
  + (m-1)·hop + a fixed launch/scheduling overhead; prefill GEMM efficiency grows with the tokens in the step
  (M / (M + M_half));
* one prefill takes ``busy`` GPU time from decoding (its compute at the engine's batched prefill size; with
  chunked prefill the weight pass is shared with a decode step), and prefills pipeline over the m stages with a
  bubble: prefill utilisation
  ρ = λ·busy / (m·(1 - bubble));
* decode step with b sequences T(b) = a + c·b (MoE: the minimum of two lines, see :func:`_decode_lines`),
  a = weights read once / (n·BW·MBU) + all-reduce latency + hops + host overhead per step,
  c = KV read / (n·m·BW·MBU_kv) + per-sequence compute + TP bytes per sequence;
* under load (Little's law: b = λ·f·ITL other sequences decode beside a request; decode gets the GPU time
  prefill leaves): ITL(λ) = (a + c) / ((1 - ρ) - λ·f·c), TTFT(λ) = TTFT0 + ρ·S / (2(1 - ρ)) (M/D/1 wait, S = busy/(m(1-bubble))),
  E2E(λ) = TTFT(λ) + f·ITL(λ);
* capacity μ = the largest λ with E2E(λ) ≤ Δ and λ·(TTFT0 + f·ITL(λ)) ≤ b_max (sequences holding KV cache:
  the KV-cache and engine limit; requests queueing for prefill hold none), in closed form (each limit is a
  quadratic in λ, see :func:`_capacity`); μ = 0 if the zero-load latency misses Δ, one sequence of h + f tokens
  does not fit the KV cache, or h + f exceeds the model's context.

The environment prices latency as E0 / (1 - u·s) at utilisation u = λ/μ (:func:`latency_at_utilisation`);
``load_slope`` s = 1 - E0/E2E(μ) makes that exact at u = 0 and u = 1 and a hyperbola in between.
"""

from __future__ import annotations

import numpy as np

from .constants import PerfConstants
from .hardware import GB, PerfTable, TemplateHardware, arch_factors, kv_space_bytes, kv_value_factor

_BISECTIONS = 60
_MAX_RATE = 1e9  # rules.MAX_RATE: no capacity above it


def _allreduce_time(msg_bytes: np.ndarray | float, hw: TemplateHardware, c: PerfConstants) -> np.ndarray:
    """Ring all-reduces of ``msg_bytes`` over the TP group, all layers; NVLink or PCIe constants; 0 at TP 1."""
    n = hw.tp
    eff = np.where(hw.nvlink, c.link_efficiency_nvlink, c.link_efficiency_pcie)
    lat = np.where(hw.nvlink, c.allreduce_latency_nvlink_s, c.allreduce_latency_pcie_s)
    ring = 2.0 * (n - 1) / n * msg_bytes / (hw.link_bandwidth * eff)
    return c.allreduces_per_layer * hw.layers * np.where(n > 1, lat + ring, 0.0)


def weights_read(hw: TemplateHardware, tokens: np.ndarray | float) -> np.ndarray:
    """Weight bytes one forward pass over ``tokens`` tokens reads: every dense weight, and of an MoE layer's
    experts the expected share any of the tokens routes to, 1 - (1 - k/E)^tokens."""
    share_experts = np.where(hw.experts > hw.experts_active,
                             (hw.params_total - hw.params_active) * hw.experts / np.maximum(hw.experts - hw.experts_active, 1),
                             0.0) / hw.params_total
    touched = 1.0 - (1.0 - hw.experts_active / hw.experts) ** np.maximum(tokens, 0.0)
    return hw.weight_bytes * ((1.0 - share_experts) + share_experts * touched)


def _gemm_slowdown(tokens: np.ndarray, half: float) -> np.ndarray:
    """1 / (share of large-GEMM efficiency a prefill of ``tokens`` tokens reaches) = (M + M_half) / M."""
    with np.errstate(divide="ignore"):
        return (tokens + half) / np.maximum(tokens, 1e-9)


def _phases(hw: TemplateHardware, h: np.ndarray, f: np.ndarray, c: PerfConstants) -> dict[str, np.ndarray]:
    """Zero-load prefill and decode terms (see the module docstring)."""
    n, m = hw.tp.astype(float), hw.pp.astype(float)
    mfu_pre, wo_pre, wo_dec = arch_factors(hw.arch, c)
    wo_pre, wo_dec = np.where(hw.weight_only, wo_pre, 1.0), np.where(hw.weight_only, wo_dec, 1.0)
    gain = np.where(hw.compute_factor > 1.0, 1.0 + (hw.compute_factor - 1.0) * (c.fp8_speedup - 1.0), hw.compute_factor)
    flops = hw.flops * gain / (1.0 + c.tp_gemm_overhead * (n - 1.0))  # per GPU, TP splitting included
    stream = n * hw.bandwidth * c.mbu_decode * wo_dec  # bytes/s at which the TP group streams weights
    hop = (m - 1.0) * c.hop_latency_s
    act = hw.hidden * c.activation_bytes
    work = (2.0 * hw.params_active * h + 2.0 * hw.layers * hw.attn_dim * h * h) / (n * flops * mfu_pre * wo_pre)
    t_comp = work * _gemm_slowdown(h, c.prefill_tokens_half)  # one prompt alone
    t_batched = work * _gemm_slowdown(np.maximum(h, c.prefill_batch_tokens), c.prefill_tokens_half)  # batched under load
    t_wpass = weights_read(hw, h) / stream
    ar_pre = _allreduce_time(h * act, hw, c)
    launch = hw.layers * c.prefill_layer_overhead_s if c.eager_prefill else 0.0  # v2: eager prefill kernels
    host_seq, host_ttft = (0.0, 0.0) if c.host_overlap else (c.host_per_seq_s, c.host_ttft_s)  # v2: serial host work
    ttft0 = np.maximum(t_comp, t_wpass) + ar_pre + hop + c.ttft_overhead_s + launch + host_ttft
    # v2: one prefill step's weight pass (and launches) is shared by the prompts batched into it (v1: a whole
    # pass per prompt)
    step_share = h / np.maximum(h, c.prefill_batch_tokens)
    pass_share = step_share if c.prefill_weight_pass_shared else 1.0
    busy = (t_batched + ar_pre if c.chunked_prefill
            else np.maximum(t_batched, t_wpass * pass_share) + ar_pre + c.step_overhead_s) + launch * step_share
    k = c.pp_microbatches_per_stage
    stages = m * (1.0 - (m - 1.0) / (k * m + m - 1.0))  # m-fold pipelined prefill less the bubble [E9]
    kv = hw.kv_bytes_per_token * kv_value_factor(hw.compute_factor, c)
    c_seq = (kv * (h + f / 2.0) / (n * m * hw.bandwidth * c.mbu_kv)
             + 2.0 * hw.params_active / (n * m * flops * c.mfu_decode)
             + (_allreduce_time(act, hw, c) - _allreduce_time(0.0, hw, c)) / m + host_seq)
    base = _allreduce_time(0.0, hw, c) + hop + c.step_overhead_s
    lines = _decode_lines(hw, stream, base, c_seq, m)
    gpus = n * m
    kv_space = kv_space_bytes(hw.memory_bytes, hw.weight_bytes, gpus, c, hw.bandwidth)
    with np.errstate(divide="ignore", invalid="ignore"):
        b_max = np.minimum(np.maximum(kv_space, 0.0) / (kv * (h + f / 2.0)), c.max_num_seqs)
    fits_one = kv_space >= kv * (h + f)
    return dict(ttft0=ttft0, busy=busy, stages=stages, b_max=b_max, fits_one=fits_one, **lines)


def _decode_lines(hw: TemplateHardware, stream: np.ndarray, base: np.ndarray, c_seq: np.ndarray,
                  m: np.ndarray) -> dict[str, np.ndarray]:
    """T(b) = min(a1 + c1·b, a2 + c2·b). Dense: both lines equal. MoE: line 1 reads the experts one sequence
    touches and adds the expected extra experts per sequence up to E/k sequences (secant), line 2 reads all."""
    b_s = np.maximum(hw.experts / hw.experts_active, 2.0)
    a1 = weights_read(hw, 1.0) / stream + base
    a2 = weights_read(hw, np.inf) / stream + base
    extra = (weights_read(hw, b_s) - weights_read(hw, 1.0)) / (b_s - 1.0) / stream / m
    return dict(a1=np.broadcast_to(a1, np.shape(hw.tp)).astype(float), c1=c_seq + extra, a2=a2, c2=c_seq,
                moe=bool(np.any(hw.experts > hw.experts_active)))


def _resident(lam: np.ndarray, f: np.ndarray, ttft: np.ndarray, itl: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """Sequences holding KV cache at rate ``lam`` (Little's law over prefill and decode; requests still
    queueing for prefill hold none)."""
    return lam * (p["ttft0"] + f * itl)


def _under_load(lam: np.ndarray, f: np.ndarray, p: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """(E2E, TTFT, ITL, ρ) at arrival rate ``lam``; inf where the replica cannot keep up."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        service = p["busy"] / p["stages"]
        rho = lam * service
        free = 1.0 - rho
        itl = np.full(np.broadcast_shapes(np.shape(lam), np.shape(p["c1"])), np.inf)
        for a, cc in [(p["a1"], p["c1"])] + ([(p["a2"], p["c2"])] if p["moe"] else []):
            den = free - lam * f * cc
            itl = np.minimum(itl, np.where(den > 0, (a + cc) / np.where(den > 0, den, 1.0), np.inf))
        ttft = np.where(free > 0, p["ttft0"] + rho * service / (2.0 * np.where(free > 0, free, 1.0)), np.inf)
        e2e = ttft + f * itl
    return e2e, ttft, itl, rho


def evaluate_templates(
    hw: TemplateHardware,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    delay_slo_s: np.ndarray,
    constants: PerfConstants | None = None,
) -> PerfTable:
    """The performance table of every (type, template) pair.

    ``input_tokens``, ``output_tokens`` and ``delay_slo_s`` have shape (..., I); the result (..., I, D).
    """
    c = constants or PerfConstants()
    h = np.asarray(input_tokens, dtype=float)[..., None]
    f = np.asarray(output_tokens, dtype=float)[..., None]
    slo = np.broadcast_to(np.asarray(delay_slo_s, dtype=float), np.shape(input_tokens))[..., None]
    p = _phases(hw, h, f, c)
    shape = np.broadcast_shapes(h.shape, np.shape(p["c1"]), np.shape(p["busy"]))
    itl0 = np.broadcast_to(np.minimum(p["a1"] + p["c1"], p["a2"] + p["c2"]) if p["moe"] else p["a1"] + p["c1"], shape)
    e0 = p["ttft0"] + f * itl0
    servable = (e0 < slo) & p["fits_one"] & (p["b_max"] >= 1.0) & (h + f <= hw.context)
    mu, memory_bound = _capacity(f, slo, p, shape)
    mu = np.where(servable, mu, 0.0)
    e2e_mu, ttft_mu, itl_mu, rho_mu = _under_load(mu, f, p)
    binding = np.where(memory_bound, 2, np.where(rho_mu > 0.5, 3, 1))
    binding = np.where(servable, binding, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(servable, 1.0 - e0 / e2e_mu, 0.0)
    return PerfTable(
        prefill_s=np.broadcast_to(p["ttft0"], shape).copy(),
        step_base_s=p["a1"],
        step_per_seq_s=np.broadcast_to(p["c1"], shape).copy(),
        latency_s=e0.copy(),
        max_batch=np.broadcast_to(p["b_max"], shape).copy(),
        capacity_rps=mu,
        load_slope=np.clip(slope, 0.0, 1.0 - 1e-12),
        binding=binding,
        prefill_busy_s=np.broadcast_to(p["busy"], shape).copy(),
        ttft_at_capacity_s=np.where(servable, ttft_mu, np.nan),
        itl_at_capacity_s=np.where(servable, itl_mu, np.nan),
        ttft_s=np.broadcast_to(p["ttft0"], shape).copy(),
        itl_s=itl0.copy(),
    )


def _capacity(f: np.ndarray, slo: np.ndarray, p: dict[str, np.ndarray], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(μ, binding-by-memory) in closed form. Per decode line k, with S = busy/(m(1-bubble)), A = a_k + c_k and
    B = S + f·c_k, the delay limit (T0 - Δ)(1 - Sλ)(1 - Bλ) + (S²λ/2)(1 - Bλ) + f·A·(1 - Sλ) ≤ 0 and the KV limit
    (λ·T0 - b_max)(1 - Bλ) + λ·f·A ≤ 0 are quadratics with exactly one root in (0, 1/B) (both sides grow with λ);
    μ_k = the smaller root, μ = max over lines (the step time is their minimum)."""
    S = p["busy"] / p["stages"]
    t0, slo_gap = p["ttft0"], p["ttft0"] - slo
    best = np.zeros(shape)
    mem_bound = np.zeros(shape, dtype=bool)
    lines = [(p["a1"], p["c1"])] + ([(p["a2"], p["c2"])] if p["moe"] else [])  # dense: the two lines coincide
    for a, cc in lines:
        A, B = a + cc, S + f * cc
        x_delay = _root_below(slo_gap * S * B - S * S * B / 2.0, -slo_gap * (S + B) + S * S / 2.0 - f * A * S,
                              slo_gap + f * A, B)
        x_mem = _root_below(-B * t0, t0 + p["b_max"] * B + f * A, -p["b_max"], B)
        x = np.broadcast_to(np.minimum(x_delay, x_mem), shape)
        mem_bound = np.where(x > best, np.broadcast_to(x_mem < x_delay, shape), mem_bound)
        best = np.maximum(best, x)
    return np.minimum(best, _MAX_RATE), mem_bound


def _root_below(q2: np.ndarray, q1: np.ndarray, q0: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The smallest positive root of q2·x² + q1·x + q0 with q0 < 0 (a servable point), -2·q0 / (q1 + √disc) —
    the cancellation-free form, valid for either sign of q2 — capped at 1/B; 0 where q0 ≥ 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        den = q1 + np.sqrt(np.maximum(q1 * q1 - 4.0 * q2 * q0, 0.0))
        root = np.where(den > 0, -2.0 * q0 / den, np.inf)
        root = np.minimum(root, np.where(B > 0, 1.0 / B, np.inf))
    return np.where(q0 < 0, root, 0.0)


def operating_point(hw: TemplateHardware, input_tokens: np.ndarray, output_tokens: np.ndarray,
                    rate: np.ndarray | None = None, concurrency: np.ndarray | None = None,
                    constants: PerfConstants | None = None) -> dict[str, np.ndarray]:
    """TTFT, inter-token latency, end-to-end latency, rate and output tokens/s of every (type, template) at a
    given arrival ``rate`` (open loop, req/s) or a fixed ``concurrency`` (closed loop: rate = N / E2E).

    Arrays have shape (..., I, D); inf where the replica cannot keep up. For validating the model against
    measured benchmarks (scripts/perf_reference.py); the environment uses :func:`evaluate_templates`.
    """
    if (rate is None) == (concurrency is None):
        raise ValueError("operating_point: give exactly one of rate and concurrency")
    c = constants or PerfConstants()
    h = np.asarray(input_tokens, dtype=float)[..., None]
    f = np.asarray(output_tokens, dtype=float)[..., None]
    p = _phases(hw, h, f, c)
    shape = np.broadcast_shapes(h.shape, np.shape(p["c1"]), np.shape(p["busy"]))
    if rate is not None:
        lam = np.broadcast_to(np.asarray(rate, dtype=float)[..., None], shape)
    else:
        n_conc = np.asarray(concurrency, dtype=float)[..., None]
        with np.errstate(divide="ignore"):
            upper = 1.0 / (p["busy"] / p["stages"] + f * np.minimum(p["c1"], p["c2"]))  # the GPU saturates
        lo, hi = np.zeros(shape), np.broadcast_to(np.minimum(upper, _MAX_RATE), shape).copy()
        for _ in range(_BISECTIONS):
            mid = 0.5 * (lo + hi)
            e2e, *_ = _under_load(mid, f, p)
            ok = mid * e2e <= n_conc
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        lam = lo
    e2e, ttft, itl, rho = _under_load(lam, f, p)
    if concurrency is not None and c.closed_loop_ttft:
        ttft = ttft + _closed_loop_wait(n_conc, itl, p, c)
    return {"rate": lam, "ttft_s": ttft, "itl_s": itl, "e2e_s": e2e, "prefill_share": rho,
            "output_tok_s": lam * f, "max_batch": np.broadcast_to(p["b_max"], shape)}


def _closed_loop_wait(n_conc: np.ndarray, itl: np.ndarray, p: dict[str, np.ndarray], c: PerfConstants) -> np.ndarray:
    """v2 (``closed_loop_ttft``): what a closed-loop request waits for beyond the open-loop TTFT: the decode step
    running when it arrives (one ITL), the b - 1 other sequences' decodes in its own prefill step and
    ``closed_loop_sync``·(b - 1)/2 prefills of clients in step with it (b = min(N, b_max))."""
    others = np.maximum(np.minimum(n_conc, p["b_max"]) - 1.0, 0.0)
    return itl + others * p["c1"] + c.closed_loop_sync * others / 2.0 * p["busy"] / p["stages"]


def latency_at_utilisation(latency_s: np.ndarray, load_slope: np.ndarray, utilisation: np.ndarray) -> np.ndarray:
    """End-to-end latency when a replica runs at ``utilisation`` (share of its capacity in use).

    E0 / (1 - u·s): exact at u = 0 (E0) and at u = 1 (E2E at capacity) for one query type. For a mix on one
    replica, ``u`` is the summed share Σ_k λ_k/μ_k, so u ≤ 1 keeps every type within its SLO, consistent with
    the linear capacity constraint; past saturation (u·s ≥ 1) the latency is infinite.
    """
    denom = 1.0 - utilisation * load_slope
    with np.errstate(divide="ignore"):
        return np.where(denom > 0, latency_s / np.where(denom > 0, denom, 1.0), np.inf)


__all__ = ["GB", "evaluate_templates", "latency_at_utilisation", "operating_point", "weights_read"]
