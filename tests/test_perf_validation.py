"""scripts/perf_points.csv, its mapping to the model (scripts/perf_validation.py) and the validation report
scripts/perf_reference.py (issue 13, "Validation table"), including an accuracy regression test on the
validation set's per-group medians."""

from __future__ import annotations

import csv
import importlib.util
import math
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hetserve_env import load_catalog
from hetserve_env.perf import PERF_V2, PerfConstants

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # perf_reference imports perf_validation by name
    spec.loader.exec_module(module)
    return module


pv = _load("perf_validation")
pr = _load("perf_reference")


@pytest.fixture(scope="module")
def cat():
    return pv.validation_catalog()


@pytest.fixture(scope="module")
def points(cat):
    return pv.load_points(pv.POINTS_CSV, cat)


def test_points_file_is_well_formed(points):
    base = load_catalog()
    assert len(points) >= 40
    assert len({p.id for p in points}) == len(points)
    for p in points:
        assert p.source_url.startswith("https://") and p.engine_version and p.note, p.id
        assert p.group in pv.GROUPS and p.set in pv.SETS and p.metric in pv.GROUPS[p.group], p.id
        assert p.gpu in base.gpus, f"{p.id}: {p.gpu} is not a catalog GPU"
        assert p.value > 0 and p.input_tokens > 0 and p.output_tokens > 0, p.id


def test_points_cover_what_issue_13_asks(points):
    assert len({p.gpu for p in points}) >= 5
    assert {1, 2, 4, 8} <= {p.tp for p in points}
    assert {"fp16", "bf16"} & {p.precision for p in points} and {"fp8", "int4"} <= {p.precision for p in points}
    assert any(p.model == "Mixtral-8x7B" for p in points)  # mixture of experts
    assert any(p.pp > 1 for p in points)  # pipeline parallelism
    assert any(p.gpu == "T4" for p in points)
    for group in ("single_stream_decode", "ttft", "saturated_throughput", "fixed_concurrency", "fixed_rate"):
        assert {p.set for p in points if p.group == group} == set(pv.SETS), group


def test_split_is_the_fixed_rule():
    with open(pv.POINTS_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["set"] for r in rows] == pv.split_rule_sets(rows)


def test_extra_architectures_are_not_catalog_models(cat):
    extra = set(cat.models) - set(load_catalog().models)
    assert extra and all(cat.model(m).source for m in extra)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("gpu", "B200", "field 'gpu' = 'B200'"),
        ("source_url", "", "field 'source_url'"),
        ("engine_version", "", "field 'engine_version' is empty"),
        ("group", "peak", "field 'group' = 'peak'"),
        ("value", "-3", "field 'value'"),
        ("set", "train", "field 'set' = 'train'"),
    ],
)
def test_bad_rows_are_errors_naming_field_and_value(tmp_path, cat, field, value, message):
    with open(pv.POINTS_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rows[0][field] = value
    bad = tmp_path / "points.csv"
    with open(bad, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(pv.PointError, match=re.escape(message)):
        pv.load_points(bad, cat)


def test_fp8_on_a_gpu_without_fp8_is_an_error(cat, points):
    p = next(p for p in points if p.precision == "fp8")
    row = {k: str(getattr(p, k)) for k in pv.COLUMNS}
    row.update(gpu="A100-80GB", concurrency="", request_rate="inf" if p.request_rate == math.inf else str(p.request_rate or ""))
    with pytest.raises(pv.PointError, match="no FP8 tensor cores"):
        pv.parse_point(row, cat)


def test_load_dependent_mapping(cat, points):
    rate_point = next(p for p in points if p.group == "fixed_rate" and p.metric == "tpot")
    slow = pv.predict(replace(rate_point, request_rate=1e-6), cat)
    single = pv.predict(replace(rate_point, group="single_stream_decode", metric="tpot", request_rate=None,
                                concurrency=1.0), cat)
    assert slow.status == "ok" and slow.value < pv.predict(rate_point, cat).value
    assert slow.value == pytest.approx(single.value, rel=0.02)  # λ → 0: about one sequence in flight
    over = pv.predict(replace(rate_point, request_rate=1e6), cat)
    assert over.status == "overloaded" and math.isinf(over.value)
    conc = next(p for p in points if p.group == "fixed_concurrency" and p.metric == "output_throughput")
    one, many = (pv.predict(replace(conc, concurrency=b), cat).value for b in (1.0, 16.0))
    assert many > one > 0


def test_report_summary_equals_recomputation_from_its_table(tmp_path, capsys):
    md, out_csv = tmp_path / "v.md", tmp_path / "v.csv"
    by_version = pr.main(["--out-md", str(md), "--out-csv", str(out_csv)])
    printed = capsys.readouterr().out
    with open(out_csv, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert set(by_version) == {"v1", "v2"} and len(table) == 2 * len(pv.load_points())
    for version, summ in by_version.items():
        for (s, g), v in summ.items():
            sel = [r for r in table if r["version"] == version and r["set"] == s and (g == "all" or r["group"] == g)]
            err = np.abs([float(r["error"]) for r in sel])
            assert v.n == len(sel)
            assert v.median_abs_error == pytest.approx(float(np.median(err)))
            assert v.within == pytest.approx(float(np.mean(err <= 0.20)))
            line = f"| {s} | {g} | {len(sel)} | {100 * np.median(err):.1f}% | {100 * np.mean(err <= 0.20):.0f}% |"
            assert line in printed and line in md.read_text(encoding="utf-8")


def test_set_option_selects_one_set(tmp_path):
    summ = pr.main(["--set", "validation", "--model", "v1", "--no-write"])["v1"]
    assert summ and {s for s, _ in summ} == {"validation"}
    medians = pr.group_medians(pr.point_rows(pv.load_points()), "validation")
    assert set(medians) == {g for s, g in summ if g != "all"}
    assert all(m >= 0 for m in medians.values())


def test_uncatalogued_points_are_outside_the_catalog_and_sourced():
    base = load_catalog()
    with open(pv.UNCATALOGUED_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and tuple(rows[0]) == pv.COLUMNS
    for r in rows:
        assert r["source_url"].startswith("https://") and r["engine_version"], r["id"]
        assert r["gpu"] not in base.gpus or r["precision"] not in pv.PRECISIONS, r["id"]


def test_pipeline_parallel_templates_map(cat, points):
    p = next(p for p in points if p.group == "saturated_throughput" and p.model == "Llama-3.1-70B" and p.tp == 4)
    one, two = (pv.predict(replace(p, pp=m), cat) for m in (1, 2))
    assert one.status == two.status == "ok" and two.value > one.value  # PP2 holds more KV cache: more in flight


def test_every_engine_runs_under_a_known_profile_with_its_reason(points):
    from hetserve_env.perf import ENGINES

    for p in points:
        choice = pv.engine_profile(p)
        assert choice.profile in ENGINES and choice.reason, p.id
    by_engine = {p.engine.split()[0]: pv.engine_profile(p).profile for p in points}
    assert by_engine["TensorRT-LLM"] == "trtllm" and by_engine["SGLang"] == "sglang" and by_engine["vLLM"] == "vllm"


def test_model_v2_engine_fields_follow_each_engines_code(points):
    """docs/model.md "One mapping": model v2's eager_prefill and host_overlap are each engine's own (read from its
    code), not inherited with the profile: TGI 1.0.3, FlexGen and Accelerate run eager PyTorch with serial host
    work although they map to trtllm; compiled C++ engines (TensorRT-LLM, NIM, TurboMind, FasterTransformer) do not."""
    expected = {"tensorrt-llm": (False, True), "nvidia nim": (False, True), "lmdeploy": (False, True),
                "fastertransformer": (False, True), "tgi": (True, False), "flexgen": (True, False),
                "hugging face accelerate": (True, False), "torchao": (True, False), "vllm": (True, False),
                "sglang": (True, True)}
    seen = set()
    for p in points:
        c = pv.point_constants(p, {"version": "v2"})
        engine = next(k for k in expected if p.engine.lower().startswith(k))
        seen.add(engine)
        assert (c.eager_prefill, c.host_overlap) == expected[engine], p.id
    assert seen == set(expected)


def test_serial_host_work_makes_a_tgi_point_slower_under_v2_only(cat, points):
    p = next(p for p in points if p.engine.startswith("TGI") and p.concurrency == 20)
    as_trtllm = replace(p, engine="TensorRT-LLM")
    assert pv.predict(p, cat, {"version": "v2"}).value < pv.predict(as_trtllm, cat, {"version": "v2"}).value
    assert pv.predict(p, cat).value == pytest.approx(pv.predict(as_trtllm, cat).value)  # v1 has no host terms


def test_an_engine_without_a_mapping_is_an_error_naming_it(points):
    with pytest.raises(pv.PointError, match="engine 'FancyServe 9' has no profile mapping"):
        pv.engine_profile(replace(points[0], engine="FancyServe 9"))


def test_stated_kv_precision_is_used_and_unstated_keeps_the_profile_default(points):
    trt = next(p for p in points if pv.engine_profile(p).profile == "trtllm")
    assert pv.point_constants(replace(trt, kv_precision="unstated")).kv_precision == "auto"  # trtllm's default
    assert pv.point_constants(replace(trt, kv_precision="bf16")).kv_precision == "fp16"
    assert pv.point_constants(replace(trt, kv_precision="fp8")).kv_precision == "fp8"
    vllm = next(p for p in points if pv.engine_profile(p).profile == "vllm")
    assert pv.point_constants(replace(vllm, kv_precision="unstated")).kv_precision == "fp16"


def test_total_throughput_counts_input_and_output_tokens(cat, points):
    p = next(p for p in points if p.metric == "total_throughput")
    out = pv.predict(replace(p, metric="output_throughput", unit="tok/s"), cat).value
    total = pv.predict(p, cat).value
    assert total == pytest.approx(out * (p.input_tokens + p.output_tokens) / p.output_tokens)


def test_fitted_rows_are_calibration_rows_of_the_first_61(points):
    fitted = pv.fitted_ids()
    first = points[:pv.FITTED_ON_FIRST_ROWS]
    assert fitted == {p.id for p in first if p.set == "calibration"}
    assert not fitted & {p.id for p in points if p.set == "validation"}


#: The validation set's median |error| per group with the shipped constants (results/perf_validation.md);
#: a change of the model or of the mapping may not make any group worse by more than MARGIN (absolute).
#: fixed_concurrency was 0.0967 before the FasterTransformer Megatron-530B TP8 PP3 rows (ft50-530b-*) and the FlexGen
#: T4 rows (flexgen-t4-*) were added; the model's constants did not change, the new rows moved the median.
VALIDATION_MEDIANS = {"ttft": 0.0992, "single_stream_decode": 0.0463, "saturated_throughput": 0.161,
                      "offline_burst": 0.222, "fixed_rate": 0.0737, "ttft_under_load": 0.1508,
                      "fixed_concurrency": 0.1023}
MARGIN = 0.02


def test_validation_medians_do_not_get_worse(cat, points):
    medians = pr.group_medians(pr.point_rows(points, cat), "validation")
    assert set(medians) == set(VALIDATION_MEDIANS)
    worse = {g: (round(m, 4), VALIDATION_MEDIANS[g]) for g, m in medians.items() if m > VALIDATION_MEDIANS[g] + MARGIN}
    assert not worse, f"validation median |error| grew by more than {MARGIN:.0%} (now, before): {worse}"


#: The same for performance model v2 (constants PERF_V2, fitted on every calibration row); the groups listed in
#: V2_TARGET_MET reach issue 13's target (validation median within 12 %) and must stay there. Re-recorded after
#: the re-fit on 93 calibration rows with the sourced FP8 speed-up (docs/model.md "Model v2"); fixed_concurrency
#: was 0.079 before TGI 1.0.3, FlexGen and Accelerate got their own v2 engine fields (docs/model.md "One mapping").
VALIDATION_MEDIANS_V2 = {"ttft": 0.199, "single_stream_decode": 0.032, "saturated_throughput": 0.100,
                         "offline_burst": 0.205, "fixed_rate": 0.106, "ttft_under_load": 0.072,
                         "fixed_concurrency": 0.069}
V2_TARGET_MET = ("single_stream_decode", "saturated_throughput", "fixed_rate", "ttft_under_load", "fixed_concurrency")


def test_v2_validation_medians_do_not_get_worse_and_keep_the_target(cat, points):
    medians = pr.group_medians(pr.point_rows(points, cat, version="v2"), "validation")
    assert set(medians) == set(VALIDATION_MEDIANS_V2)
    worse = {g: (round(m, 4), VALIDATION_MEDIANS_V2[g]) for g, m in medians.items() if m > VALIDATION_MEDIANS_V2[g] + MARGIN}
    assert not worse, f"v2 validation median |error| grew by more than {MARGIN:.0%} (now, before): {worse}"
    assert all(medians[g] <= 0.12 for g in V2_TARGET_MET), {g: round(medians[g], 4) for g in V2_TARGET_MET}


def test_v2_fit_space_is_bounded_and_reads_calibration_rows_only(cat, points):
    cal = _load("perf_calibrate")
    few = [p for p in points if p.set == "calibration"][:2] + [p for p in points if p.set == "validation"][:2]
    poisoned = few[:2] + [replace(p, value=p.value * 50.0) for p in few[2:]]
    fitted = cal.fit(few, cat, rounds=1, version="v2")
    assert fitted.pop("version") == "v2"
    assert set(fitted) == set(cal.FIT_V2) and all(lo <= fitted[k] <= hi for k, (lo, hi) in cal.FIT_V2.items())
    assert {k: v for k, v in cal.fit(poisoned, cat, rounds=1, version="v2").items() if k != "version"} == fitted


def test_v2_fit_ignores_shipped_values_outside_its_space(cat, points, monkeypatch):
    """A constant v2 does not fit (the sourced FP8 speed-up) keeps v1's value in the search, whatever PERF_V2
    holds: the fit is reproducible from the code, not from its own last output."""
    cal = _load("perf_calibrate")
    few = [p for p in points if p.set == "calibration"][:2]
    monkeypatch.setitem(PERF_V2, "fp8_speedup", 1.9)
    assert "fp8_speedup" not in cal.FIT_V2
    assert cal.fit(few, cat, rounds=1, version="v2")["fp8_speedup"] == PerfConstants().fp8_speedup


def test_fit_reads_calibration_rows_only(cat, points):
    cal = _load("perf_calibrate")
    few = [p for p in points if p.set == "calibration"][:2] + [p for p in points if p.set == "validation"][:2]
    poisoned = few[:2] + [replace(p, value=p.value * 50.0) for p in few[2:]]
    fitted = cal.fit(few, cat, rounds=1)
    assert set(fitted) == set(cal.FIT) and all(lo <= fitted[k] <= hi for k, (lo, hi) in cal.FIT.items())
    assert cal.fit(poisoned, cat, rounds=1) == fitted  # a validation row's value changes nothing
