"""Performance model v2 (docs/model.md "Model v2"): each physics change against a hand-computed case, v1 left
exactly as it was, and the v2 constants set selectable in a scenario, the env and the registered -v2 ids."""

import gymnasium as gym
import numpy as np
import pytest
import yaml

from hetserve_env.env import HetServeEnv
from hetserve_env.perf import GB, PERF_SETS, PERF_V2, PerfConstants, evaluate_templates, kv_space_bytes
from hetserve_env.registration import ENV_IDS, ENV_IDS_V1, ENV_IDS_V2
from hetserve_env.scenario import SCENARIO_DIR, ScenarioError, load_scenario
from tests.test_perf import C, hardware

# v1 with its overheads, so the v2 switches act on a plain case; each test switches one thing on.
BASE = PerfConstants.from_mapping({**C.to_dict(), "chunked_prefill": False})


def _switch(**kw) -> PerfConstants:
    return PerfConstants.from_mapping({**BASE.to_dict(), **kw})


def test_v1_is_the_dataclass_default_and_its_switches_are_off():
    v1 = PerfConstants.from_mapping({})
    assert v1 == PerfConstants.from_mapping({"version": "v1"}) == PerfConstants()
    assert (v1.prefill_weight_pass_shared, v1.prefill_layer_overhead_s, v1.memory_binary_hbm) == (False, 0.0, False)
    v2 = PerfConstants.from_mapping({"version": "v2"})
    assert v2.version == "v2" and all(getattr(v2, k) == v for k, v in PERF_V2.items())
    assert set(PERF_SETS) == {"v1", "v2"}


def test_unknown_version_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"version: unknown performance model version 'v3'; known: \['v1', 'v2'\]"):
        PerfConstants.from_mapping({"version": "v3"})


def test_batched_prefill_shares_one_weight_pass_without_chunking():
    # 1e9 parameters, 2 GB of weights, 1 PFLOP/s: a 100-token prompt computes in 0.4 ms, a weight pass takes
    # 2e9 / (1e12 * 0.7) = 2.86 ms. v1 charged each prompt the whole pass; v2 charges 100/8192 of it, because
    # the engine batches 8,192 prompt tokens into one step that reads the weights once.
    hw = hardware(params=1e9, weight_bytes=2e9, layers=1, hidden=64, bw=1e12, flops=1e15)
    h, f = np.array([100.0]), np.array([50.0])
    work = (2 * 1e9 * 100 + 2 * 1 * 64 * 100**2) / (1e15 * 0.5)
    wpass = 2e9 / (1e12 * 0.7)
    v1 = evaluate_templates(hw, h, f, np.array([60.0]), BASE)
    v2 = evaluate_templates(hw, h, f, np.array([60.0]), _switch(prefill_weight_pass_shared=True))
    assert v1.prefill_busy_s[0, 0] == pytest.approx(wpass, rel=1e-9)
    assert v2.prefill_busy_s[0, 0] == pytest.approx(max(work, wpass * 100 / 8192), rel=1e-9)
    assert v2.capacity_rps[0, 0] > v1.capacity_rps[0, 0]
    chunked = _switch(prefill_weight_pass_shared=True, chunked_prefill=True)  # chunked: never a weight pass
    assert evaluate_templates(hw, h, f, np.array([60.0]), chunked).prefill_busy_s[0, 0] == pytest.approx(work, rel=1e-9)


def test_eager_prefill_pays_kernel_launches_per_layer_once_per_step():
    # 32 layers x 0.1 ms: a prompt alone waits 3.2 ms more for its first token on an eager-prefill engine (vLLM,
    # SGLang); under load the 8,192-token step's launches are shared, 1000/8192 of them per 1,000-token prompt.
    # A compiled engine (TensorRT-LLM profile: eager_prefill false) pays nothing.
    hw, h, f, slo = hardware(), np.array([1000.0]), np.array([200.0]), np.array([60.0])
    plain = evaluate_templates(hw, h, f, slo, BASE)
    eager = evaluate_templates(hw, h, f, slo, _switch(prefill_layer_overhead_s=1e-4, eager_prefill=True))
    compiled = evaluate_templates(hw, h, f, slo, _switch(prefill_layer_overhead_s=1e-4, eager_prefill=False))
    assert eager.ttft_s[0, 0] == pytest.approx(plain.ttft_s[0, 0] + 32 * 1e-4, rel=1e-9)
    assert eager.prefill_busy_s[0, 0] == pytest.approx(plain.prefill_busy_s[0, 0] + 32 * 1e-4 * 1000 / 8192, rel=1e-9)
    assert compiled.ttft_s[0, 0] == plain.ttft_s[0, 0] and compiled.prefill_busy_s[0, 0] == plain.prefill_busy_s[0, 0]
    assert PerfConstants.from_mapping({}, engine="trtllm").eager_prefill is False
    assert PerfConstants.from_mapping({}, engine="sglang").eager_prefill is True


def test_hbm_memory_is_binary_gigabytes_and_gddr_is_not():
    c = _switch(memory_binary_hbm=True, activation_reserve_gb=0.0, memory_rule="total", memory_utilisation=0.9)
    hbm = kv_space_bytes(80 * GB, 10 * GB, 1, c, bandwidth=2e12)
    gddr = kv_space_bytes(48 * GB, 10 * GB, 1, c, bandwidth=0.864e12)
    assert hbm == pytest.approx(0.9 * 80 * 2**30 - 10 * GB, rel=1e-12)
    assert gddr == pytest.approx(0.9 * 48 * GB - 10 * GB, rel=1e-12)
    v1 = _switch(activation_reserve_gb=0.0, memory_rule="total", memory_utilisation=0.9)
    assert kv_space_bytes(80 * GB, 10 * GB, 1, v1, bandwidth=2e12) == pytest.approx(0.9 * 80 * GB - 10 * GB, rel=1e-12)


def _small():
    return yaml.safe_load((SCENARIO_DIR / "small.yaml").read_text())


def test_scenario_selects_v2_by_name_or_mapping_and_keeps_overrides():
    assert load_scenario(_small()).constants.version == "v1"
    assert load_scenario({**_small(), "perf": "v2"}).constants.version == "v2"
    c = load_scenario({**_small(), "perf": {"version": "v2", "max_num_seqs": 100}}).constants
    assert (c.version, c.max_num_seqs, c.prefill_weight_pass_shared) == ("v2", 100, True)
    with pytest.raises(ScenarioError, match=r"perf: version: unknown performance model version 'v7'"):
        load_scenario({**_small(), "perf": "v7"})


def test_v2_ids_are_registered_beside_v1_and_change_the_numbers():
    assert set(ENV_IDS) == set(ENV_IDS_V1) | set(ENV_IDS_V2)
    assert sorted(ENV_IDS_V2) == ["hetserve_env/HetServe-v2", "hetserve_env/HetServePaper-v2", "hetserve_env/HetServeSmall-v2"]
    v1 = gym.make("hetserve_env/HetServeSmall-v1").unwrapped
    v2 = gym.make("hetserve_env/HetServeSmall-v2").unwrapped
    assert (v1.scenario.constants.version, v2.scenario.constants.version) == ("v1", "v2")
    assert gym.make("hetserve_env/HetServePaper-v2").unwrapped.window_s == 300.0
    h, f = np.array([300.0, 300.0]), np.array([200.0, 200.0])
    mu1, mu2 = v1.scenario.perf(h, f).capacity_rps, v2.scenario.perf(h, f).capacity_rps
    assert mu1.shape != mu2.shape or not np.allclose(mu1, mu2)  # other capacities (pruning may keep other templates)
    assert HetServeEnv("small", perf_model="v2").scenario.constants == v2.scenario.constants
    with pytest.raises(ScenarioError, match=r"unknown performance model version 'v0'"):
        HetServeEnv("small", perf_model="v0")
