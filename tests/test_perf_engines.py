"""Engine profiles selected per scenario, the catalog columns the performance model reads, and the
template memory rule (docs/model.md §2–3)."""

import numpy as np
import pytest
import yaml

from hetserve_env import load_catalog
from hetserve_env.catalog import CatalogError
from hetserve_env.perf import ARCHS, ENGINES, GB, PerfConstants, kv_space_bytes
from hetserve_env.scenario import SCENARIO_DIR, ScenarioError, load_scenario
from hetserve_env.templates import MIN_KV_TOKENS, build_templates


def _small():
    return yaml.safe_load((SCENARIO_DIR / "small.yaml").read_text())


def test_engine_profiles_set_their_defaults_and_perf_still_overrides():
    assert load_scenario(_small()).constants.engine == "vllm"  # the default
    data = {**_small(), "engine": "trtllm", "perf": {"max_num_seqs": 512}}
    c = load_scenario(data).constants
    assert (c.engine, c.memory_rule, c.chunked_prefill, c.kv_precision, c.max_num_seqs) == ("trtllm", "free", False, "auto", 512)
    sg = PerfConstants.from_mapping({}, engine="sglang")
    assert (sg.memory_utilisation, sg.max_num_seqs) == (ENGINES["sglang"].memory_utilisation, ENGINES["sglang"].max_num_seqs)


@pytest.mark.parametrize("edit, message", [
    ({"engine": "tgi"}, r"engine: must be one of \['vllm', 'sglang', 'trtllm'\], got 'tgi'"),
    ({"engine": 3}, r"engine: must be one of .* got 3"),
    ({"perf": {"engine": "sglang"}}, r"perf\.engine: choose the engine with the top-level key"),
    ({"perf": {"chunked_prefill": "no"}}, r"perf: chunked_prefill: must be true or false, got 'no'"),
    ({"perf": {"memory_rule": "half"}}, r"perf: PerfConstants\.memory_rule must be one of"),
])
def test_bad_engine_settings_are_named(edit, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario({**_small(), **edit})


def test_engine_changes_the_model_through_its_profile():
    # trtllm: up to 2,048 sequences (vLLM 256), and prefill not chunked, so each prefill also pays a weight pass.
    v, t = (load_scenario({**_small(), "engine": e}) for e in ("vllm", "trtllm"))
    h, f = np.array([200.0, 200.0]), np.array([100.0, 100.0])
    pv, pt = v.perf(h, f), t.perf(h, f)
    assert pv.max_batch.max() == 256 and pt.max_batch.max() > 256
    assert np.all(pt.prefill_busy_s >= pv.prefill_busy_s)


def test_catalog_columns_for_the_model():
    cat = load_catalog()
    assert {g: cat.gpu(g).arch for g in ("T4", "A100-80GB", "L40S", "H100-SXM")} == {
        "T4": "turing", "A100-80GB": "ampere", "L40S": "ada", "H100-SXM": "hopper"}
    assert cat.gpu("L4").interconnect == "pcie" and cat.gpu("H200").interconnect == "nvlink"
    mix = cat.model("Mixtral-8x7B")
    assert (mix.experts, mix.experts_active) == (8, 2) and cat.model("Llama-3.1-8B").experts == 1
    with pytest.raises(CatalogError, match="arch"):
        cat.with_overrides(gpus={"T4": {"arch": "volta"}})
    with pytest.raises(CatalogError, match="experts"):
        cat.with_overrides(models={"Llama-3.1-8B": {"experts": 8}})  # dense parameters, 8 experts


def test_templates_carry_the_catalog_columns():
    cat = load_catalog()
    t = build_templates(cat, ["Mixtral-8x7B"], [("A100-80GB", "int4"), ("H100-SXM", "int8"), ("L40S", "fp16")], tp=[4])
    hw = t.hardware
    by_gpu = {t.gpu_names[g]: d for d, g in enumerate(t.gpu)}
    a100, h100, l40s = by_gpu["A100-80GB"], by_gpu["H100-SXM"], by_gpu["L40S"]
    assert ARCHS[hw.arch[a100]] == "ampere" and hw.weight_only[a100] and hw.compute_factor[a100] == 1.0
    assert hw.compute_factor[h100] == 2.0 and not hw.weight_only[h100] and hw.nvlink[h100]
    assert not hw.nvlink[l40s] and hw.experts[l40s] == 8 and hw.experts_active[l40s] == 2
    assert hw.params_total[l40s] == pytest.approx(46.7e9) and hw.attn_dim[l40s] == 32 * 128


def test_template_memory_rule_uses_the_engine():
    # Llama-3.1-70B FP16 (141.2 GB) on 2 x 80 GB: vLLM 0.9 x 160 - 141.2 - 2 x 1 GB = 0.8 GB of KV cache,
    # less than 2,048 tokens x 327,680 B (0.67 GB)? No: 0.8 > 0.67, it fits; with 2 GB activations per GPU not.
    cat = load_catalog()
    c = PerfConstants()
    space = kv_space_bytes(80 * GB, 141.2 * GB, 2, c)
    assert space == pytest.approx(0.9 * 160e9 - 141.2e9 - 2e9)
    assert len(build_templates(cat, ["Llama-3.1-70B"], [("A100-80GB", "fp16")], tp=[2], constants=c)) == 1
    heavy = PerfConstants.from_mapping({"activation_reserve_gb": 2.0})
    assert kv_space_bytes(80 * GB, 141.2 * GB, 2, heavy) < MIN_KV_TOKENS * 327680
    with pytest.raises(ValueError, match="no template fits"):
        build_templates(cat, ["Llama-3.1-70B"], [("A100-80GB", "fp16")], tp=[2], constants=heavy)
