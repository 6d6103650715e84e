"""The performance model against hand-computed cases (docs/model.md §3), one per physical effect, and its
invariants."""

import numpy as np
import pytest

from hetserve_env.perf import (ARCHS, PerfConstants, TemplateHardware, evaluate_templates, latency_at_utilisation,
                               operating_point, weights_read)

# Hand-computed cases: no fixed overheads, no engine cap on sequences, no activation reserve, prefill GEMMs at
# their large-GEMM efficiency whatever the token count (prefill_tokens_half 0; its own test below).
C = PerfConstants(ttft_overhead_s=0.0, step_overhead_s=0.0, max_num_seqs=10**9, activation_reserve_gb=0.0,
                  prefill_tokens_half=0.0, tp_gemm_overhead=0.0,
                  mbu_decode=0.7, mbu_kv=0.8, mfu_prefill_hopper=0.5, mfu_prefill_ampere=0.4, mfu_decode=0.4)
H1, F1 = np.array([1000.0]), np.array([200.0])


def hardware(params=8e9, weight_bytes=16e9, layers=32, hidden=4096, kappa=131072, tp=1, pp=1, mem=80e9, bw=3.35e12,
             flops=989.4e12, link=450e9, **extra):
    a = lambda v: np.array([v], dtype=float)  # noqa: E731
    extra = {k: np.array([v]) for k, v in extra.items()}
    extra.setdefault("arch", np.array([ARCHS.index("hopper")]))
    return TemplateHardware(
        params_active=a(params), weight_bytes=a(weight_bytes), layers=a(layers), hidden=a(hidden),
        kv_bytes_per_token=a(kappa), context=a(131072), tp=np.array([tp]), pp=np.array([pp]),
        memory_bytes=a(mem), bandwidth=a(bw), flops=a(flops), link_bandwidth=a(link), **extra,
    )


def test_single_gpu_8b_by_hand():
    # Llama-3.1-8B-like on one H100 (80 GB, 3.35 TB/s, 989.4 TFLOPS), h=1000, f=200, SLO 20 s.
    t = evaluate_templates(hardware(), H1, F1, np.array([20.0]), C)
    comp = (2 * 8e9 * 1000 + 2 * 32 * 4096 * 1000**2) / (989.4e12 * 0.5)  # incl. causal attention FLOPs
    assert comp > 16e9 / (3.35e12 * 0.7)  # compute-bound at 1,000 tokens
    assert t.prefill_s[0, 0] == pytest.approx(comp, rel=1e-9)
    a = 16e9 / (3.35e12 * 0.7)
    c = 131072 * 1100 / (3.35e12 * 0.8) + 1.6e10 / (989.4e12 * 0.4)
    assert t.step_base_s[0] == pytest.approx(a, rel=1e-9)
    assert t.step_per_seq_s[0, 0] == pytest.approx(c, rel=1e-9)
    assert t.itl_s[0, 0] == pytest.approx(a + c, rel=1e-9)  # one sequence: its own KV read and compute
    assert t.latency_s[0, 0] == pytest.approx(comp + 200 * (a + c), rel=1e-9)
    assert t.max_batch[0, 0] == pytest.approx((0.9 * 80e9 - 16e9) / (131072 * 1100), rel=1e-9)  # mean KV h + f/2
    assert t.capacity_rps[0, 0] > 0


def test_ttft_floor_is_one_pass_over_the_weights_plus_overhead():
    c = PerfConstants.from_mapping({**C.to_dict(), "ttft_overhead_s": 0.004})
    t = evaluate_templates(hardware(), np.array([16.0]), np.array([10.0]), np.array([60.0]), c)
    wpass = 16e9 / (3.35e12 * 0.7)  # 6.8 ms > compute of 16 tokens (0.5 ms)
    assert t.ttft_s[0, 0] == pytest.approx(wpass + 0.004, rel=1e-9)


def test_prefill_gemm_efficiency_grows_with_tokens():
    # M_half = 512: a 1,000-token prompt alone runs at 1000/1512 of the large-GEMM MFU; under load the engine
    # batches 8,192 tokens per step, so each prefill costs its FLOPs at 8192/8704 of it (chunked: no weight pass).
    c = PerfConstants.from_mapping({**C.to_dict(), "prefill_tokens_half": 512.0})
    t = evaluate_templates(hardware(), H1, F1, np.array([60.0]), c)
    work = (2 * 8e9 * 1000 + 2 * 32 * 4096 * 1000**2) / (989.4e12 * 0.5)
    assert t.ttft_s[0, 0] == pytest.approx(work * 1512 / 1000, rel=1e-9)
    assert t.prefill_busy_s[0, 0] == pytest.approx(work * 8704 / 8192, rel=1e-9)


def test_prefill_efficiency_per_generation_and_fp8_speedup():
    amp = evaluate_templates(hardware(arch=ARCHS.index("ampere")), H1, F1, np.array([60.0]), C)
    hop = evaluate_templates(hardware(), H1, F1, np.array([60.0]), C)
    assert amp.prefill_s[0, 0] / hop.prefill_s[0, 0] == pytest.approx(0.5 / 0.4, rel=1e-9)
    fp8 = evaluate_templates(hardware(weight_bytes=8e9, compute_factor=2.0), H1, F1, np.array([60.0]), C)
    assert hop.prefill_s[0, 0] / fp8.prefill_s[0, 0] == pytest.approx(C.fp8_speedup, rel=1e-9)  # 1.6, not the peak 2


def test_kv_precision_and_engine_memory_rules():
    fp16 = evaluate_templates(hardware(), H1, F1, np.array([60.0]), C)
    fp8kv = evaluate_templates(hardware(), H1, F1, np.array([60.0]), PerfConstants.from_mapping({**C.to_dict(), "kv_precision": "fp8"}))
    assert fp8kv.max_batch[0, 0] == pytest.approx(2 * fp16.max_batch[0, 0], rel=1e-9)
    # "auto": FP8 cache only on templates that compute in FP8
    auto = PerfConstants.from_mapping({**C.to_dict(), "kv_precision": "auto"})
    w8 = evaluate_templates(hardware(weight_bytes=8e9, compute_factor=2.0), H1, F1, np.array([60.0]), auto)
    assert w8.max_batch[0, 0] == pytest.approx((0.9 * 80e9 - 8e9) / (65536 * 1100), rel=1e-9)
    # free rule (TensorRT-LLM): 0.9 x (80 - 16 - 1 GB activations)
    free = PerfConstants.from_mapping({**C.to_dict(), "memory_rule": "free", "activation_reserve_gb": 1.0})
    t = evaluate_templates(hardware(), H1, F1, np.array([60.0]), free)
    assert t.max_batch[0, 0] == pytest.approx(0.9 * (80e9 - 16e9 - 1e9) / (131072 * 1100), rel=1e-9)


def test_prefill_shares_the_gpu_with_decode_under_load():
    t = evaluate_templates(hardware(), H1, F1, np.array([60.0]), C)
    tpre, a, c = t.prefill_s[0, 0], t.step_base_s[0], t.step_per_seq_s[0, 0]
    lam = 5.0
    op = operating_point(hardware(), H1, F1, rate=np.array([lam]), constants=C)
    rho = lam * tpre  # chunked prefill: one prefill costs its compute time
    assert op["prefill_share"][0, 0] == pytest.approx(rho, rel=1e-9)
    assert op["itl_s"][0, 0] == pytest.approx((a + c) / ((1 - rho) - lam * 200 * c), rel=1e-9)
    assert op["ttft_s"][0, 0] == pytest.approx(tpre + rho * tpre / (2 * (1 - rho)), rel=1e-9)  # M/D/1 wait
    # closed loop: the rate that keeps 8 requests in flight satisfies Little's law
    cl = operating_point(hardware(), H1, F1, concurrency=np.array([8.0]), constants=C)
    assert cl["rate"][0, 0] * cl["e2e_s"][0, 0] == pytest.approx(8.0, rel=1e-6)


def test_pcie_allreduce_is_slower_than_nvlink():
    kw = dict(params=70e9, weight_bytes=140e9, layers=80, hidden=8192, kappa=327680, tp=4)
    nv = evaluate_templates(hardware(**kw, nvlink=True), H1, F1, np.array([60.0]), C)
    pc = evaluate_templates(hardware(**kw, nvlink=False, link=32e9), H1, F1, np.array([60.0]), C)
    ar = lambda lat, eff, bw, msg: 2 * 80 * (lat + 1.5 * msg / (bw * eff))  # noqa: E731
    assert (C.allreduce_latency_nvlink_s, C.link_efficiency_nvlink) == (3.75e-5, 0.65)
    assert (C.allreduce_latency_pcie_s, C.link_efficiency_pcie) == (50e-6, 0.5)
    assert nv.step_base_s[0] == pytest.approx(140e9 / (4 * 3.35e12 * 0.7) + ar(3.75e-5, 0.65, 450e9, 0), rel=1e-9)
    assert pc.step_base_s[0] == pytest.approx(140e9 / (4 * 3.35e12 * 0.7) + ar(50e-6, 0.5, 32e9, 0), rel=1e-9)
    assert pc.step_per_seq_s[0, 0] - nv.step_per_seq_s[0, 0] == pytest.approx(
        ar(0, 0.5, 32e9, 8192 * 2) - ar(0, 0.65, 450e9, 8192 * 2), rel=1e-9)


def test_effective_decode_bandwidth_rises_with_batch():
    # Memory part of a step: weights at MBU 0.7, each sequence's KV at 0.8, so the step's effective MBU
    # (bytes moved / (memory time x bandwidth)) rises with the batch from 0.7 towards 0.8.
    t = evaluate_templates(hardware(), H1, F1, np.array([60.0]), C)
    c_kv = t.step_per_seq_s[0, 0] - 1.6e10 / (989.4e12 * 0.4)
    assert c_kv == pytest.approx(131072 * 1100 / (3.35e12 * 0.8), rel=1e-9)
    mbu = lambda b: (16e9 + b * 131072 * 1100) / ((t.step_base_s[0] + c_kv * b) * 3.35e12)  # noqa: E731
    assert mbu(1) == pytest.approx((16e9 + 131072 * 1100) / (16e9 / 0.7 + 131072 * 1100 / 0.8), rel=1e-9)
    assert mbu(1) < mbu(64) < mbu(256) < 0.8


def test_pipeline_parallel_pipelines_prefill_with_a_bubble():
    kw = dict(mem=24e9, bw=300e9, flops=121e12, link=32e9)
    h, f = np.array([4000.0]), np.array([20.0])
    one = evaluate_templates(hardware(pp=1, **kw), h, f, np.array([1e6]), C)
    two = evaluate_templates(hardware(pp=2, **kw), h, f, np.array([1e6]), C)
    k = C.pp_microbatches_per_stage
    stages = 2 * (1 - 1 / (2 * k + 1))  # bubble (m-1)/(k·m+m-1) [E9]
    assert two.prefill_s[0, 0] == pytest.approx(one.prefill_s[0, 0] + C.hop_latency_s, rel=1e-9)
    op1 = operating_point(hardware(pp=1, **kw), h, f, rate=np.array([1.0]), constants=C)
    op2 = operating_point(hardware(pp=2, **kw), h, f, rate=np.array([1.0]), constants=C)
    assert op1["prefill_share"][0, 0] / op2["prefill_share"][0, 0] == pytest.approx(stages, rel=1e-9)
    assert two.capacity_rps[0, 0] > 1.5 * one.capacity_rps[0, 0]  # prefill-heavy: close to 2x


def test_moe_reads_only_touched_experts():
    # Mixtral-like: 46.7B total, 12.9B active, 8 experts, top-2 -> experts hold 45.07B, shared 1.63B.
    hw = hardware(params=12.9e9, weight_bytes=93.4e9, params_total=46.7e9, experts=8.0, experts_active=2.0, tp=2)
    p_exp = (46.7e9 - 12.9e9) * 8 / 6
    one = 93.4e9 * ((46.7e9 - p_exp) + p_exp * 0.25) / 46.7e9  # one token touches 2 of 8 experts
    assert weights_read(hw, 1.0)[0] == pytest.approx(one, rel=1e-9)
    assert weights_read(hw, np.inf)[0] == pytest.approx(93.4e9, rel=1e-9)
    t = evaluate_templates(hw, H1, F1, np.array([60.0]), C)
    assert t.step_base_s[0] == pytest.approx(one / (2 * 3.35e12 * 0.7) + 2 * 32 * 3.75e-5, rel=1e-9)


def test_weight_only_quantisation_pays_dequantisation_on_old_gpus():
    kw = dict(weight_bytes=4.5e9, arch=ARCHS.index("ampere"), bw=2.039e12, flops=312e12)
    wo = evaluate_templates(hardware(**kw, weight_only=True), H1, F1, np.array([60.0]), C)
    plain = evaluate_templates(hardware(**kw), H1, F1, np.array([60.0]), C)
    assert wo.prefill_s[0, 0] == pytest.approx(plain.prefill_s[0, 0] / C.weight_only_prefill_old, rel=1e-9)
    assert wo.step_base_s[0] == pytest.approx(plain.step_base_s[0] / C.weight_only_decode_old, rel=1e-9)


def test_unservable_when_zero_load_misses_slo_or_memory():
    hw = hardware(mem=24e9, bw=300e9, flops=121e12)
    t = evaluate_templates(hw, np.array([1000.0, 1000.0]), np.array([200.0, 200.0]), np.array([1.0, 60.0]), C)
    assert t.capacity_rps[0, 0] == 0 and t.binding[0, 0] == 0  # 200 tokens x 76 ms > 1 s
    assert t.capacity_rps[1, 0] > 0
    too_big = hardware(weight_bytes=21.5e9, mem=24e9)  # 0.9 x 24 - 21.5 = 0.1 GB < one sequence (157 MB)
    assert evaluate_templates(too_big, H1, F1, np.array([60.0]), C).capacity_rps[0, 0] == 0


@pytest.mark.parametrize("hw", [
    hardware(tp=2, nvlink=True),
    hardware(params=12.9e9, weight_bytes=93.4e9, params_total=46.7e9, experts=8.0, experts_active=2.0, tp=2, mem=141e9),
], ids=["dense", "moe"])
def test_capacity_meets_slo_exactly_at_full_utilisation(hw):
    rng = np.random.default_rng(0)
    h, f = rng.uniform(100, 3000, 50), rng.uniform(10, 600, 50)
    slo = rng.uniform(1, 40, 50)
    t = evaluate_templates(hw, h, f, slo)
    ok = t.capacity_rps[:, 0] > 0
    assert ok.sum() > 30
    lat = latency_at_utilisation(t.latency_s[:, 0], t.load_slope[:, 0], np.ones(50))
    assert np.allclose(lat[ok], (t.ttft_at_capacity_s + f[:, None] * t.itl_at_capacity_s)[ok, 0], rtol=1e-9)
    assert np.all(lat[ok] <= slo[ok] * (1 + 1e-9))
    delay_bound = ok & np.isin(t.binding[:, 0], (1, 3))
    assert np.allclose(lat[delay_bound], slo[delay_bound], rtol=1e-6)
    b = t.capacity_rps[:, 0] * (t.ttft_s[:, 0] + f * t.itl_at_capacity_s[:, 0])  # Little's law: sequences holding KV
    assert np.all(b[ok] <= t.max_batch[ok, 0] * (1 + 1e-9))


def test_broadcasts_over_windows():
    h, f = np.full((7, 3), 800.0), np.full((7, 3), 150.0)
    t = evaluate_templates(hardware(), h, f, np.array([5.0, 10.0, 20.0]))
    assert t.capacity_rps.shape == (7, 3, 1)
    assert np.all(np.diff(t.capacity_rps[0, :, 0]) >= 0)  # looser SLO, no less capacity


def test_constants_validation():
    with pytest.raises(ValueError, match="mbu_decode"):
        PerfConstants(mbu_decode=1.5)
    with pytest.raises(ValueError, match="fp8_speedup"):
        PerfConstants(fp8_speedup=2.5)
    with pytest.raises(ValueError, match="unknown performance constant"):
        PerfConstants.from_mapping({"mbu": 0.5})
    with pytest.raises(ValueError, match="max_num_seqs: must be an integer"):
        PerfConstants.from_mapping({"max_num_seqs": 1.5})
    with pytest.raises(ValueError, match="kv_precision must be one of"):
        PerfConstants.from_mapping({"kv_precision": "int4"})
    with pytest.raises(ValueError, match="unknown engine 'tgi'"):
        PerfConstants.from_mapping({}, engine="tgi")
    assert PerfConstants.from_mapping({"mbu_decode": 0.8}).mbu_decode == 0.8


def test_tp_gemm_overhead_slows_compute_per_extra_rank():
    # TP2 with o_TP = 0.25: compute at 1 / 1.25 of two GPUs' rate, so the per-sequence compute term is
    # 2P·1.25 / (2·F·MFU_dec); prefill compute likewise.
    c = PerfConstants.from_mapping({**C.to_dict(), "tp_gemm_overhead": 0.25})
    kw = dict(tp=2, nvlink=True)
    slow = evaluate_templates(hardware(**kw), H1, F1, np.array([60.0]), c)
    fast = evaluate_templates(hardware(**kw), H1, F1, np.array([60.0]), C)
    extra = 2 * 8e9 * 0.25 / (2 * 989.4e12 * 0.4)
    assert slow.step_per_seq_s[0, 0] - fast.step_per_seq_s[0, 0] == pytest.approx(extra, rel=1e-9)
    work = (2 * 8e9 * 1000 + 2 * 32 * 4096 * 1000**2) / (2 * 989.4e12 * 0.5)
    assert slow.prefill_s[0, 0] - fast.prefill_s[0, 0] == pytest.approx(0.25 * work, rel=1e-9)
