"""Measured benchmark points and the performance model's prediction for each (issue 13, "Validation table").

The points live in ``scripts/perf_points.csv`` (one sourced measurement a row); models that are not in the
catalog but appear in a source (Llama 2) have an architecture row in ``scripts/perf_models.csv``. Each point is
mapped to the model only through public API: :func:`hetserve_env.templates.build_templates` and
:func:`hetserve_env.perf.evaluate_templates`, reading ``prefill_s``, ``step_base_s`` (a), ``step_per_seq_s`` (c),
``max_batch`` and ``capacity_rps``; ``ttft_s`` / ``itl_s`` are used when a PerfTable has them (a later model).

Groups and what the model predicts for them (h input, f output tokens, b sequences in flight):

* ``ttft``: one request alone, time to first token = T_pre.
* ``single_stream_decode``: one sequence decoding, tok/s = 1 / (a + c); ITL/TPOT = a + c.
* ``saturated_throughput``: a long run at infinite arrival rate (steady state): output tok/s = μ·f with μ the
  capacity at an unbounded delay SLO.
* ``offline_burst``: N prompts sent at once, throughput = tokens / duration of that finite run (ramp-up and
  drain included, so not a steady state); the model's figure is still μ·f.
* ``fixed_rate``: Poisson arrivals at λ; E2E = (T_pre + f·a) / (1 − λ·f·c), b = λ·E2E, TPOT = a + c·b.
* ``ttft_under_load``: TTFT at rate λ; the model's TTFT is T_pre whatever the load.
* ``fixed_concurrency``: a closed loop of b clients; b' = min(b, b_max), E2E = T_pre + f·(a + c·b'),
  output tok/s = f·min(b'/E2E, 1/T_pre), TPOT = a + c·b'.

Past the model's capacity (λ ≥ μ) a latency is infinite and a throughput is the capacity; a template the model
cannot build (weights do not fit) predicts zero throughput and infinite latency. Both are reported with a
status, never dropped.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hetserve_env import load_catalog
from hetserve_env.catalog import TASKS, Catalog, ModelSpec
from hetserve_env.catalog.loader import load_records
from hetserve_env.perf import PerfConstants, evaluate_templates
from hetserve_env.templates import build_templates

HERE = Path(__file__).resolve().parent
POINTS_CSV = HERE / "perf_points.csv"
MODELS_CSV = HERE / "perf_models.csv"

SETS = ("calibration", "validation")
#: group -> metrics it may carry
GROUPS: dict[str, tuple[str, ...]] = {
    "ttft": ("ttft",),
    "single_stream_decode": ("decode_speed", "tpot", "itl"),
    "saturated_throughput": ("output_throughput", "request_throughput"),
    "offline_burst": ("output_throughput", "request_throughput"),
    "fixed_rate": ("tpot", "itl", "e2e_latency", "output_throughput"),
    "ttft_under_load": ("ttft",),
    "fixed_concurrency": ("output_throughput", "tpot", "itl", "ttft", "e2e_latency"),
}
UNITS = {"ttft": "ms", "tpot": "ms", "itl": "ms", "e2e_latency": "ms", "decode_speed": "tok/s",
         "output_throughput": "tok/s", "request_throughput": "req/s"}
#: measured precision -> catalog precision (FP8 is the catalog's 8-bit tier on GPUs with FP8 tensor cores)
PRECISIONS = {"fp16": "fp16", "bf16": "fp16", "fp8": "int8", "int4": "int4"}
KV_PRECISIONS = ("fp16", "bf16", "fp8")
COLUMNS = ("id", "set", "group", "engine", "engine_version", "gpu", "model", "precision", "kv_precision", "tp", "pp",
           "input_tokens", "output_tokens", "concurrency", "request_rate", "metric", "unit", "value", "source_url",
           "note")
SLO_UNBOUNDED_S = 1e9  # a delay SLO no point comes near: capacity is then set by memory and prefill only


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
    status: str  # ok | overloaded | no_template


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


def split_rule_sets(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The fixed split rule: within each (source_url, group) block, in file order, the 1st, 3rd, … row is
    calibration and the 2nd, 4th, … validation. The file stores the result; a test checks they agree."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for row in rows:
        key = (row["source_url"], row["group"])
        k = seen.get(key, 0)
        seen[key] = k + 1
        out.append(SETS[k % 2])
    return out


def _perf_fields(point: Point, catalog: Catalog, constants: PerfConstants | None) -> dict[str, float] | None:
    """The model's numbers for the point's template and token lengths, or None when no template fits."""
    try:
        t = build_templates(catalog, [point.model], [(point.gpu, PRECISIONS[point.precision])],
                            tp=[point.tp], pp=[point.pp], constants=constants)
    except ValueError:
        return None
    if len(t) != 1:
        raise RuntimeError(f"point {point.id!r}: expected one template, build_templates gave {t.labels}")
    h, f = np.array([point.input_tokens]), np.array([point.output_tokens])
    perf = evaluate_templates(t.hardware, h, f, np.array([SLO_UNBOUNDED_S]), constants)
    out = {
        "T_pre": float(perf.prefill_s[0, 0]), "a": float(perf.step_base_s[0]),
        "c": float(perf.step_per_seq_s[0, 0]), "b_max": float(perf.max_batch[0, 0]),
        "mu": float(perf.capacity_rps[0, 0]),
    }
    for extra in ("ttft_s", "itl_s"):  # a later model may add these (zero-load TTFT, ITL); use them when present
        if hasattr(perf, extra):
            out[extra] = float(np.asarray(getattr(perf, extra)).reshape(-1)[0])
    return out


def predict(point: Point, catalog: Catalog, constants: PerfConstants | None = None) -> Prediction:
    """The model's value of ``point.metric`` in ``point.unit`` under the point's load (module docstring)."""
    m = _perf_fields(point, catalog, constants)
    latency_metric = point.unit == "ms"
    if m is None or m["mu"] <= 0.0 or m["b_max"] < 1.0:
        return Prediction(math.inf if latency_metric else 0.0, "no_template" if m is None else "unservable")
    f, group = point.output_tokens, point.group
    ttft = m.get("ttft_s", m["T_pre"])
    if group == "ttft" or group == "ttft_under_load" and point.request_rate < m["mu"]:
        return Prediction(1e3 * ttft, "ok")
    if group == "single_stream_decode":
        step = m.get("itl_s", m["a"] + m["c"])
        return Prediction(1.0 / step if point.metric == "decode_speed" else 1e3 * step, "ok")
    if group in ("saturated_throughput", "offline_burst"):
        return Prediction(m["mu"] * (f if point.metric == "output_throughput" else 1.0), "ok")
    if group in ("fixed_rate", "ttft_under_load"):
        return _at_rate(point, m)
    return _at_concurrency(point, m)


def _at_rate(point: Point, m: dict[str, float]) -> Prediction:
    lam, f = float(point.request_rate), point.output_tokens
    if lam >= m["mu"]:
        if point.metric == "output_throughput":
            return Prediction(m["mu"] * f, "overloaded")
        return Prediction(math.inf, "overloaded")
    e2e = (m["T_pre"] + f * m["a"]) / (1.0 - lam * f * m["c"])
    values = {"tpot": m["a"] + m["c"] * lam * e2e, "e2e_latency": e2e}
    values["itl"] = values["tpot"]
    if point.metric == "output_throughput":
        return Prediction(lam * f, "ok")
    return Prediction(1e3 * values[point.metric], "ok")


def _at_concurrency(point: Point, m: dict[str, float]) -> Prediction:
    f = point.output_tokens
    b = min(float(point.concurrency), m["b_max"])
    step = m["a"] + m["c"] * b
    e2e = m["T_pre"] + f * step
    rate = min(b / e2e, 1.0 / m["T_pre"])
    status = "ok" if b == point.concurrency else "memory_capped"
    values = {"output_throughput": rate * f, "tpot": 1e3 * step, "itl": 1e3 * step,
              "ttft": 1e3 * m.get("ttft_s", m["T_pre"]), "e2e_latency": 1e3 * e2e}
    return Prediction(values[point.metric], status)


def relative_error(predicted: float, measured: float) -> float:
    """(model − measured) / measured; +inf when the model's latency is infinite."""
    return predicted / measured - 1.0
