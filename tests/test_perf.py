"""The performance model against hand-computed cases (docs/model.md §3), and its invariants."""

import numpy as np
import pytest

from hetserve_env.perf import PerfConstants, TemplateHardware, evaluate_templates, latency_at_utilisation

# The hand-computed cases use these constants (MBU 0.7, no engine cap on concurrent sequences).
C = PerfConstants(mbu_decode=0.7, max_num_seqs=10**9)


def hardware(params, weight_bytes, layers, hidden, kappa, tp, pp=1, mem=80e9, bw=3.35e12, flops=989.4e12, link=450e9):
    a = lambda v: np.array([v], dtype=float)  # noqa: E731
    return TemplateHardware(
        params_active=a(params), weight_bytes=a(weight_bytes), layers=a(layers), hidden=a(hidden),
        kv_bytes_per_token=a(kappa), context=a(131072), tp=np.array([tp]), pp=np.array([pp]),
        memory_bytes=a(mem), bandwidth=a(bw), flops=a(flops), link_bandwidth=a(link),
    )


def test_single_gpu_8b_by_hand():
    # Llama-3.1-8B-like on one H100-SXM (80 GB, 3.35 TB/s, 989.4 TFLOPS), h=1000, f=200, SLO 20 s.
    hw = hardware(8e9, 16e9, 32, 4096, 131072, tp=1)
    t = evaluate_templates(hw, np.array([1000.0]), np.array([200.0]), np.array([20.0]), C)
    # T_pre = 2·8e9·1000 / (989.4e12·0.5)
    assert t.prefill_s[0, 0] == pytest.approx(1.6e13 / 4.947e14, rel=1e-9)
    # a = 16e9 / (3.35e12·0.7); no TP, no PP
    assert t.step_base_s[0] == pytest.approx(16e9 / 2.345e12, rel=1e-9)
    # c = κ(h + f/2)/(BW·MBU) + 2P/(F·MFU_dec)
    c = 131072 * 1100 / 2.345e12 + 1.6e10 / (989.4e12 * 0.4)
    assert t.step_per_seq_s[0, 0] == pytest.approx(c, rel=1e-9)
    e0 = 1.6e13 / 4.947e14 + 200 * 16e9 / 2.345e12
    assert t.latency_s[0, 0] == pytest.approx(e0, rel=1e-9)  # 1.397 s
    bmax = (80e9 * 0.9 - 16e9) / (131072 * 1200)
    assert t.max_batch[0, 0] == pytest.approx(bmax, rel=1e-9)  # 356 sequences
    lam_delay = (1 - e0 / 20) / (200 * c)  # 45.6 req/s
    lam_mem = bmax / (e0 + bmax * 200 * c)  # 41.1 req/s
    lam_pre = 4.947e14 / 1.6e13  # 30.9 req/s: prefill occupancy binds
    assert t.capacity_rps[0, 0] == pytest.approx(min(lam_delay, lam_mem, lam_pre), rel=1e-9)
    assert t.capacity_rps[0, 0] == pytest.approx(30.92, abs=0.01)
    assert t.binding[0, 0] == 3


def test_tensor_parallel_70b_by_hand():
    # Llama-3.1-70B-like on 4 GPUs, TP4: two ring all-reduces per layer, 80 layers, link 450 GB/s at 0.65.
    hw = hardware(70e9, 140e9, 80, 8192, 327680, tp=4)
    t = evaluate_templates(hw, np.array([1000.0]), np.array([200.0]), np.array([20.0]), C)
    ring = lambda msg: 2 * 80 * (10e-6 + 2 * 3 / 4 * msg / (450e9 * 0.65))  # noqa: E731
    tpre = 2 * 70e9 * 1000 / (4 * 989.4e12 * 0.5) + ring(1000 * 8192 * 2)
    a = 140e9 / (4 * 3.35e12 * 0.7) + ring(0)
    c = 327680 * 1100 / (4 * 3.35e12 * 0.7) + 2 * 70e9 / (4 * 989.4e12 * 0.4) + (ring(8192 * 2) - ring(0))
    assert t.prefill_s[0, 0] == pytest.approx(tpre, rel=1e-9)  # 0.0858 s
    assert t.step_base_s[0] == pytest.approx(a, rel=1e-9)  # 16.5 ms per token
    assert t.step_per_seq_s[0, 0] == pytest.approx(c, rel=1e-9)
    assert t.latency_s[0, 0] == pytest.approx(3.3909, abs=1e-3)
    assert t.capacity_rps[0, 0] == pytest.approx(11.656, abs=1e-3)  # prefill-bound


def test_pipeline_parallel_keeps_latency_raises_capacity():
    # Same hardware; PP2 adds one hop per token and halves the per-sequence term (two micro-batches).
    base = evaluate_templates(hardware(8e9, 16e9, 32, 4096, 131072, tp=1, pp=1, mem=24e9, bw=300e9, flops=121e12, link=32e9),
                              np.array([500.0]), np.array([100.0]), np.array([60.0]))
    pp2 = evaluate_templates(hardware(8e9, 16e9, 32, 4096, 131072, tp=1, pp=2, mem=24e9, bw=300e9, flops=121e12, link=32e9),
                             np.array([500.0]), np.array([100.0]), np.array([60.0]))
    c = PerfConstants()
    assert pp2.step_base_s[0] == pytest.approx(base.step_base_s[0] + c.hop_latency_s)
    assert pp2.latency_s[0, 0] > base.latency_s[0, 0]
    assert pp2.max_batch[0, 0] > base.max_batch[0, 0]  # twice the memory, same weights
    assert pp2.capacity_rps[0, 0] > base.capacity_rps[0, 0]


def test_unservable_when_zero_load_misses_slo_or_memory():
    hw = hardware(8e9, 16e9, 32, 4096, 131072, tp=1, mem=24e9, bw=300e9, flops=121e12)
    t = evaluate_templates(hw, np.array([1000.0, 1000.0]), np.array([200.0, 200.0]), np.array([1.0, 60.0]))
    assert t.capacity_rps[0, 0] == 0 and t.binding[0, 0] == 0  # 200 tokens x 76 ms > 1 s
    assert t.capacity_rps[1, 0] > 0
    too_big = hardware(8e9, 23e9, 32, 4096, 131072, tp=1, mem=24e9)
    assert evaluate_templates(too_big, np.array([1000.0]), np.array([200.0]), np.array([60.0])).capacity_rps[0, 0] == 0


def test_capacity_meets_slo_exactly_at_full_utilisation():
    rng = np.random.default_rng(0)
    hw = hardware(8e9, 16e9, 32, 4096, 131072, tp=2, mem=80e9)
    h, f = rng.uniform(100, 3000, 50), rng.uniform(10, 600, 50)
    slo = rng.uniform(1, 40, 50)
    t = evaluate_templates(hw, h, f, slo)
    ok = t.capacity_rps[:, 0] > 0
    lat = latency_at_utilisation(t.latency_s[:, 0], t.load_slope[:, 0], np.ones(50))
    assert np.all(lat[ok] <= slo[ok] * (1 + 1e-9))
    delay_bound = ok & (t.binding[:, 0] == 1)
    assert np.allclose(lat[delay_bound], slo[delay_bound])
    # Little's law: the concurrency at capacity never exceeds the KV-cache limit.
    b = t.capacity_rps[:, 0] * lat
    assert np.all(b[ok] <= t.max_batch[ok, 0] * (1 + 1e-9))


def test_broadcasts_over_windows():
    hw = hardware(8e9, 16e9, 32, 4096, 131072, tp=1)
    h = np.full((7, 3), 800.0)
    f = np.full((7, 3), 150.0)
    t = evaluate_templates(hw, h, f, np.array([5.0, 10.0, 20.0]))
    assert t.capacity_rps.shape == (7, 3, 1)
    assert np.all(np.diff(t.capacity_rps[0, :, 0]) >= 0)  # looser SLO, no less capacity


def test_constants_validation():
    with pytest.raises(ValueError, match="mbu_decode"):
        PerfConstants(mbu_decode=1.5)
    with pytest.raises(ValueError, match="unknown performance constant"):
        PerfConstants.from_mapping({"mbu": 0.5})
    assert PerfConstants.from_mapping({"mbu_decode": 0.8}).mbu_decode == 0.8
