"""The scenario reference page (``docs/scenario-reference.md``), generated from the validator's own tables.

Field names come from the code, not from this file: the scenario validator is asked which fields each section
allows (:func:`validator_fields`, by loading a scenario with an unknown field), the demand sources and their
keys are :data:`hetserve_env.traces.build.RATE_SOURCES` / ``TOKEN_SOURCES``, the ``perf`` constants are
:class:`hetserve_env.perf.PerfConstants`'s fields with their defaults, and the catalog names are the bundled
catalog's. This module only adds a sentence per field; :func:`render` fails if a field has none or if a
described field no longer exists, so the page cannot drift from the code (``tests/test_newcomer.py``).
Regenerate with ``python scripts/make_scenario_reference.py``.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import re
from typing import Any

from .catalog import TASKS, load_catalog
from .catalog.user import PARTS
from .perf import ENGINES, ENGINE_FIELDS, PerfConstants
from .scenario import ScenarioError, load_scenario
from .traces.build import DEFAULT_N_DAYS, RATE_SOURCES, TOKEN_SOURCES

__all__ = ["SECTIONS", "render", "validator_fields"]

_MINIMAL: dict[str, Any] = {
    "name": "probe", "window_minutes": 10, "budget_per_hour": 10,
    "templates": {"models": ["Llama-3.1-8B"], "gpus": ["L4"]},
    "query_types": [{"name": "q", "task": "chat", "delay_slo_s": 10, "error_slo": 0.5, "max_unmet": 0.1,
                     "unmet_penalty": 0.01, "delay_penalty": 0.0, "demand": {}}],
    "storage": {}, "env": {"cold_start": {}},
}
_PROBE = "zzzzzzzz"

#: section -> (where the probe field goes, field -> (type, default, description))
SECTIONS: dict[str, tuple[tuple[Any, ...], dict[str, tuple[str, str, str]]]] = {
    "top level": ((), {
        "name": ("text", "required", "The scenario's name (shown in tables and problem labels)."),
        "description": ("text", "\"\"", "Free text for `hetserve scenarios`."),
        "notes": ("any", "none", "Free notes; not read by the code."),
        "window_minutes": ("number > 0", "required", "Planning window length in minutes; must divide a day."),
        "budget_per_hour": ("number > 0", "required", "Rental budget B in $/hour (the fleet's $/h may not exceed it)."),
        "seed": ("integer", "0", "Seed of synthetic demand and demand volatility (same seed, same series)."),
        "n_days": ("integer >= 1", f"the longest real source, else {DEFAULT_N_DAYS}",
                   "Days of demand; a longer real series is cut to its first `n_days` days."),
        "splits": ("mapping split -> list of day numbers", "chronological: last 2 days test, 2 before validation, "
                   "rest train (needs >= 3 days)", "Which days each split (`train`, `validation`, `test`) "
                   "holds, e.g. `{train: [0, 1, 2], validation: [3], test: [4]}`: lists of day numbers, not counts."),
        "catalog": ("path", "none", "A user catalog (YAML file or folder of CSVs, relative to the scenario file) "
                    "merged over the bundled one: adds GPU types, models, precisions (docs/your-own.md)."),
        "catalog_overrides": ("mapping", "none", "Change fields of existing catalog records, e.g. "
                              "`{gpus: {H100-SXM: {price_per_hour: 2.5}}}` (parts: "
                              + ", ".join(PARTS) + "; quality keys `model/task`). Cannot add records."),
        "perf": ("mapping or `v1`/`v2`", "the defaults below", "Performance-model constants (table below); they override the engine profile's. `version` (or `perf: v2` alone) picks the named constants set of performance model v1 (default) or v2 (docs/model.md). A constant its switch turns off (e.g. `host_per_seq_s` while `host_overlap` is true) is refused, not ignored."),
        "engine": ("string", "`vllm`", "Serving-engine profile: " + ", ".join(f"`{e}`" for e in ENGINES)
                   + " (memory rule, max sequences, chunked prefill, KV precision; table below, docs/model.md §3)."),
        "templates": ("mapping", "required", "Which models, GPU types, precisions and parallelism form templates."),
        "inventory": ("mapping GPU -> integer >= 0", "the catalog's `default_inventory`",
                      "GPUs of each type available (keys: the scenario's GPU types)."),
        "storage": ("mapping", "unlimited, free", "Model-weight storage limit and price."),
        "query_types": ("non-empty list", "required", "The request classes: SLOs, penalties and demand."),
        "env": ("mapping", "defaults below", "Settings of the Gymnasium environment."),
    }),
    "templates": (("templates",), {
        "models": ("non-empty list of model names", "required", "Models to serve (names: the catalog below)."),
        "gpus": ("list of GPU type names", "required unless `tiers`", "GPU types; every GPU x precision is a tier."),
        "precisions": ("list of precision names", "[fp16]", "Precisions combined with every GPU type."),
        "tiers": ("list of [GPU, precision] pairs", "none", "Explicit tiers instead of `gpus` x `precisions`."),
        "tp": ("list of integers >= 1", "[1, 2, 4, 8]", "Tensor-parallel degrees to try."),
        "pp": ("list of integers >= 1", "[1]", "Pipeline-parallel degrees to try."),
        "prune_dominated": ("true/false", "true", "Drop templates another template beats on every type."),
    }),
    "query_types[]": (("query_types", 0), {
        "name": ("text", "required", "The type's name (unique)."),
        "task": ("one of " + ", ".join(TASKS), "required", "Benchmark family that sets each model's error rate."),
        "delay_slo_s": ("number > 0", "required", "End-to-end latency SLO in seconds."),
        "error_slo": ("number in (0, 1]", "required", "Largest mean error rate over served requests."),
        "max_unmet": ("number in [0, 1]", "required", "Largest share of demand left unserved (ζ)."),
        "unmet_penalty": ("number >= 0", "required", "$ per unmet request."),
        "delay_penalty": ("number >= 0", "required", "$ per request-second of end-to-end latency."),
        "error_penalty": ("number >= 0", "`unmet_penalty`", "$ per erroneous request beyond the error SLO."),
        "demand": ("mapping {rate, tokens}", "required", "Where the arrival rate and token counts come from "
                   "(demand sources below)."),
    }),
    "storage": (("storage",), {
        "capacity_gb": ("number >= 0", "unlimited", "GB of model weights that may be stored."),
        "cost_per_gb_hour": ("number >= 0", "0", "$ per GB-hour of stored weights."),
    }),
    "env": (("env",), {
        "max_replicas": ("integer >= 1", "8", "R_max: the largest replica count per template (action size)."),
        "history": ("integer >= 1", "3", "Past windows of demand in the observation."),
        "cold_start": ("mapping", "defaults below", "How long a new replica takes to serve."),
        "static_demand": ("peak or mean", "peak", "Demand of the static plan (`Scenario.problem()`)."),
    }),
    "env.cold_start": (("env", "cold_start"), {
        "boot_s": ("number >= 0", "120", "Seconds to boot a replica."),
        "load_gbps": ("number > 0", "2.0", "GB/s at which weights load (time = boot_s + weight_gb / load_gbps)."),
    }),
}

_SOURCE_DOC = {
    "servegen": "Real 14-day (or 1-day) rate shapes from Alibaba's ServeGen tables; gaps interpolated and flagged.",
    "azure": "The bundled 1-hour Azure LLM Inference Trace 2023 (`code` or `conv`), windowed.",
    "azure_csv": "Any Azure-format CSV of requests (e.g. the 2024 one-week traces), windowed from its first request.",
    "constant": "A constant rate (or constant token counts).",
    "diurnal": "Synthetic daily sinusoid around `mean_rps`.",
    "bursty": "Synthetic bursts (a Markov on/off process) over an optional daily shape.",
    "regime_shift": "Synthetic piecewise-constant levels (log-normal) over an optional daily shape.",
}
_KEY_DOC = {
    "model": "ServeGen model: m-large, m-mid, m-small (14 days), deepseek-r1, mm-image (1 day).",
    "trace": "Bundled Azure 2023 trace: `code` or `conv`.",
    "path": "CSV file path (relative to the scenario file), Azure format.",
    "columns": "Column renaming for a CSV that differs from the Azure format (see `load_azure_trace`).",
    "mean_rps": "Mean arrival rate in req/s (real sources: rescale the series to this mean).",
    "scale": "Real sources: multiply the real levels (default 1).",
    "tile": "Repeat a real series cyclically when it is shorter than needed (default false: an error).",
    "volatility": "σ of multiplicative log-normal noise applied last (seeded per type).",
    "cv": "Inter-arrival coefficient of variation reported to the latency model (default: measured / 1.0).",
    "rps": "Constant arrival rate in req/s.",
    "peak_to_trough": "Ratio of the daily peak to the daily trough (1 = flat).",
    "peak_hour": "Hour of the daily peak (0-24).",
    "burst_factor": "Rate multiplier during a burst.",
    "mean_burst_windows": "Mean burst length in windows.",
    "mean_gap_windows": "Mean gap between bursts in windows.",
    "mean_regime_hours": "Mean length of a regime in hours.",
    "min_regime_hours": "Shortest regime in hours.",
    "level_sigma": "σ of the log-normal level of each regime.",
    "input": "Mean input tokens per request.",
    "output": "Mean output tokens per request.",
    "per_window": "Token means per window instead of trace-wide (default false).",
    "stat": "ServeGen statistic: mean, p50, p90 or p99.",
}


def validator_fields(where: tuple[Any, ...]) -> set[str]:
    """The fields the scenario validator allows at ``where`` (a path into the scenario mapping)."""
    data = copy.deepcopy(_MINIMAL)
    node: Any = data
    for key in where:
        node = node[key]
    node[_PROBE] = 1
    try:
        load_scenario(data)
    except ScenarioError as exc:
        m = re.search(r"allowed: (\[.*?\])", str(exc))
        if m:
            return set(ast.literal_eval(m.group(1)))
        raise RuntimeError(f"the validator's message changed: {exc}") from None
    raise RuntimeError(f"the validator accepted an unknown field at {where}")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|",
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def _field_sections() -> list[str]:
    out = []
    for title, (where, docs) in SECTIONS.items():
        allowed = validator_fields(where)
        if set(docs) != allowed:
            raise RuntimeError(f"{title}: validator fields {sorted(allowed)} != documented {sorted(docs)}; "
                               "update hetserve_env/scenario_reference.py")
        out += [f"## `{title}`" if title != "top level" else "## Top-level fields", ""]
        out += _table(["field", "type", "default", "meaning"], [[f"`{k}`", t, d, m] for k, (t, d, m) in docs.items()])
    return out


def _demand_sections() -> list[str]:
    keys = set().union(*RATE_SOURCES.values(), *TOKEN_SOURCES.values())
    missing = sorted(keys - set(_KEY_DOC)) + sorted(set(RATE_SOURCES) - set(_SOURCE_DOC))
    if missing:
        raise RuntimeError(f"undocumented demand keys/sources {missing}; update hetserve_env/scenario_reference.py")
    out = ["## Demand sources (`query_types[].demand`)", "",
           "`demand: {rate: {source: ..., ...}, tokens: {source: ..., ...}}`. Rate sources and their keys:", ""]
    out += _table(["rate source", "keys", "what"],
                  [[f"`{s}`", ", ".join(f"`{k}`" for k in sorted(ks)), _SOURCE_DOC[s]] for s, ks in RATE_SOURCES.items()])
    out += ["Token sources (`tokens`; without `source`: `constant`):", ""]
    out += _table(["token source", "keys"], [[f"`{s}`", ", ".join(f"`{k}`" for k in sorted(ks))]
                                            for s, ks in TOKEN_SOURCES.items()])
    out += ["Keys:", ""]
    out += _table(["key", "meaning"], [[f"`{k}`", _KEY_DOC[k]] for k in sorted(keys)])
    return out


def render() -> str:
    """The whole reference page (Markdown)."""
    cat = load_catalog()
    perf = [[f"`{f.name}`", f"{f.default!r}"] for f in dataclasses.fields(PerfConstants) if f.name != "engine"]
    lines = ["# Scenario reference", "",
             "<!-- generated by scripts/make_scenario_reference.py from the validator; do not edit by hand -->", "",
             "A scenario is a YAML file: `hetserve inspect my.yaml`, `hetserve compare --scenario my.yaml`, "
             "`gym.make(\"hetserve_env/HetServe-v1\", scenario=\"my.yaml\")`. A walkthrough: "
             "[your-own.md](your-own.md). Every field below is validated; a wrong one names its path, e.g. "
             "`query_types[1].error_slo: must be in (0, 1], got 1.5`.", ""]
    lines += _field_sections()
    lines += ["## `perf` (performance-model constants; docs/model.md §3)", ""]
    lines += _table(["constant", "default"], perf)
    lines += ["Engine profiles (`engine:`) set these defaults:", ""]
    lines += _table(["engine", *ENGINE_FIELDS], [[f"`{e}`", *[f"{getattr(p, k)!r}" for k in ENGINE_FIELDS]]
                                                for e, p in ENGINES.items()])
    lines += _demand_sections()
    lines += ["## Names in the bundled catalog (`hetserve catalog` shows their figures)", "",
              "- GPU types: " + ", ".join(f"`{g}`" for g in cat.gpus),
              "- models: " + ", ".join(f"`{m}`" for m in cat.models),
              "- precisions: " + ", ".join(f"`{p}`" for p in cat.precisions),
              "- tasks: " + ", ".join(f"`{t}`" for t in TASKS), "",
              "Add your own with a `catalog:` file ([your-own.md](your-own.md)).", ""]
    return "\n".join(lines)
