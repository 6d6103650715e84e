"""Performance model v2's host and closed-loop terms (docs/model.md "Model v2"): serial host work per running
sequence and in TTFT on engines that do not overlap it with the GPU (vLLM), and the closed-loop TTFT wait."""

import numpy as np
import pytest

from hetserve_env import load_catalog
from hetserve_env.perf import ENGINES, PerfConstants, evaluate_templates, operating_point
from hetserve_env.templates import build_templates
from tests.test_perf import C, H1, F1, hardware

SLO = np.array([60.0])


def _with(**kw) -> PerfConstants:
    return PerfConstants.from_mapping({**C.to_dict(), **kw})


def test_v1_has_no_host_or_closed_loop_terms():
    v1 = PerfConstants()
    assert (v1.host_per_seq_s, v1.host_ttft_s, v1.closed_loop_ttft, v1.closed_loop_sync) == (0.0, 0.0, False, 0.0)
    # a closed loop under v1 reports the open-loop TTFT at the rate it settles at
    cl = operating_point(hardware(), H1, F1, concurrency=np.array([16.0]), constants=C)
    op = operating_point(hardware(), H1, F1, rate=cl["rate"][:, 0], constants=C)
    assert cl["ttft_s"][0, 0] == pytest.approx(op["ttft_s"][0, 0], rel=1e-12)


def test_engine_profiles_say_which_engines_overlap_host_work():
    assert {name: p.host_overlap for name, p in ENGINES.items()} == {"vllm": False, "sglang": True, "trtllm": True}
    assert PerfConstants.from_mapping({}, engine="sglang").host_overlap is True


def test_host_work_adds_to_the_step_slope_and_ttft_only_without_overlap():
    plain = evaluate_templates(hardware(), H1, F1, SLO, _with(host_overlap=False))
    serial = evaluate_templates(hardware(), H1, F1, SLO, _with(host_overlap=False, host_per_seq_s=5e-5, host_ttft_s=0.01))
    hidden = evaluate_templates(hardware(), H1, F1, SLO, _with(host_overlap=True, host_per_seq_s=5e-5, host_ttft_s=0.01))
    assert serial.step_per_seq_s[0, 0] - plain.step_per_seq_s[0, 0] == pytest.approx(5e-5, rel=1e-9)
    assert serial.step_base_s[0] == pytest.approx(plain.step_base_s[0], rel=1e-12)  # per sequence, not per step
    assert serial.ttft_s[0, 0] - plain.ttft_s[0, 0] == pytest.approx(0.01, rel=1e-9)
    assert serial.capacity_rps[0, 0] < plain.capacity_rps[0, 0]
    assert hidden.step_per_seq_s[0, 0] == plain.step_per_seq_s[0, 0] and hidden.ttft_s[0, 0] == plain.ttft_s[0, 0]


def _saturated_output(gpu: str, constants: PerfConstants) -> float:
    t = build_templates(load_catalog(), ["Llama-3.1-8B"], [(gpu, "fp16")], tp=[1], constants=constants)
    perf = evaluate_templates(t.hardware, np.array([232.0]), np.array([220.0]), np.array([1e9]), constants)
    return float(perf.capacity_rps[0, 0]) * 220.0


def test_v2_host_time_narrows_the_fast_gpu_gain_of_a_small_model_at_large_batch():
    # vLLM, an 8B model at ShareGPT-like lengths and an unbounded SLO (256 running sequences): without host time
    # the H100/A100 throughput ratio follows the GPUs (compute 3.2x, bandwidth 1.64x); v2's serial host time per
    # running sequence is the same on both GPUs, so it narrows the ratio (measured 1.29 for Qwen3-8B on vLLM
    # 0.9.2, calibration rows gpsq-12/14).
    v1, v2 = PerfConstants.from_mapping({"version": "v1"}), PerfConstants.from_mapping({"version": "v2"})
    no_host = PerfConstants.from_mapping({"version": "v2", "host_per_seq_s": 0.0})
    ratio = {k: _saturated_output("H100-SXM", c) / _saturated_output("A100-80GB", c)
             for k, c in {"v1": v1, "v2": v2, "no_host": no_host}.items()}
    assert v2.host_per_seq_s > 0 and not v2.host_overlap
    assert 1.0 < ratio["v2"] < ratio["no_host"] and ratio["v2"] < ratio["v1"]
    # the host term costs the faster GPU a larger share of its throughput
    loss = {g: 1 - _saturated_output(g, v2) / _saturated_output(g, no_host) for g in ("H100-SXM", "A100-80GB")}
    assert loss["H100-SXM"] > loss["A100-80GB"] > 0


def test_closed_loop_ttft_waits_a_step_the_other_decodes_and_prefills_in_step():
    n, sync = 16.0, 0.5
    off = _with(closed_loop_sync=sync)
    on = _with(closed_loop_ttft=True, closed_loop_sync=sync)
    base = operating_point(hardware(), H1, F1, concurrency=np.array([n]), constants=off)
    cl = operating_point(hardware(), H1, F1, concurrency=np.array([n]), constants=on)
    t = evaluate_templates(hardware(), H1, F1, SLO, on)
    c, busy = t.step_per_seq_s[0, 0], t.prefill_busy_s[0, 0]  # TP 1, PP 1: no pipeline bubble
    wait = base["itl_s"][0, 0] + (n - 1) * c + sync * (n - 1) / 2 * busy
    assert cl["ttft_s"][0, 0] == pytest.approx(base["ttft_s"][0, 0] + wait, rel=1e-9)
    for key in ("rate", "itl_s", "e2e_s", "output_tok_s"):  # the same GPU time: rate and E2E do not move
        assert cl[key][0, 0] == pytest.approx(base[key][0, 0], rel=1e-12)


def test_closed_loop_ttft_grows_with_concurrency_under_v2():
    v2 = PerfConstants.from_mapping({"version": "v2"})
    t = build_templates(load_catalog(), ["Llama-3.1-8B"], [("H100-SXM", "fp16")], tp=[1], constants=v2)
    h, f = np.array([2048.0, 2048.0, 2048.0]), np.array([256.0, 256.0, 256.0])
    ttft = operating_point(t.hardware, h, f, concurrency=np.array([1.0, 8.0, 64.0]), constants=v2)["ttft_s"][:, 0]
    assert ttft[0] < ttft[1] < ttft[2]
    alone = evaluate_templates(t.hardware, h[:1], f[:1], np.array([1e9]), v2).ttft_s[0, 0]
    assert ttft[2] > 3.0 * alone  # 64 clients: several prefills and 63 decodes to wait behind
    open_loop = PerfConstants.from_mapping({"version": "v2", "closed_loop_ttft": False})
    plain = operating_point(t.hardware, h, f, concurrency=np.array([1.0, 8.0, 64.0]), constants=open_loop)["ttft_s"][:, 0]
    assert np.all(ttft > plain)


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_closed_loop_sync_outside_its_range_is_an_error_naming_it(value):
    with pytest.raises(ValueError, match=r"closed_loop_sync must be in \[0, 1\]"):
        PerfConstants.from_mapping({"closed_loop_sync": value})


@pytest.mark.parametrize("name", ["host_per_seq_s", "host_ttft_s"])
def test_negative_host_time_is_an_error_naming_it(name):
    with pytest.raises(ValueError, match=rf"PerfConstants.{name} must be a finite number >= 0"):
        PerfConstants.from_mapping({name: -1e-3})


@pytest.mark.parametrize("name", ["host_overlap", "closed_loop_ttft", "eager_prefill"])
def test_a_switch_that_is_not_a_bool_is_an_error_naming_it(name):
    # built directly (not through from_mapping's coercion): "no" would otherwise read as true
    with pytest.raises(ValueError, match=rf"PerfConstants.{name} must be true or false, got 'no'"):
        PerfConstants(**{name: "no"})
