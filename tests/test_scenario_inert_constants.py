"""A `perf:` constant that the resolved switches make the model ignore is refused, naming it; with its switch
on it is accepted and moves the model's numbers; defaults from the version set or engine profile never trip it."""

import numpy as np
import pytest
import yaml

from hetserve_env import ScenarioError, builtin_scenarios, load_scenario
from hetserve_env.perf import PERF_V2, operating_point
from hetserve_env.scenario import SCENARIO_DIR


def _small(engine="vllm", perf=None):
    data = yaml.safe_load((SCENARIO_DIR / "small.yaml").read_text())
    data["engine"] = engine
    if perf is not None:
        data["perf"] = perf
    return load_scenario(data)


def _tokens(sc):
    d = sc.demand
    return d.input_tokens.mean(axis=0), d.output_tokens.mean(axis=0)


@pytest.mark.parametrize("engine, perf, field, value, switch, source", [
    ("sglang", {"host_per_seq_s": 5e-5}, "host_per_seq_s", "5e-05", "host_overlap is true", "the engine profile"),
    ("trtllm", {"version": "v2", "host_ttft_s": 0.02}, "host_ttft_s", "0.02", "host_overlap is true", "the engine profile"),
    ("vllm", {"host_overlap": True, "host_per_seq_s": 1e-4}, "host_per_seq_s", "0.0001", "host_overlap is true",
     "your perf: mapping"),
    ("trtllm", {"prefill_layer_overhead_s": 1e-4}, "prefill_layer_overhead_s", "0.0001", "eager_prefill is false",
     "the engine profile"),
    ("vllm", {"version": "v2", "eager_prefill": False, "prefill_layer_overhead_s": 2e-4}, "prefill_layer_overhead_s",
     "0.0002", "eager_prefill is false", "your perf: mapping"),
    ("vllm", {"closed_loop_sync": 0.5}, "closed_loop_sync", "0.5", "closed_loop_ttft is false", "the v1 constants set"),
    ("sglang", {"version": "v2", "closed_loop_ttft": False, "closed_loop_sync": 0.0}, "closed_loop_sync", "0.0",
     "closed_loop_ttft is false", "your perf: mapping"),
])
def test_an_inert_constant_is_an_error_naming_it_its_switch_and_the_fix(engine, perf, field, value, switch, source):
    with pytest.raises(ScenarioError) as err:
        _small(engine, perf)
    msg = str(err.value)
    assert msg.startswith(f"perf: {field}: {value} would be ignored")
    assert f"but {switch} (from {source}; engine {engine!r}" in msg
    name = switch.split()[0]
    assert f"set `{name}: {'false' if 'true' in switch else 'true'}` under perf:" in msg and "drop the key" in msg


def test_every_inert_constant_is_named_in_one_error():
    with pytest.raises(ScenarioError, match=r"host_ttft_s: 0\.01 .*; prefill_layer_overhead_s: 0\.0001 "):
        _small("trtllm", {"host_ttft_s": 0.01, "prefill_layer_overhead_s": 1e-4})


@pytest.mark.parametrize("engine, perf", [
    ("sglang", "v2"),  # the v2 set gives every engine host_per_seq_s, host_ttft_s, closed_loop_sync
    ("trtllm", {"version": "v2", "mbu_decode": 0.7}),
    ("trtllm", {"host_per_seq_s": 0, "host_ttft_s": 0.0, "prefill_layer_overhead_s": 0}),  # zero = no term anyway
    ("vllm", {"closed_loop_sync": 0.0}),  # the v1 default: nothing the user expects to act
    ("vllm", {"version": "v2", "closed_loop_ttft": False, "closed_loop_sync": PERF_V2["closed_loop_sync"]}),
])
def test_defaults_and_values_that_change_nothing_are_accepted(engine, perf):
    assert _small(engine, perf).constants.engine == engine


def test_host_constants_act_once_host_overlap_is_off():
    off = _small("sglang", {"host_overlap": False})
    on = _small("sglang", {"host_overlap": False, "host_per_seq_s": 2e-4, "host_ttft_s": 0.05})
    h, f = _tokens(off)
    slow, fast = on.perf(h, f), off.perf(h, f)
    assert np.all(slow.ttft_s >= fast.ttft_s + 0.05 - 1e-12)
    assert np.all(slow.step_per_seq_s > fast.step_per_seq_s)


def test_prefill_layer_overhead_acts_once_eager_prefill_is_on():
    off = _small("trtllm", {"eager_prefill": True})
    on = _small("trtllm", {"eager_prefill": True, "prefill_layer_overhead_s": 1e-3})
    h, f = _tokens(off)
    assert np.all(on.perf(h, f).ttft_s > off.perf(h, f).ttft_s)


def test_closed_loop_sync_acts_once_closed_loop_ttft_is_on():
    """It only moves operating_point's TTFT at a fixed concurrency (the closed-loop wait)."""
    plain = _small("vllm", {"closed_loop_ttft": True})
    synced = _small("vllm", {"closed_loop_ttft": True, "closed_loop_sync": 1.0})
    h, f = _tokens(plain)
    hw = plain.templates.hardware
    ttft = [operating_point(hw, h, f, concurrency=np.full(h.shape, 16.0), constants=sc.constants)["ttft_s"]
            for sc in (plain, synced)]
    finite = np.isfinite(ttft[0])
    assert finite.any() and np.all(ttft[1][finite] > ttft[0][finite])


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
@pytest.mark.parametrize("name", builtin_scenarios())
def test_builtin_scenarios_load_under_both_models_on_every_engine(name, engine, version):
    sc = load_scenario(name).replace(engine=engine).with_perf_model(version)
    assert (sc.constants.version, sc.constants.engine) == (version, engine)


def test_switching_to_v1_refuses_a_sync_that_only_v2_lets_act():
    sc = _small("vllm", {"version": "v2", "closed_loop_sync": 0.3})
    with pytest.raises(ScenarioError, match=r"closed_loop_sync: 0\.3 .*from the v1 constants set"):
        sc.with_perf_model("v1")


@pytest.mark.parametrize("perf", [[["mbu_decode", 0.7]], 0.7])
def test_perf_that_is_not_a_mapping_or_a_version_is_refused(perf):
    with pytest.raises(ScenarioError, match=r"perf: must be a mapping of constants or a model version name, got"):
        _small(perf=perf)
