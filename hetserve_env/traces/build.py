"""Build a scenario's demand (:class:`DemandSeries`) from per-query-type specifications.

Each query type is a mapping with ``name`` and ``demand``; other keys of the query type (SLOs, penalties, ...)
belong to the scenario and are ignored here. ``demand`` has exactly two keys, ``rate`` and ``tokens``::

    - name: chat
      demand:
        rate: {source: servegen, model: m-small, mean_rps: 3.0}
        tokens: {source: azure, trace: conv}

Rate sources (``rate.source``) and their keys (``*`` = required):

====================  ===============================================================================
``servegen``          ``model*`` (m-large, m-mid, m-small: 14 days; deepseek-r1, mm-image: 1 day) - the real
                      shape, gap windows linearly interpolated and flagged in ``DemandSeries.filled``
``azure``             ``trace*`` (``code`` or ``conv``): the bundled 1-hour Azure 2023 trace, windowed
``azure_csv``         ``path*`` (any Azure-format CSV, e.g. the 2024 one-week traces), ``columns``
                      (column renaming, see :func:`load_azure_trace`): windowed from the first request
``constant``          ``rps*``
``diurnal``           ``mean_rps*``, ``peak_to_trough`` (2.0), ``peak_hour`` (20)
``bursty``            ``mean_rps*``, ``burst_factor`` (4), ``mean_burst_windows`` (3), ``mean_gap_windows`` (30),
                      ``peak_to_trough`` (1), ``peak_hour`` (20)
``regime_shift``      ``mean_rps*``, ``mean_regime_hours`` (24), ``min_regime_hours`` (2), ``level_sigma`` (0.5),
                      ``peak_to_trough`` (1), ``peak_hour`` (20)
====================  ===============================================================================

The real sources (servegen, azure, azure_csv) also take ``mean_rps`` (rescale so that the mean over the built
series equals it) or ``scale`` (multiply the real levels; the default is 1, i.e. real levels) and ``tile``
(false). Every source takes ``volatility`` (sigma of :func:`with_volatility`, applied last with the type's
seed, so the realised mean differs from ``mean_rps`` by noise) and ``cv`` (the inter-arrival CV to report;
defaults: measured per window for Azure traces, :data:`SERVEGEN_DEFAULT_CV` for ServeGen, 1.0 (Poisson) for
constant and synthetic sources).

Token sources (``tokens``):

* ``{input: 300, output: 400}`` (or with ``source: constant``): constants.
* ``{source: azure, trace: code|conv}`` / ``{source: azure_csv, path: ...}``: the trace-wide means (constant);
  with ``per_window: true`` the per-window means (an empty window takes the trace-wide mean). ``tile`` as for
  rates.
* ``{source: servegen, model: ..., stat: mean}``: the per-6-h value held constant within each 6-h block
  (``stat`` one of mean, p50, p90, p99). ``tile`` as for rates.

Length of the series (number of days):

* ``n_days`` given: every type has ``n_days`` days; a longer real series is cut to its first ``n_days`` days.
* ``n_days`` None: the longest real (non-tiled) source sets the length, in windows; with no real source it is
  14 days. Synthetic and constant sources follow that length.
* A real series shorter than needed is an error naming the type. It is repeated cyclically only when the spec
  says ``tile: true`` (e.g. the 1-hour Azure trace, or a 1-day ServeGen model, over several days). The Azure
  2023 traces span under an hour, so as a *rate* source they make a series of a few windows unless tiled.

Windows and days: ``window_s`` must divide a day (86400 s). Window 0 starts at 00:00 of day 0; ServeGen's
windows keep their time of day; an Azure trace's first request is placed at 00:00 of day 0 (its windows are
counted from the first request; only complete windows are used). ServeGen rates are resampled as described in
:mod:`hetserve_env.traces.servegen` (``window_s`` a multiple or a divisor of 600 s).

Randomness: type ``i`` draws from ``numpy.random.default_rng([seed, i, k])`` (k = 0 generator, 1 volatility),
so adding a type does not change the others, and the same ``seed`` gives the same series.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import synthetic
from .azure import azure_windows, load_azure_trace, load_bundled_azure
from .bundle import AZURE_TRACES
from .errors import TraceError
from .series import SECONDS_PER_DAY, DemandSeries
from .servegen import (
    KNOWN_SERVEGEN_MODELS,
    SERVEGEN_DEFAULT_CV,
    load_servegen_rates,
    load_servegen_tokens,
    servegen_rate_shape,
    servegen_token_shape,
)

__all__ = ["build_demand", "RATE_SOURCES", "TOKEN_SOURCES", "DEFAULT_N_DAYS"]

DEFAULT_N_DAYS = 14

_REAL_RATE_KEYS = {"mean_rps", "scale", "tile", "volatility", "cv"}
_SYNTH_COMMON = {"volatility", "cv"}
RATE_SOURCES: dict[str, set[str]] = {
    "servegen": {"model"} | _REAL_RATE_KEYS,
    "azure": {"trace"} | _REAL_RATE_KEYS,
    "azure_csv": {"path", "columns"} | _REAL_RATE_KEYS,
    "constant": {"rps"} | _SYNTH_COMMON,
    "diurnal": {"mean_rps", "peak_to_trough", "peak_hour"} | _SYNTH_COMMON,
    "bursty": {"mean_rps", "burst_factor", "mean_burst_windows", "mean_gap_windows", "peak_to_trough", "peak_hour"}
    | _SYNTH_COMMON,
    "regime_shift": {"mean_rps", "mean_regime_hours", "min_regime_hours", "level_sigma", "peak_to_trough", "peak_hour"}
    | _SYNTH_COMMON,
}
TOKEN_SOURCES: dict[str, set[str]] = {
    "constant": {"input", "output"},
    "azure": {"trace", "per_window", "tile"},
    "azure_csv": {"path", "columns", "per_window", "tile"},
    "servegen": {"model", "stat", "tile"},
}


# ---------------------------------------------------------------------------------------------- spec helpers
def _keys(spec: Any, allowed: set[str], path: str, required: Sequence[str] = ()) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise TraceError(f"{path}: expected a mapping, got {type(spec).__name__} {spec!r}")
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise TraceError(f"{path}: unknown key(s) {unknown} (allowed: {', '.join(sorted(allowed))})")
    for k in required:
        if k not in spec:
            raise TraceError(f"{path}.{k}: required")
    return spec


def _number(spec: Mapping, key: str, path: str, default: float | None = None, *, positive: bool = False) -> float:
    if key not in spec:
        if default is None:
            raise TraceError(f"{path}.{key}: required")
        return float(default)
    v = spec[key]
    if isinstance(v, bool) or v is None:
        raise TraceError(f"{path}.{key}: expected a number, got {v!r}")
    try:
        x = float(v)  # YAML 1.1 reads '1e3' as a string; a numeric string is accepted
    except (TypeError, ValueError):
        raise TraceError(f"{path}.{key}: expected a number, got {v!r}") from None
    if not np.isfinite(x):
        raise TraceError(f"{path}.{key}: must be finite, got {v!r}")
    if x < 0 or (positive and x == 0):
        raise TraceError(f"{path}.{key}: must be {'> 0' if positive else '>= 0'}, got {v!r}")
    return x


def _flag(spec: Mapping, key: str, path: str) -> bool:
    v = spec.get(key, False)
    if not isinstance(v, (bool, np.bool_)):
        raise TraceError(f"{path}.{key}: expected true or false, got {v!r}")
    return bool(v)


def _choice(spec: Mapping, key: str, path: str, known: Sequence[str], what: str) -> str:
    if key not in spec:
        raise TraceError(f"{path}.{key}: required")
    v = spec[key]
    if v not in known:
        raise TraceError(f"{path}.{key}: unknown {what} {v!r} (known: {', '.join(known)})")
    return str(v)


@dataclass
class _Ctx:
    window_s: float
    base_dir: Path | None
    traces: dict[str, pd.DataFrame]

    @property
    def wpd(self) -> int:
        return int(round(SECONDS_PER_DAY / self.window_s))

    def trace(self, spec: Mapping, path: str) -> tuple[pd.DataFrame, str]:
        """The Azure trace a spec points at (bundled ``trace`` or ``path``), cached per build."""
        if "trace" in spec:
            name = _choice(spec, "trace", path, tuple(AZURE_TRACES), "bundled Azure trace")
            key = f"bundled:{name}"
            if key not in self.traces:
                self.traces[key] = load_bundled_azure(name)
            return self.traces[key], f"azure:{name}"
        raw = spec.get("path")
        if not isinstance(raw, (str, os.PathLike)) or not str(raw):
            raise TraceError(f"{path}.path: expected a file path, got {raw!r}")
        p = Path(os.path.expanduser(os.fspath(raw)))
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        columns = spec.get("columns")
        if columns is not None and not (
            isinstance(columns, Mapping) and all(isinstance(v, str) for v in columns.values())
        ):
            raise TraceError(f"{path}.columns: expected a mapping of Azure column -> file column, got {columns!r}")
        key = f"{p}|{sorted(columns.items()) if columns else ''}"
        if key not in self.traces:
            if not p.is_file():
                raise TraceError(f"{path}.path: no such file {str(p)!r}")
            try:
                self.traces[key] = load_azure_trace(p, columns=columns)
            except TraceError as exc:
                raise TraceError(f"{path}.path: {exc}") from None
        return self.traces[key], f"azure_csv:{p}"

    def windows(self, df: pd.DataFrame, path: str) -> pd.DataFrame:
        try:
            return azure_windows(df, self.window_s)
        except TraceError as exc:
            raise TraceError(f"{path}: {exc}") from None


def _trace_cv(df: pd.DataFrame) -> float:
    gaps = np.diff(df["t_s"].to_numpy(dtype=np.float64))
    if gaps.size < 2 or gaps.mean() <= 0:
        return 1.0
    return float(gaps.std(ddof=1) / gaps.mean())


# ---------------------------------------------------------------------------------------------- sources
@dataclass
class _Series:
    """One type's rate or token arrays at native length (None length = any length, made on demand)."""

    arrays: dict[str, np.ndarray] | None  # real data at native length
    tile: bool
    label: str
    make: Any = None  # callable(n, rng) -> dict of arrays, for synthetic and constant sources

    @property
    def length(self) -> int | None:
        if self.arrays is None:
            return None
        return len(next(iter(self.arrays.values())))

    def fit(self, n: int, name: str, path: str, ctx: _Ctx, rng: np.random.Generator | None = None) -> dict:
        if self.arrays is None:
            return self.make(n, rng)
        have = self.length
        if have >= n:
            return {k: v[:n] for k, v in self.arrays.items()}
        if not self.tile:
            raise TraceError(
                f"{path}: type {name!r}: the {self.label} series has {have} windows of {ctx.window_s:g} s "
                f"({have / ctx.wpd:.3g} days) but {n} ({n / ctx.wpd:.3g} days) are needed; set n_days to at most "
                f"{have // ctx.wpd} or add 'tile: true' to repeat it cyclically"
            )
        return {k: np.resize(v, n) for k, v in self.arrays.items()}


def _rate_source(spec: Any, path: str, ctx: _Ctx) -> tuple[_Series, dict[str, Any]]:
    if not isinstance(spec, Mapping):
        raise TraceError(f"{path}: expected a mapping, got {type(spec).__name__} {spec!r}")
    if "source" not in spec:
        raise TraceError(f"{path}.source: required (one of: {', '.join(RATE_SOURCES)})")
    source = spec["source"]
    if not isinstance(source, str) or source not in RATE_SOURCES:
        raise TraceError(f"{path}.source: unknown rate source {source!r} (known: {', '.join(RATE_SOURCES)})")
    _keys(spec, RATE_SOURCES[source] | {"source"}, path)
    post: dict[str, Any] = {
        "volatility": _number(spec, "volatility", path, 0.0),
        "cv": _number(spec, "cv", path, positive=True) if "cv" in spec else None,
        "mean_rps": None,
        "scale": 1.0,
    }
    w = ctx.window_s
    if source in ("servegen", "azure", "azure_csv"):
        if "mean_rps" in spec and "scale" in spec:
            raise TraceError(f"{path}: give either mean_rps or scale, not both")
        if "mean_rps" in spec:
            post["mean_rps"] = _number(spec, "mean_rps", path)
        post["scale"] = _number(spec, "scale", path, 1.0)
        tile = _flag(spec, "tile", path)
        if source == "servegen":
            model = _choice(spec, "model", path, KNOWN_SERVEGEN_MODELS, "ServeGen model")
            try:
                rate, filled = servegen_rate_shape(model, w, load_servegen_rates())
            except TraceError as exc:
                raise TraceError(f"{path}: {exc}") from None
            cv = np.full(rate.shape, SERVEGEN_DEFAULT_CV[model])
            return _Series({"rate": rate, "filled": filled, "cv": cv}, tile, f"servegen:{model}"), post
        df, label = ctx.trace(spec, path)
        win = ctx.windows(df, path)
        cv = win["cv_interarrival"].to_numpy(dtype=np.float64)
        cv = np.where(np.isfinite(cv), cv, _trace_cv(df))
        rate = win["rate_rps"].to_numpy(dtype=np.float64)
        return _Series({"rate": rate, "filled": np.zeros(rate.size, bool), "cv": cv}, tile, label), post

    # synthetic / constant: generated at whatever length is needed
    def gen_seeded(fn, **kw):
        def make(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
            try:
                rate = fn(n / ctx.wpd, w, seed=rng, **kw)
            except TraceError as exc:
                raise TraceError(f"{path}.{exc}") from None
            return {"rate": rate, "filled": np.zeros(n, bool), "cv": np.ones(n)}

        return make

    shape_kw = {}
    for k in ("peak_to_trough", "peak_hour"):
        if k in spec:
            shape_kw[k] = _number(spec, k, path, positive=(k == "peak_to_trough"))
    if "peak_to_trough" in shape_kw and shape_kw["peak_to_trough"] < 1:
        raise TraceError(f"{path}.peak_to_trough: must be >= 1, got {spec['peak_to_trough']!r}")
    if "peak_hour" in shape_kw and not 0 <= shape_kw["peak_hour"] <= 24:
        raise TraceError(f"{path}.peak_hour: must be in [0, 24], got {spec['peak_hour']!r}")
    if source == "constant":
        rps = _number(spec, "rps", path)
        make = lambda n, _rng: {"rate": np.full(n, rps), "filled": np.zeros(n, bool), "cv": np.ones(n)}  # noqa: E731
        return _Series(None, False, f"constant:{rps:g}", make), post
    mean = _number(spec, "mean_rps", path)
    extra = {}
    if source == "diurnal":
        fn = synthetic.diurnal
    elif source == "bursty":
        fn = synthetic.bursty
        for k in ("burst_factor", "mean_burst_windows", "mean_gap_windows"):
            if k in spec:
                extra[k] = _number(spec, k, path, positive=True)
    else:
        fn = synthetic.regime_shift
        for k in ("mean_regime_hours", "min_regime_hours", "level_sigma"):
            if k in spec:
                extra[k] = _number(spec, k, path, positive=(k != "level_sigma"))
    return _Series(None, False, f"{source}:{mean:g}", gen_seeded(fn, mean_rps=mean, **shape_kw, **extra)), post


def _token_source(spec: Any, path: str, ctx: _Ctx) -> _Series:
    if not isinstance(spec, Mapping):
        raise TraceError(f"{path}: expected a mapping, got {type(spec).__name__} {spec!r}")
    source = spec.get("source", "constant")
    if not isinstance(source, str) or source not in TOKEN_SOURCES:
        raise TraceError(f"{path}.source: unknown token source {source!r} (known: {', '.join(TOKEN_SOURCES)})")
    _keys(spec, TOKEN_SOURCES[source] | {"source"}, path)
    if source == "constant":
        inp = _number(spec, "input", path)
        out = _number(spec, "output", path)
        make = lambda n, _rng: {"input": np.full(n, inp), "output": np.full(n, out)}  # noqa: E731
        return _Series(None, False, f"constant:{inp:g}/{out:g}", make)
    tile = _flag(spec, "tile", path)
    if source == "servegen":
        model = _choice(spec, "model", path, KNOWN_SERVEGEN_MODELS, "ServeGen model")
        stat = spec.get("stat", "mean")
        if stat not in ("mean", "p50", "p90", "p99"):
            raise TraceError(f"{path}.stat: unknown token statistic {stat!r} (known: mean, p50, p90, p99)")
        try:
            inp, out = servegen_token_shape(
                model, ctx.window_s, load_servegen_tokens(), load_servegen_rates(), stat=stat
            )
        except TraceError as exc:
            raise TraceError(f"{path}: {exc}") from None
        return _Series({"input": inp, "output": out}, tile, f"servegen:{model}:{stat}")
    df, label = ctx.trace(spec, path)
    mean_in = float(df["input_tokens"].mean())
    mean_out = float(df["output_tokens"].mean())
    if not _flag(spec, "per_window", path):
        if "tile" in spec:
            raise TraceError(f"{path}.tile: only meaningful with per_window: true (trace-wide means are constant)")
        make = lambda n, _rng: {"input": np.full(n, mean_in), "output": np.full(n, mean_out)}  # noqa: E731
        return _Series(None, False, f"{label}:mean", make)
    win = ctx.windows(df, path)
    inp = win["input_mean"].to_numpy(dtype=np.float64)
    out = win["output_mean"].to_numpy(dtype=np.float64)
    return _Series(
        {"input": np.where(np.isfinite(inp), inp, mean_in), "output": np.where(np.isfinite(out), out, mean_out)},
        tile,
        f"{label}:per_window",
    )


# ---------------------------------------------------------------------------------------------- build
def build_demand(
    query_types: Sequence[Mapping[str, Any]],
    window_s: float,
    *,
    n_days: int | None = None,
    seed: int = 0,
    splits: Mapping[str, Sequence[int]] | None = None,
    base_dir: str | os.PathLike | None = None,
) -> DemandSeries:
    """Build the demand of a scenario's query types (spec format in the module docstring).

    Args:
        query_types: one mapping per type with ``name`` and ``demand`` (other keys are ignored).
        window_s: window length in seconds; must divide a day.
        n_days: number of days (None: the longest real source, else 14).
        seed: int >= 0 for the synthetic generators and volatility.
        splits: explicit day numbers per split: lists, non-empty, disjoint, named train / validation / test
            (default: :func:`split_days`, 10 / 2 / 2 for 14 days).
        base_dir: directory that relative ``path`` entries are resolved against (e.g. the scenario file's).

    Raises:
        TraceError: naming the field, e.g. ``query_types[2].demand.rate.model: unknown ServeGen model 'm-huge'
            (known: ...)``.
    """
    w, per_day, n_days = _check_arguments(query_types, window_s, n_days, seed)
    ctx = _Ctx(window_s=w, base_dir=Path(base_dir) if base_dir is not None else None, traces={})
    names, parsed = _parse_query_types(query_types, ctx)

    wpd = int(round(per_day))
    if n_days is not None:
        n = int(n_days) * wpd
    else:
        lengths = [s.length for _, _, r, _, t in parsed for s in (r, t) if s.length is not None and not s.tile]
        n = max(lengths) if lengths else DEFAULT_N_DAYS * wpd

    rate, cv, filled, inp, out, sources = _fill_columns(parsed, n, int(seed), ctx)
    try:
        return DemandSeries(type_names=tuple(names), window_s=w, rate=rate, input_tokens=inp, output_tokens=out,
                            day=np.arange(n) // wpd, cv=cv, filled=filled, splits=splits,
                            meta={"sources": sources, "seed": int(seed), "n_days": n / wpd})
    except TraceError as exc:
        msg = str(exc)
        if msg.startswith("DemandSeries.splits"):
            msg = "splits" + msg[len("DemandSeries.splits") :]
        raise TraceError(msg) from None


def _check_arguments(query_types: Any, window_s: Any, n_days: Any, seed: Any) -> tuple[float, float, int | None]:
    """build_demand's scalar arguments checked: (window length, windows per day, n_days as int or None)."""
    if isinstance(window_s, bool):
        raise TraceError(f"window_s: expected a number of seconds, got {window_s!r}")
    try:
        w = float(window_s)
    except (TypeError, ValueError):
        raise TraceError(f"window_s: expected a number of seconds, got {window_s!r}") from None
    if not np.isfinite(w) or w <= 0:
        raise TraceError(f"window_s: must be > 0, got {window_s!r}")
    per_day = SECONDS_PER_DAY / w
    if abs(per_day - round(per_day)) > 1e-9:
        raise TraceError(f"window_s: {w:g} s does not divide a day (86400 s) into whole windows")
    if isinstance(n_days, float) and n_days.is_integer():  # YAML may say 7.0
        n_days = int(n_days)
    if n_days is not None and (isinstance(n_days, bool) or not isinstance(n_days, (int, np.integer)) or n_days < 1):
        raise TraceError(f"n_days: expected an integer >= 1 or None, got {n_days!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TraceError(f"seed: expected an integer >= 0, got {seed!r}")
    if isinstance(query_types, (str, bytes, Mapping)) or not isinstance(query_types, Sequence):
        raise TraceError(f"query_types: expected a list of query types, got {type(query_types).__name__}")
    if len(query_types) == 0:
        raise TraceError("query_types: at least one query type is required")
    return w, per_day, n_days


def _parse_query_types(query_types: Sequence[Mapping[str, Any]], ctx: _Ctx) -> tuple[list[str], list[tuple]]:
    """Names and parsed (name, path, rate source, rate post-processing, token source) of every query type."""
    names: list[str] = []
    parsed = []
    for i, qt in enumerate(query_types):
        p = f"query_types[{i}]"
        if not isinstance(qt, Mapping):
            raise TraceError(f"{p}: expected a mapping with 'name' and 'demand', got {type(qt).__name__}")
        name = qt.get("name")
        if not isinstance(name, str) or not name:
            raise TraceError(f"{p}.name: required, a non-empty string (got {name!r})")
        if name in names:
            raise TraceError(f"{p}.name: duplicate query type name {name!r}")
        names.append(name)
        if "demand" not in qt:
            raise TraceError(f"{p}.demand: required")
        demand = _keys(qt["demand"], {"rate", "tokens"}, f"{p}.demand", required=("rate", "tokens"))
        rate_src, post = _rate_source(demand["rate"], f"{p}.demand.rate", ctx)
        tok_src = _token_source(demand["tokens"], f"{p}.demand.tokens", ctx)
        parsed.append((name, p, rate_src, post, tok_src))
    return names, parsed


def _fill_columns(parsed: list[tuple], n: int, seed: int, ctx: _Ctx) -> tuple:
    """(rate, cv, filled, input tokens, output tokens, sources) over ``n`` windows, one column per query type,
    each type with its own generator and volatility streams (seeded by (seed, type index))."""
    I = len(parsed)
    rate = np.empty((n, I))
    cv = np.empty((n, I))
    filled = np.zeros((n, I), dtype=bool)
    inp = np.empty((n, I))
    out = np.empty((n, I))
    sources: dict[str, dict[str, str]] = {}
    for i, (name, p, rate_src, post, tok_src) in enumerate(parsed):
        gen_rng = np.random.default_rng([seed, i, 0])
        vol_rng = np.random.default_rng([seed, i, 1])
        arr = rate_src.fit(n, name, f"{p}.demand.rate", ctx, gen_rng)
        r = np.asarray(arr["rate"], dtype=np.float64)
        if post["mean_rps"] is not None:
            m = r.mean()
            if m <= 0:
                raise TraceError(f"{p}.demand.rate: the {rate_src.label} series has no requests to rescale")
            r = r * (post["mean_rps"] / m)
        elif post["scale"] != 1.0:
            r = r * post["scale"]
        r = synthetic.with_volatility(r, post["volatility"], vol_rng)
        rate[:, i] = r
        cv[:, i] = post["cv"] if post["cv"] is not None else arr["cv"]
        filled[:, i] = arr["filled"]
        tok = tok_src.fit(n, name, f"{p}.demand.tokens", ctx)
        inp[:, i] = tok["input"]
        out[:, i] = tok["output"]
        sources[name] = {"rate": rate_src.label, "tokens": tok_src.label}
    return rate, cv, filled, inp, out, sources
