"""Measured benchmark points and the performance model's prediction for each: the one mapping from a point to
the model, used by the validation report (scripts/perf_reference.py) and the fit (scripts/perf_calibrate.py --fit).

The points live in ``scripts/perf_points.csv`` (one sourced measurement a row); models that are not in the
catalog but appear in a source (Llama 2, Qwen) have an architecture row in ``scripts/perf_models.csv``. Each point
is mapped through public API only: :func:`hetserve_env.templates.build_templates`,
:func:`hetserve_env.perf.evaluate_templates` and :func:`hetserve_env.perf.operating_point`.

Engine-aware: each point runs under its engine's profile (``ENGINE_CHOICES``: vLLM, SGLang and TensorRT-LLM
have one; NIM, LMDeploy, TGI, FasterTransformer, FlexGen, Hugging Face Accelerate and torchao get the closest,
with the reason) and under the KV-cache precision its source states (``KV_MAPPING``; ``unstated`` keeps the
profile's default).

Groups and what the model predicts for them (h input, f output tokens):

* ``ttft``: one request alone: the zero-load time to first token TTFT0 (``PerfTable.ttft_s``).
* ``single_stream_decode``: one sequence decoding: tok/s = 1 / ITL0, ITL/TPOT = ITL0 (``PerfTable.itl_s``).
* ``saturated_throughput``: a long run at infinite arrival rate (steady state): output tok/s = μ·f (total tok/s
  μ·(h + f)), μ the capacity at an unbounded delay SLO.
* ``offline_burst``: N prompts sent at once, throughput = tokens / duration of that finite run (ramp-up and
  drain included, so not a steady state); the model's figure is still μ·f (or μ·(h + f)).
* ``fixed_rate`` and ``ttft_under_load``: Poisson arrivals at λ: TTFT, ITL/TPOT and E2E of
  ``operating_point(rate=λ)`` (prefill interference in ITL, a queueing term in TTFT).
* ``fixed_concurrency``: a closed loop of N clients: ``operating_point(concurrency=N)`` (rate = N / E2E).

Statuses: ``ok``; ``overloaded`` (λ past the capacity: latencies infinite, a throughput is the capacity);
``above_max_batch`` (a closed loop of more clients than the replica holds sequences; the figure is reported
as computed); ``unservable`` (μ = 0: zero throughput, infinite latency); ``no_template`` (the weights do not
fit). None is dropped: every point counts in the summaries.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from hetserve_env import load_catalog
from hetserve_env.catalog import TASKS, Catalog, ModelSpec
from hetserve_env.catalog.loader import load_records
from hetserve_env.perf import PerfConstants, evaluate_templates, operating_point
from hetserve_env.templates import build_templates

HERE = Path(__file__).resolve().parent
POINTS_CSV = HERE / "perf_points.csv"
MODELS_CSV = HERE / "perf_models.csv"
#: measured points on GPUs (or precisions) the catalog lacks: kept for the record, never mapped
UNCATALOGUED_CSV = HERE / "perf_points_uncatalogued.csv"

SETS = ("calibration", "validation")
#: group -> metrics it may carry
GROUPS: dict[str, tuple[str, ...]] = {
    "ttft": ("ttft",),
    "single_stream_decode": ("decode_speed", "tpot", "itl"),
    "saturated_throughput": ("output_throughput", "total_throughput", "request_throughput"),
    "offline_burst": ("output_throughput", "total_throughput", "request_throughput"),
    "fixed_rate": ("tpot", "itl", "e2e_latency", "output_throughput"),
    "ttft_under_load": ("ttft",),
    "fixed_concurrency": ("output_throughput", "tpot", "itl", "ttft", "e2e_latency"),
}
UNITS = {"ttft": "ms", "tpot": "ms", "itl": "ms", "e2e_latency": "ms", "decode_speed": "tok/s",
         "output_throughput": "tok/s", "total_throughput": "tok/s", "request_throughput": "req/s"}
#: measured precision -> catalog precision (FP8 is the catalog's 8-bit tier on GPUs with FP8 tensor cores)
PRECISIONS = {"fp16": "fp16", "bf16": "fp16", "fp8": "int8", "int4": "int4"}
KV_PRECISIONS = ("fp16", "bf16", "fp8", "unstated")  # the KV-cache precision a source states, or "unstated"
COLUMNS = ("id", "set", "group", "engine", "engine_version", "gpu", "model", "precision", "kv_precision", "tp", "pp",
           "input_tokens", "output_tokens", "concurrency", "request_rate", "metric", "unit", "value", "source_url",
           "note")
#: sources that are measurement databases shipped in a package: calibration only (issue 13), whatever their position
CALIBRATION_ONLY_SOURCES = ("https://pypi.org/project/aiconfigurator-core/",)
SLO_UNBOUNDED_S = 1e9  # a delay SLO no point comes near: capacity is then set by memory and prefill only


@dataclass(frozen=True)
class EngineChoice:
    """The engine profile (``hetserve_env.perf.ENGINES``) a measured engine runs under, and why; ``fields``: the
    profile fields this engine sets otherwise (model v2's ``eager_prefill`` and ``host_overlap``), sourced in
    ``reason``."""

    profile: str
    reason: str
    fields: tuple[tuple[str, bool], ...] = ()


#: engine-name prefix (lower case) -> profile; an engine without a profile gets the closest one, by the fields a
#: profile sets (memory rule, sequence cap, chunked prefill, KV precision), with the reason. Model v2's two engine
#: fields (``eager_prefill``, ``host_overlap``) are read from each engine's own code, not taken from the profile
#: (docs/model.md "One mapping"): TGI 1.0.3, FlexGen and Accelerate set them otherwise (``fields``).
ENGINE_CHOICES: tuple[tuple[str, EngineChoice], ...] = (
    ("vllm", EngineChoice("vllm", "its own profile")),
    ("sglang", EngineChoice("sglang", "its own profile")),
    ("tensorrt-llm", EngineChoice("trtllm", "its own profile")),
    ("nvidia nim", EngineChoice("trtllm", (
        "NIM runs an optimized profile, a pre-compiled TensorRT-LLM engine, where one exists for the GPU, count "
        "and precision (NIM for LLMs docs, 'Model Profiles'); 2xH100 FP8 TP2 is such a profile"))),
    ("lmdeploy", EngineChoice("trtllm", (
        "TurboMind 0.1.x (LMDeploy docs, 'TurboMind 2.x config'): no chunked prefill, FP16 KV cache "
        "(quant_policy 0), at most 64 sequences (max_batch_size), KV cache a fixed 0.5 of memory "
        "(cache_max_entry_count); no profile has that memory rule; TensorRT-LLM's matches on chunked prefill "
        "and KV precision; no point runs more than 64 sequences. Model v2's fields as TensorRT-LLM's, from its "
        "code at v0.1.0a1: both phases are TurboMind's compiled CUDA kernels (compiled prefill) and the batch loop "
        "is C++ (src/turbomind/models/llama/LlamaBatch.cc), so no Python host time per sequence"))),
    ("tgi", EngineChoice("trtllm", (
        "TGI 1.0.3: KV cache sized at warm-up from the memory left after the weights (max_batch_total_tokens), "
        "whole prompts prefilled in batches of max_batch_prefill_tokens (no chunked prefill), FP16 KV cache: "
        "TensorRT-LLM's 'free' memory rule, chunked prefill off and FP16 KV on these templates; its cap of 128 "
        "concurrent requests is above every point's 20 clients. Model v2's fields from its code at v1.0.3 "
        "(server/text_generation_server/models/flash_causal_lm.py, FlashCausalLM.generate_token): PyTorch modules "
        "run eagerly, no CUDA graph for the model (eager prefill); after each forward pass the tokens are copied to the host "
        "(.tolist()) and a Python loop over the batch detokenises and checks stop criteria before the next step "
        "(host work not overlapped)"), (("eager_prefill", True), ("host_overlap", False)))),
    ("fastertransformer", EngineChoice("trtllm", (
        "FasterTransformer 5.0 (docs/gpt_guide.md): compiled CUDA kernels for both phases, static batches whose "
        "prompts are prefilled whole (no chunked prefill), FP16 KV cache with FP16 data_type: TensorRT-LLM's "
        "profile (its successor) matches on compiled prefill, chunked prefill off and FP16 KV on FP16 templates; "
        "its points run at most 256 sequences of at most 148 tokens, far inside the profile's caps; its decoding "
        "loop is C++ (no Python host time per sequence): model v2's fields as TensorRT-LLM's"))),
    ("flexgen", EngineChoice("trtllm", (
        "FlexGen with every tensor on the GPU (--percent 100 0 100 0 100 0): one static batch, whole prompts "
        "prefilled, FP16 KV cache allocated from the memory the weights leave: TensorRT-LLM's 'free' memory rule "
        "and chunked prefill off; vLLM's 'total' rule would leave a 16 GB T4 no KV cache beside 13.3 GB of "
        "weights, which this run had. Model v2's fields: eager PyTorch prefill and a Python generation loop that "
        "does not overlap host work with the GPU"), (("eager_prefill", True), ("host_overlap", False)))),
    ("hugging face accelerate", EngineChoice("trtllm", (
        "transformers generate under Accelerate, all on the GPU: as FlexGen (one static batch, whole prompts "
        "prefilled, FP16 KV cache from the memory the weights leave): TensorRT-LLM's 'free' memory rule and "
        "chunked prefill off. Model v2's fields as FlexGen's: eager PyTorch prefill, a Python generate loop "
        "(host work not overlapped)"), (("eager_prefill", True), ("host_overlap", False)))),
    ("torchao", EngineChoice("vllm", (
        "a batch-1 generate loop, no serving engine: its points are single-stream decode, where no profile field "
        "(memory rule, sequence cap, chunked prefill) acts; the default profile. Model v2's fields as vLLM's "
        "(ESTIMATE): a Python loop steps one token at a time, so v2's host time for its one sequence is charged; "
        "whether the run was compiled is not stated"))),
)
#: The CALIBRATED constants were fitted (``perf_calibrate.py --fit``, commit 80dc5f5) on the calibration rows
#: among the file's first 61 rows, then the whole file; rows added after the fit have tuned nothing.
FITTED_ON_FIRST_ROWS = 61
#: the KV precision a source states -> the model's ``kv_precision``; None keeps the engine profile's default
KV_MAPPING: dict[str, str | None] = {"fp16": "fp16", "bf16": "fp16", "fp8": "fp8", "unstated": None}


class PointError(ValueError):
    """A malformed row of the points file (names the row, the field, the value and what is allowed)."""


@dataclass(frozen=True)
class Point:
    """One measured figure and the configuration it was measured on."""

    id: str
    set: str
    group: str
    engine: str
    engine_version: str
    gpu: str
    model: str
    precision: str
    kv_precision: str
    tp: int
    pp: int
    input_tokens: float
    output_tokens: float
    concurrency: float | None
    request_rate: float | None  # math.inf for "all at once"
    metric: str
    unit: str
    value: float
    source_url: str
    note: str


@dataclass(frozen=True)
class Prediction:
    value: float
    status: str  # ok | overloaded | above_max_batch | unservable | no_template (module docstring)


def validation_catalog(base: Catalog | None = None, models_csv: Path = MODELS_CSV) -> Catalog:
    """The catalog plus the architecture rows of ``perf_models.csv`` (quality entries copied, never used)."""
    cat = base or load_catalog()
    extra: dict[str, ModelSpec] = load_records(models_csv, ModelSpec)
    clash = sorted(set(extra) & set(cat.models))
    if clash:
        raise PointError(f"{models_csv}: model(s) {clash} already in the catalog; use the catalog's row")
    donor = next(iter(cat.models))
    quality = dict(cat.quality)
    for name in extra:
        for task in TASKS:
            entry = cat.quality[(donor, task)]
            quality[(name, task)] = replace(entry, model=name, notes="placeholder: validation-only architecture row")
    return Catalog(gpus=cat.gpus, precisions=cat.precisions, models={**cat.models, **extra}, quality=quality)


def _number(row: dict[str, str], field: str, *, allow_blank: bool = False, allow_inf: bool = False) -> float | None:
    text = (row.get(field) or "").strip()
    if not text:
        if allow_blank:
            return None
        raise PointError(f"point {row.get('id')!r}: field {field!r} is empty; it must be a number > 0")
    if text == "inf" and allow_inf:
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise PointError(f"point {row.get('id')!r}: field {field!r} = {text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise PointError(f"point {row.get('id')!r}: field {field!r} = {text!r} must be a finite number > 0")
    return value


def _check_choice(row: dict[str, str], field: str, allowed: Sequence[str]) -> str:
    value = (row.get(field) or "").strip()
    if value not in allowed:
        raise PointError(f"point {row.get('id')!r}: field {field!r} = {value!r}; allowed: {', '.join(allowed)}")
    return value


def parse_point(row: dict[str, str], catalog: Catalog) -> Point:
    """One CSV row -> :class:`Point`, checking every field (the file's rules, with the offending value)."""
    pid = (row.get("id") or "").strip()
    if not pid:
        raise PointError(f"a row has no id: {row}")
    for field in ("engine", "engine_version", "note"):
        if not (row.get(field) or "").strip():
            raise PointError(f"point {pid!r}: field {field!r} is empty")
    url = (row.get("source_url") or "").strip()
    if not url.startswith("https://"):
        raise PointError(f"point {pid!r}: field 'source_url' = {url!r} must be an https:// URL")
    group = _check_choice(row, "group", tuple(GROUPS))
    metric = _check_choice(row, "metric", GROUPS[group])
    if (row.get("unit") or "").strip() != UNITS[metric]:
        raise PointError(f"point {pid!r}: field 'unit' = {row.get('unit')!r}; metric {metric!r} is in {UNITS[metric]!r}")
    gpu = _check_choice(row, "gpu", tuple(catalog.gpus))
    model = _check_choice(row, "model", tuple(catalog.models))
    precision = _check_choice(row, "precision", tuple(PRECISIONS))
    if precision == "fp8" and not catalog.gpu(gpu).fp8:
        raise PointError(f"point {pid!r}: precision 'fp8' on {gpu}, which has no FP8 tensor cores")
    tp, pp = (_number(row, f) for f in ("tp", "pp"))
    if tp != int(tp) or pp != int(pp):
        raise PointError(f"point {pid!r}: tp = {tp} and pp = {pp} must be whole numbers")
    rate = _number(row, "request_rate", allow_blank=True, allow_inf=True)
    concurrency = _number(row, "concurrency", allow_blank=True)
    if group in ("fixed_rate", "ttft_under_load") and (rate is None or math.isinf(rate)):
        raise PointError(f"point {pid!r}: group {group!r} needs a finite request_rate, got {row.get('request_rate')!r}")
    if group == "fixed_concurrency" and concurrency is None:
        raise PointError(f"point {pid!r}: group 'fixed_concurrency' needs a concurrency")
    return Point(
        id=pid, set=_check_choice(row, "set", SETS), group=group, engine=row["engine"].strip(),
        engine_version=row["engine_version"].strip(), gpu=gpu, model=model, precision=precision,
        kv_precision=_check_choice(row, "kv_precision", KV_PRECISIONS), tp=int(tp), pp=int(pp),
        input_tokens=_number(row, "input_tokens"), output_tokens=_number(row, "output_tokens"),
        concurrency=concurrency, request_rate=rate, metric=metric, unit=UNITS[metric],
        value=_number(row, "value"), source_url=url, note=row["note"].strip(),
    )


def load_points(path: Path = POINTS_CSV, catalog: Catalog | None = None) -> list[Point]:
    """Every point of the file, checked; duplicate ids and unknown columns are errors."""
    cat = catalog or validation_catalog()
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise PointError(f"{path}: columns {reader.fieldnames} differ from the expected {list(COLUMNS)}")
        points = [parse_point(row, cat) for row in reader]
    seen: set[str] = set()
    for p in points:
        if p.id in seen:
            raise PointError(f"{path}: duplicate point id {p.id!r}")
        seen.add(p.id)
    return points


def fitted_ids(path: Path = POINTS_CSV) -> frozenset[str]:
    """Ids of the rows whose measurements tuned the CALIBRATED constants: the calibration rows among the first
    ``FITTED_ON_FIRST_ROWS`` rows of the file."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:FITTED_ON_FIRST_ROWS]
    return frozenset(r["id"] for r in rows if r["set"] == "calibration")


def split_rule_sets(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The fixed split rule: within each (source_url, group) block, in file order, the 1st, 3rd, … row is
    calibration and the 2nd, 4th, … validation; rows of a packaged measurement database
    (``CALIBRATION_ONLY_SOURCES``) are all calibration. The file stores the result; a test checks they agree."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for row in rows:
        if row["source_url"].startswith(CALIBRATION_ONLY_SOURCES):
            out.append("calibration")
            continue
        key = (row["source_url"], row["group"])
        k = seen.get(key, 0)
        seen[key] = k + 1
        out.append(SETS[k % 2])
    return out


def engine_profile(point: Point) -> EngineChoice:
    """The engine profile a point runs under (``ENGINE_CHOICES``, first prefix of the engine name that matches);
    an engine with no entry is an error naming it, never a silent default."""
    name = point.engine.lower()
    for prefix, choice in ENGINE_CHOICES:
        if name.startswith(prefix):
            return choice
    raise PointError(f"point {point.id!r}: engine {point.engine!r} has no profile mapping; known engine name "
                     f"prefixes: {[p for p, _ in ENGINE_CHOICES]} (add one to ENGINE_CHOICES with its reason)")


def point_constants(point: Point, overrides: Mapping[str, Any] | None = None) -> PerfConstants:
    """The constants a point runs under: its engine's profile, the KV precision the source states (``unstated``
    keeps the profile's default), then ``overrides`` (what ``perf_calibrate.py --fit`` tries)."""
    choice = engine_profile(point)
    c = PerfConstants.from_mapping({**dict(choice.fields), **(overrides or {})}, engine=choice.profile)
    kv = KV_MAPPING[point.kv_precision]
    return c if kv is None else replace(c, kv_precision=kv)


def predict(point: Point, catalog: Catalog, overrides: Mapping[str, Any] | None = None) -> Prediction:
    """The model's value of ``point.metric`` in ``point.unit`` under the point's engine, KV precision and load
    (module docstring); ``overrides`` replaces constants (the fit's trial values)."""
    c = point_constants(point, overrides)
    latency = point.unit == "ms"
    try:
        t = build_templates(catalog, [point.model], [(point.gpu, PRECISIONS[point.precision])],
                            tp=[point.tp], pp=[point.pp], constants=c)
    except ValueError:
        return Prediction(math.inf if latency else 0.0, "no_template")
    if len(t) != 1:
        raise RuntimeError(f"point {point.id!r}: expected one template, build_templates gave {t.labels}")
    h, f = np.array([point.input_tokens]), np.array([point.output_tokens])
    perf = evaluate_templates(t.hardware, h, f, np.array([SLO_UNBOUNDED_S]), c)
    mu = float(perf.capacity_rps[0, 0])
    if mu <= 0.0:
        return Prediction(math.inf if latency else 0.0, "unservable")
    group = point.group
    if group == "ttft":
        return Prediction(1e3 * float(perf.ttft_s[0, 0]), "ok")
    if group == "single_stream_decode":
        itl = float(perf.itl_s[0, 0])
        return Prediction(1.0 / itl if point.metric == "decode_speed" else 1e3 * itl, "ok")
    tokens = {"output_throughput": point.output_tokens, "total_throughput": point.input_tokens + point.output_tokens,
              "request_throughput": 1.0}
    if group in ("saturated_throughput", "offline_burst"):
        return Prediction(mu * tokens[point.metric], "ok")
    if group in ("fixed_rate", "ttft_under_load"):
        load = {"rate": np.array([point.request_rate])}
    else:
        load = {"concurrency": np.array([point.concurrency])}
    op = {k: float(np.asarray(v).reshape(-1)[0])
          for k, v in operating_point(t.hardware, h, f, constants=c, **load).items()}
    if not math.isfinite(op["e2e_s"]):  # past capacity: latencies infinite, throughput the capacity
        return Prediction(mu * tokens[point.metric] if point.metric in tokens else math.inf, "overloaded")
    values = {"ttft": 1e3 * op["ttft_s"], "tpot": 1e3 * op["itl_s"], "itl": 1e3 * op["itl_s"],
              "e2e_latency": 1e3 * op["e2e_s"], "output_throughput": op["output_tok_s"]}
    capped = point.concurrency is not None and group == "fixed_concurrency" and point.concurrency > op["max_batch"]
    return Prediction(values[point.metric], "above_max_batch" if capped else "ok")


def relative_error(predicted: float, measured: float) -> float:
    """(model − measured) / measured; +inf when the model's latency is infinite."""
    return predicted / measured - 1.0
