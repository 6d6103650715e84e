"""Scenarios: a YAML file naming query types, catalog subset, fleet limits and demand; compiled to Problems.

``load_scenario("default")`` loads a bundled scenario, ``load_scenario("path/to/file.yaml")`` a user's.
Every field is validated; a wrong one raises :class:`ScenarioError` with its path, e.g.
``query_types[1].error_slo: must be in (0, 1], got 1.5``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from .catalog import TASKS, Catalog, CatalogError, load_catalog, merge_catalog
from .perf import DEFAULT_ENGINE, ENGINES, PerfConstants, PerfTable, evaluate_templates, inert_overrides
from .problem import Problem
from .rules import MAX_COUNT, MAX_SECONDS, PROBLEM_RULES, Rule, check_choice, check_int, check_number
from .safe_yaml import load_yaml
from .templates import TemplateSet, build_templates, prune_dominated
from .traces import DemandSeries, TraceError, build_demand

SCENARIO_DIR = Path(__file__).parent / "scenarios"


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the field."""


@dataclass(frozen=True)
class QueryType:
    """A request class: SLOs and penalties (the demand itself lives in the scenario's DemandSeries)."""

    name: str
    task: str  # quality family: code | math | knowledge | chat
    delay_slo_s: float
    error_slo: float
    max_unmet: float
    unmet_penalty: float  # $ per unmet request
    delay_penalty: float  # $ per request-second of end-to-end latency
    error_penalty: float  # $ per erroneous request beyond the error SLO
    demand: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ColdStart:
    """Time from asking for a replica to it serving: boot + weight load at ``load_gbps``."""

    boot_s: float = 120.0
    load_gbps: float = 2.0

    def seconds(self, weight_gb: np.ndarray) -> np.ndarray:
        return self.boot_s + np.asarray(weight_gb) / self.load_gbps


@dataclass(frozen=True)
class EnvSettings:
    max_replicas: int = 8
    history: int = 3
    cold_start: ColdStart = ColdStart()
    #: demand used by a static plan (``Scenario.problem()`` without a window): "peak" or "mean".
    static_demand: str = "peak"


_QT_FIELDS = {
    "name": str, "task": str, "delay_slo_s": float, "error_slo": float, "max_unmet": float,
    "unmet_penalty": float, "delay_penalty": float, "error_penalty": float, "demand": dict,
}
_TOP_FIELDS = {
    "name", "description", "window_minutes", "budget_per_hour", "inventory", "storage", "catalog_overrides",
    "perf", "engine", "templates", "query_types", "splits", "env", "n_days", "seed", "notes", "catalog",
}


def _check_keys(where: str, data: Mapping[str, Any], allowed: set[str] | Mapping[str, Any]) -> None:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {type(data).__name__}")
    for k in data:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {sorted(allowed)}"
            raise ScenarioError(f"{where}.{k}: unknown field{hint}")


#: Rules of the scenario's own numbers; fields that become a Problem field use that field's rule
#: (:data:`hetserve_env.rules.PROBLEM_RULES`), so a Scenario and a Problem accept the same values.
SCENARIO_RULES: dict[str, Rule] = {
    "window_minutes": Rule(0, MAX_SECONDS / 60, lo_open=True),
    "budget_per_hour": Rule(0, None, lo_open=True),
    "seed": Rule(0, None, integer=True),
    "templates.tp": Rule(1, MAX_COUNT, integer=True),
    "templates.pp": Rule(1, MAX_COUNT, integer=True),
    "env.max_replicas": Rule(1, MAX_COUNT, integer=True),
    "env.history": Rule(1, MAX_COUNT, integer=True),
    "env.cold_start.boot_s": Rule(0, MAX_SECONDS),
    "env.cold_start.load_gbps": Rule(0, None, lo_open=True),
}


def _num(where: str, value: Any, rule: Rule) -> float:
    return check_number(ScenarioError, where, value, rule)


def _int(where: str, value: Any, rule: Rule) -> int:
    return check_int(ScenarioError, where, value, rule)


class Scenario:
    """A parsed, validated scenario; templates and demand are built lazily and cached."""

    def __init__(self, data: Mapping[str, Any], source: str = "<dict>", catalog: Catalog | None = None) -> None:
        self.source = source
        self.base_dir = Path(source).parent if source != "<dict>" else None
        self.base_catalog = catalog  # what ``replace`` builds on (``catalog``/``catalog_overrides`` re-applied)
        _check_keys(source, data, _TOP_FIELDS)
        self.raw = dict(data)
        for req in ("name", "window_minutes", "templates", "query_types", "budget_per_hour"):
            if req not in data:
                raise ScenarioError(f"{source}: missing required field {req!r}")
        self.name: str = str(data["name"])
        self.description: str = str(data.get("description", ""))
        self.window_s = 60.0 * _num("window_minutes", data["window_minutes"], SCENARIO_RULES["window_minutes"])
        self.budget = _num("budget_per_hour", data["budget_per_hour"], SCENARIO_RULES["budget_per_hour"])
        self.seed = _int("seed", data.get("seed", 0), SCENARIO_RULES["seed"])
        self.n_days = data.get("n_days")
        self.splits = data.get("splits")
        base = catalog or load_catalog()
        if data.get("catalog") is not None:  # a user catalog file merged over the bundled one (catalog/user.py)
            path = Path(str(data["catalog"]))
            path = path if path.is_absolute() or self.base_dir is None else self.base_dir / path
            try:
                base = merge_catalog(base, path)
            except CatalogError as exc:
                raise ScenarioError(f"catalog: {exc}") from None
        try:
            self.catalog = base.with_overrides(**(data.get("catalog_overrides") or {}))
        except (CatalogError, TypeError) as exc:
            raise ScenarioError(f"catalog_overrides: {exc}") from None
        self.engine = check_choice(ScenarioError, "engine", data.get("engine", DEFAULT_ENGINE), ENGINES)
        self.constants = self._parse_perf(data.get("perf") or {})
        self.query_types = tuple(self._parse_query_type(i, q) for i, q in enumerate(self._list("query_types", data["query_types"])))
        names = [q.name for q in self.query_types]
        if len(set(names)) != len(names):
            raise ScenarioError(f"query_types: duplicate names in {names}")
        self._parse_templates(data["templates"])
        self._parse_fleet(data)
        self.env = self._parse_env(data.get("env") or {})

    # ------------------------------------------------------------ parsing
    def _parse_perf(self, perf: Any) -> PerfConstants:
        """The scenario's constants. A key the resolved switches make the model ignore (e.g. ``host_per_seq_s``
        on an engine that overlaps host work) is an error: the user meant it to act."""
        if isinstance(perf, str):  # `perf: v2` = `perf: {version: v2}` (the named constants set)
            perf = {"version": perf}
        if not isinstance(perf, Mapping):
            raise ScenarioError(f"perf: must be a mapping of constants or a model version name, got "
                                f"{type(perf).__name__} {perf!r}")
        if "engine" in perf:
            raise ScenarioError("perf.engine: choose the engine with the top-level key `engine:`")
        try:
            constants = PerfConstants.from_mapping(perf, engine=self.engine)
            inert = inert_overrides(dict(perf), constants)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ScenarioError(f"perf: {exc}") from None
        if inert:
            raise ScenarioError("perf: " + "; ".join(inert))
        return constants

    @staticmethod
    def _list(where: str, value: Any) -> list[Any]:
        if not isinstance(value, (list, tuple)) or not value:
            raise ScenarioError(f"{where}: expected a non-empty list")
        return list(value)

    def _parse_query_type(self, i: int, q: Any) -> QueryType:
        where = f"query_types[{i}]"
        _check_keys(where, q, _QT_FIELDS)
        missing = [k for k in _QT_FIELDS if k not in q and k not in ("error_penalty",)]
        if missing:
            raise ScenarioError(f"{where}: missing field(s) {missing}")
        task = str(q["task"])
        if task not in TASKS:
            raise ScenarioError(f"{where}.task: unknown task {task!r}; known: {list(TASKS)}")
        return QueryType(
            name=str(q["name"]), task=task,
            delay_slo_s=_num(f"{where}.delay_slo_s", q["delay_slo_s"], PROBLEM_RULES["delay_slo"]),
            error_slo=_num(f"{where}.error_slo", q["error_slo"], PROBLEM_RULES["error_slo"]),
            max_unmet=_num(f"{where}.max_unmet", q["max_unmet"], PROBLEM_RULES["max_unmet"]),
            unmet_penalty=_num(f"{where}.unmet_penalty", q["unmet_penalty"], PROBLEM_RULES["unmet_penalty"]),
            delay_penalty=_num(f"{where}.delay_penalty", q["delay_penalty"], PROBLEM_RULES["delay_penalty"]),
            error_penalty=_num(f"{where}.error_penalty", q.get("error_penalty", q["unmet_penalty"]),
                               PROBLEM_RULES["error_penalty"]),
            demand=q["demand"],
        )

    def _parse_templates(self, t: Any) -> None:
        _check_keys("templates", t, {"models", "gpus", "precisions", "tiers", "tp", "pp", "prune_dominated"})
        try:
            self.models = [self.catalog.model(m).name for m in self._list("templates.models", t.get("models"))]
            if "tiers" in t:
                if "gpus" in t or "precisions" in t:
                    raise ScenarioError("templates: give either tiers or gpus+precisions, not both")
                tiers = []
                for k, tier in enumerate(self._list("templates.tiers", t["tiers"])):
                    if not (isinstance(tier, (list, tuple)) and len(tier) == 2):
                        raise ScenarioError(f"templates.tiers[{k}]: expected [GPU, precision], got {tier!r}")
                    tiers.append((self.catalog.gpu(tier[0]).name, self.catalog.precision(tier[1]).name))
            else:
                gpus = [self.catalog.gpu(g).name for g in self._list("templates.gpus", t.get("gpus"))]
                precs = [self.catalog.precision(p).name for p in self._list("templates.precisions", t.get("precisions", ["fp16"]))]
                tiers = [(g, p) for g in gpus for p in precs]
        except CatalogError as exc:
            raise ScenarioError(f"templates: {exc}") from None
        self.tiers = tiers
        self.tp = [_int(f"templates.tp[{k}]", v, SCENARIO_RULES["templates.tp"])
                   for k, v in enumerate(self._list("templates.tp", t.get("tp", [1, 2, 4, 8])))]
        self.pp = [_int(f"templates.pp[{k}]", v, SCENARIO_RULES["templates.pp"])
                   for k, v in enumerate(self._list("templates.pp", t.get("pp", [1])))]
        self.prune = bool(t.get("prune_dominated", True))

    def _parse_fleet(self, data: Mapping[str, Any]) -> None:
        gpu_names = list(dict.fromkeys(g for g, _ in self.tiers))
        inv = data.get("inventory") or {}
        _check_keys("inventory", inv, set(gpu_names))
        self.inventory = np.array([_int(f"inventory.{g}", inv.get(g, self.catalog.gpu(g).default_inventory),
                                        PROBLEM_RULES["inventory"]) for g in gpu_names])
        st = data.get("storage") or {}
        _check_keys("storage", st, {"capacity_gb", "cost_per_gb_hour"})
        cap = st.get("capacity_gb")
        self.storage_gb = float("inf") if cap is None else _num("storage.capacity_gb", cap, PROBLEM_RULES["storage_gb"])
        self.storage_cost = _num("storage.cost_per_gb_hour", st.get("cost_per_gb_hour", 0.0), PROBLEM_RULES["storage_cost"])

    def _parse_env(self, e: Mapping[str, Any]) -> EnvSettings:
        _check_keys("env", e, {"max_replicas", "history", "cold_start", "static_demand"})
        cs = e.get("cold_start") or {}
        _check_keys("env.cold_start", cs, {"boot_s", "load_gbps"})
        static = str(e.get("static_demand", "peak"))
        if static not in ("peak", "mean"):
            raise ScenarioError(f"env.static_demand: expected 'peak' or 'mean', got {static!r}")
        return EnvSettings(
            max_replicas=_int("env.max_replicas", e.get("max_replicas", 8), SCENARIO_RULES["env.max_replicas"]),
            history=_int("env.history", e.get("history", 3), SCENARIO_RULES["env.history"]),
            cold_start=ColdStart(_num("env.cold_start.boot_s", cs.get("boot_s", 120.0), SCENARIO_RULES["env.cold_start.boot_s"]),
                                 _num("env.cold_start.load_gbps", cs.get("load_gbps", 2.0),
                                      SCENARIO_RULES["env.cold_start.load_gbps"])),
            static_demand=static,
        )

    # --------------------------------------------------------- derived data
    @cached_property
    def demand(self) -> DemandSeries:
        """The scenario's demand series (all days), per query type and window."""
        specs = [{"name": q.name, "demand": q.demand} for q in self.query_types]
        try:
            return build_demand(specs, self.window_s, n_days=self.n_days, seed=self.seed, splits=self.splits,
                                base_dir=self.base_dir)
        except TraceError as exc:
            raise ScenarioError(str(exc)) from None

    @property
    def delay_slo(self) -> np.ndarray:
        return np.array([q.delay_slo_s for q in self.query_types])

    @cached_property
    def templates(self) -> TemplateSet:
        """All runnable templates, without those dominated at the series' mean token counts."""
        tpl = build_templates(self.catalog, self.models, self.tiers, self.tp, self.pp, self.constants)
        if self.prune:
            d = self.demand
            keep = prune_dominated(tpl, d.input_tokens.mean(axis=0), d.output_tokens.mean(axis=0), self.delay_slo, self.constants)
            tpl = tpl.subset(keep)
        return tpl

    @cached_property
    def _static_arrays(self) -> dict[str, Any]:
        tpl = self.templates
        qs = self.query_types
        errors = np.array([[self.catalog.base_error(tpl.model_names[j], q.task) for j in range(len(tpl.model_names))] for q in qs])
        mult = np.array([self.catalog.precision(p).error_multiplier for p in tpl.precision_names])
        err = np.minimum(errors[:, tpl.model] * mult[tpl.precision][None, :], 1.0)
        art_keys = list(dict.fromkeys(zip(tpl.model.tolist(), tpl.precision.tolist())))
        art_index = {k: a for a, k in enumerate(art_keys)}
        artifact_gb = np.array([tpl.weight_gb[np.flatnonzero((tpl.model == j) & (tpl.precision == p))[0]] for j, p in art_keys])
        return dict(
            type_names=[q.name for q in qs],
            template_labels=tpl.labels,
            gpu_names=list(tpl.gpu_names),
            artifact_names=[f"{tpl.model_names[j]}/{tpl.precision_names[p]}" for j, p in art_keys],
            delay_slo=self.delay_slo,
            error_slo=[q.error_slo for q in qs],
            max_unmet=[q.max_unmet for q in qs],
            unmet_penalty=[q.unmet_penalty for q in qs],
            delay_penalty=[q.delay_penalty for q in qs],
            error_penalty=[q.error_penalty for q in qs],
            template_gpu=tpl.gpu,
            template_artifact=[art_index[(j, p)] for j, p in zip(tpl.model.tolist(), tpl.precision.tolist())],
            gpus=tpl.gpus,
            cost=tpl.cost_per_hour,
            error=err,
            inventory=self.inventory,
            artifact_gb=artifact_gb,
            budget=self.budget,
            storage_gb=self.storage_gb,
            storage_cost=self.storage_cost,
            window_s=self.window_s,
        )

    def perf(self, input_tokens: np.ndarray, output_tokens: np.ndarray) -> PerfTable:
        """Performance table for token means of shape (..., I)."""
        return evaluate_templates(self.templates.hardware, input_tokens, output_tokens, self.delay_slo, self.constants)

    def problem(self, window: int | None = None, *, rate: np.ndarray | None = None,
                input_tokens: np.ndarray | None = None, output_tokens: np.ndarray | None = None) -> Problem:
        """The static problem of one window of the demand series.

        Without ``window``: the scenario's static plan demand — per type the peak (or mean, per
        ``env.static_demand``) rate over the whole series, at the series' mean token counts. ``rate`` and
        the token arguments override the window's values.
        """
        d = self.demand
        if window is None:
            lam = d.rate.max(axis=0) if self.env.static_demand == "peak" else d.rate.mean(axis=0)
            h, f = d.input_tokens.mean(axis=0), d.output_tokens.mean(axis=0)
            label = f"{self.name}:{self.env.static_demand}"
        else:
            if not 0 <= window < d.n_windows:
                raise ScenarioError(f"window {window} out of range: the series has {d.n_windows} windows")
            lam, h, f = d.rate[window], d.input_tokens[window], d.output_tokens[window]
            label = f"{self.name}:w{window}"
        lam = lam if rate is None else np.asarray(rate, dtype=float)
        h = h if input_tokens is None else np.asarray(input_tokens, dtype=float)
        f = f if output_tokens is None else np.asarray(output_tokens, dtype=float)
        return self.compile(lam, h, f, name=label)

    def compile(self, rate: np.ndarray, input_tokens: np.ndarray, output_tokens: np.ndarray, name: str | None = None) -> Problem:
        """A Problem for explicit per-type rate and token means (shape (I,))."""
        perf = self.perf(input_tokens, output_tokens)
        return Problem(
            **self._static_arrays, rate=rate, input_tokens=input_tokens, output_tokens=output_tokens,
            capacity=perf.capacity_rps, latency=perf.latency_s, load_slope=np.minimum(perf.load_slope, 1 - 1e-12),
            name=name or self.name, meta={"scenario": self.name},
        )

    def replace(self, **overrides: Any) -> Scenario:
        """A new scenario with top-level fields replaced (e.g. ``budget_per_hour=50``, ``query_types=[...]``,
        ``env={...}``), validated like a loaded one: an unknown field or a bad value raises
        :class:`ScenarioError` naming it. Nested fields are replaced whole (merge them yourself, e.g.
        ``env={**sc.raw.get("env", {}), "noise": 0.1}``). The source path is kept, so relative paths still resolve."""
        return Scenario({**self.raw, **overrides}, self.source, catalog=self.base_catalog)

    def with_perf_model(self, version: str) -> Scenario:
        """This scenario under performance model ``version`` (``perf`` overrides kept); an unknown version is a
        :class:`ScenarioError` naming it."""
        perf = self.raw.get("perf") or {}
        perf = {"version": perf} if isinstance(perf, str) else dict(perf)
        return Scenario({**self.raw, "perf": {**perf, "version": version}}, self.source, catalog=self.catalog)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "types": len(self.query_types),
                "models": len(self.models), "tiers": len(self.tiers), "templates": len(self.templates),
                "window_minutes": self.window_s / 60, "budget_per_hour": self.budget, "source": self.source}

    def __repr__(self) -> str:
        return f"Scenario({self.name!r}, types={len(self.query_types)}, tiers={len(self.tiers)}, source={self.source!r})"


def builtin_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path | Mapping[str, Any], catalog: Catalog | None = None) -> Scenario:
    """Load a bundled scenario by name, a YAML file by path, or a mapping."""
    if isinstance(name_or_path, Mapping):
        return Scenario(name_or_path, "<dict>", catalog)
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        p = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not p.exists():
            known = builtin_scenarios()
            close = difflib.get_close_matches(str(name_or_path), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ScenarioError(f"unknown scenario {str(name_or_path)!r}; built-in: {known}{hint}")
    if not p.exists():
        raise ScenarioError(f"scenario file {str(p)!r} does not exist")
    try:
        data = load_yaml(p)
    except (yaml.YAMLError, ValueError) as exc:
        raise ScenarioError(f"{p}: not valid YAML ({exc})") from None
    if data is None:
        raise ScenarioError(f"{p}: the file is empty (a scenario is a mapping of fields: name, window_minutes, ...)")
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{p}: the top level must be a mapping of fields (name, window_minutes, ...), "
                            f"got a {type(data).__name__}")
    return Scenario(data, str(p), catalog)
