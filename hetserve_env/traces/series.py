"""The demand series: what every other module reads about demand.

A :class:`DemandSeries` holds, per planning window ``t`` and query type ``i``, the arrival rate (requests/s), the
mean input and output tokens per request, the day the window belongs to, and optionally the inter-arrival
coefficient of variation (burstiness) and a mask of windows whose value was interpolated over a data gap.
Days are split chronologically into train / validation / test (:func:`split_days`); evaluation reports the
test days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..rules import check_unique
from .errors import TraceError

__all__ = ["DemandSeries", "split_days", "SECONDS_PER_DAY", "SPLIT_NAMES"]

SECONDS_PER_DAY = 86_400.0
SPLIT_NAMES = ("train", "validation", "test")


def split_days(days: Sequence[int], validation: int = 2, test: int = 2) -> dict[str, tuple[int, ...]]:
    """Split day ids chronologically: the last ``test`` days are test, the ``validation`` days before them
    validation, and the rest train (14 days -> 10 / 2 / 2).

    Duplicates are ignored and the days are sorted first. With fewer than ``validation + test + 1`` days (but at
    least 3) the split falls back to one validation day (none if ``validation == 0``) and one test day, so that
    train keeps at least one day. Fewer than 3 days raise :class:`TraceError`: pass explicit splits instead.
    """
    if isinstance(validation, bool) or not isinstance(validation, (int, np.integer)) or validation < 0:
        raise TraceError(f"split_days: validation must be an integer >= 0, got {validation!r}")
    if isinstance(test, bool) or not isinstance(test, (int, np.integer)) or test < 1:
        raise TraceError(f"split_days: test must be an integer >= 1, got {test!r}")
    uniq = sorted({int(d) for d in days})
    n = len(uniq)
    if n < 3:
        raise TraceError(
            f"split_days: need at least 3 distinct days to split into train/validation/test, got {n} "
            f"({uniq}); pass explicit splits (lists of day numbers, no day in two splits), e.g. {{'train': [0]}}"
        )
    v, t = int(validation), int(test)
    if n < v + t + 1:
        v, t = min(v, 1), 1
    return {
        "train": tuple(uniq[: n - v - t]),
        "validation": tuple(uniq[n - v - t : n - t]),
        "test": tuple(uniq[n - t :]),
    }


def _as_2d(name: str, value: Any, dtype: Any) -> np.ndarray:
    try:
        arr = np.array(value, dtype=dtype, copy=True)
    except (TypeError, ValueError) as exc:
        raise TraceError(f"DemandSeries.{name}: cannot convert to a {np.dtype(dtype).name} array ({exc})") from None
    if arr.ndim != 2:
        raise TraceError(f"DemandSeries.{name}: expected a 2-D array (windows, types), got shape {arr.shape}")
    return arr


def _type_names(type_names: Any) -> tuple[str, ...]:
    """The query type names as a tuple: non-empty, distinct, non-empty strings."""
    if isinstance(type_names, str):
        raise TraceError("DemandSeries.type_names: expected a sequence of names, got a single string")
    names = tuple(type_names)
    if not names:
        raise TraceError("DemandSeries.type_names: at least one query type is required")
    return check_unique(TraceError, "DemandSeries.type_names", names)


def _window_s(value: Any) -> float:
    """The window length as a positive finite float."""
    try:
        window_s = float(value)
    except (TypeError, ValueError):
        raise TraceError(f"DemandSeries.window_s: expected a number, got {value!r}") from None
    if not np.isfinite(window_s) or window_s <= 0:
        raise TraceError(f"DemandSeries.window_s: must be > 0, got {value!r}")
    return window_s


def _demand_arrays(values: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """rate, input_tokens, output_tokens and (if given) cv as (T, I) float64 arrays: finite, >= 0, one column
    per type, the same number of windows (at least one)."""
    n_types = len(names)
    arrays = {}
    for name, value in values.items():
        if value is None:
            if name == "cv":
                continue
            raise TraceError(f"DemandSeries.{name}: required")
        arr = _as_2d(name, value, np.float64)
        if arr.shape[1] != n_types:
            raise TraceError(
                f"DemandSeries.{name}: has {arr.shape[1]} columns but there are {n_types} type_names {names}"
            )
        if np.isnan(arr).any():
            t, i = np.argwhere(np.isnan(arr))[0]
            raise TraceError(f"DemandSeries.{name}: NaN at window {t}, type {names[i]!r}")
        if not np.isfinite(arr).all():
            t, i = np.argwhere(~np.isfinite(arr))[0]
            raise TraceError(f"DemandSeries.{name}: infinite value at window {t}, type {names[i]!r}")
        if (arr < 0).any():
            t, i = np.argwhere(arr < 0)[0]
            raise TraceError(f"DemandSeries.{name}: negative value {arr[t, i]!r} at window {t}, type {names[i]!r}")
        arrays[name] = arr
    n_windows = arrays["rate"].shape[0]
    if n_windows == 0:
        raise TraceError("DemandSeries.rate: the series has no windows")
    for name, arr in arrays.items():
        if arr.shape[0] != n_windows:
            raise TraceError(f"DemandSeries.{name}: has {arr.shape[0]} windows but rate has {n_windows}")
    return arrays


def _filled(value: Any, shape: tuple[int, int]) -> np.ndarray:
    """The gap-filled flags as a bool array of the rate's shape (0/1 integers accepted)."""
    filled = np.array(value, copy=True)
    if filled.dtype != np.bool_:
        if filled.dtype.kind not in "biu" or not np.isin(filled, (0, 1)).all():
            raise TraceError(f"DemandSeries.filled: expected booleans, got dtype {filled.dtype}")
        filled = filled.astype(bool)
    if filled.shape != shape:
        raise TraceError(f"DemandSeries.filled: shape {filled.shape} does not match rate shape {shape}")
    return filled


def _days(value: Any, n_windows: int) -> np.ndarray:
    """The day of each window as int64: integers >= 0, non-decreasing, one per window."""
    day = np.array(value, copy=True)
    if day.ndim != 1 or day.shape[0] != n_windows:
        raise TraceError(f"DemandSeries.day: expected shape ({n_windows},), got {day.shape}")
    if day.dtype.kind == "f":
        if not np.isfinite(day).all() or not np.array_equal(day, np.round(day)):
            raise TraceError("DemandSeries.day: day indices must be integers")
    elif day.dtype.kind not in "iu":
        raise TraceError(f"DemandSeries.day: expected integer day indices, got dtype {day.dtype}")
    day = day.astype(np.int64)
    if (day < 0).any():
        raise TraceError(f"DemandSeries.day: negative day index {int(day[day < 0][0])}")
    if (np.diff(day) < 0).any():
        t = int(np.argmax(np.diff(day) < 0)) + 1
        raise TraceError(f"DemandSeries.day: must be non-decreasing (chronological); drops at window {t}")
    return day


@dataclass(eq=False)
class DemandSeries:
    """Demand per planning window and query type.

    Attributes:
        type_names: names of the query types, in column order.
        window_s: window length in seconds (> 0).
        rate: ``(T, I)`` arrival rate in requests per second, float64, ``>= 0``.
        input_tokens: ``(T, I)`` mean input (prompt) tokens per request.
        output_tokens: ``(T, I)`` mean output (generated) tokens per request.
        day: ``(T,)`` int, the day index of each window, non-decreasing (chronological).
        cv: optional ``(T, I)`` coefficient of variation of inter-arrival times (1 = Poisson, > 1 burstier).
        filled: optional ``(T, I)`` bool, True where the value was interpolated over a data gap.
        splits: day ids of each split (``train`` / ``validation`` / ``test``). Defaults to
            :func:`split_days` of the series' days; a series with fewer than 3 days gets no default splits
            (``{}``) and :meth:`split` then asks for explicit ones.
        meta: free-form provenance, e.g. ``{"sources": {"chat": "servegen:m-small"}}``; not validated.

    Invalid fields raise :class:`TraceError` naming the field.
    """

    type_names: tuple[str, ...]
    window_s: float
    rate: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    day: np.ndarray
    cv: np.ndarray | None = None
    filled: np.ndarray | None = None
    splits: Mapping[str, tuple[int, ...]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        names = _type_names(self.type_names)
        self.type_names = names
        self.window_s = _window_s(self.window_s)
        fields = ("rate", "input_tokens", "output_tokens", "cv")
        arrays = _demand_arrays({name: getattr(self, name) for name in fields}, names)
        n_windows = arrays["rate"].shape[0]
        for name, arr in arrays.items():
            setattr(self, name, arr)
        if self.filled is not None:
            self.filled = _filled(self.filled, (n_windows, len(names)))
        day = _days(self.day, n_windows)
        self.day = day

        if self.splits is None:
            uniq = np.unique(day)
            self.splits = split_days(uniq.tolist()) if uniq.size >= 3 else {}
        else:
            self.splits = self._check_splits(self.splits)
        if self.meta is None:
            self.meta = {}

    def _check_splits(self, splits: Mapping[str, Iterable[int]]) -> dict[str, tuple[int, ...]]:
        """Splits are lists of day numbers of the series, named train / validation / test, non-empty and
        disjoint (a day in two splits would leak test data into training)."""
        if not isinstance(splits, Mapping):
            raise TraceError(f"DemandSeries.splits: expected a mapping of split name -> list of day numbers, got {splits!r}")
        known = set(np.unique(self.day).tolist())
        out: dict[str, tuple[int, ...]] = {}
        for name, days in splits.items():
            if name not in SPLIT_NAMES:
                raise TraceError(f"DemandSeries.splits: unknown split {name!r} (allowed: {', '.join(SPLIT_NAMES)})")
            where = f"DemandSeries.splits[{name!r}]"
            if isinstance(days, (str, bytes, Mapping)) or not isinstance(days, Iterable):
                raise TraceError(f"{where}: expected a list of day numbers (e.g. [12, 13]), got {days!r}; splits name "
                                 f"days, not counts (days {min(known)}..{max(known)} of the series)")
            days = list(days)
            bad = [d for d in days if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer))]
            if bad:
                raise TraceError(f"{where}: day numbers must be integers, got {bad[0]!r}")
            if not days:
                raise TraceError(f"{where}: empty; list at least one day or leave the split out")
            ds = tuple(sorted({int(d) for d in days}))
            missing = [d for d in ds if d not in known]
            if missing:
                raise TraceError(f"{where}: days {missing} are not in the series (days {sorted(known)})")
            for other, ods in out.items():
                shared = sorted(set(ds) & set(ods))
                if shared:
                    raise TraceError(f"{where}: days {shared} are also in split {other!r}; splits must not share days")
            out[name] = ds
        return out

    # ------------------------------------------------------------------ shape
    @property
    def n_windows(self) -> int:
        """Number of windows T."""
        return int(self.rate.shape[0])

    @property
    def n_types(self) -> int:
        """Number of query types I."""
        return int(self.rate.shape[1])

    @property
    def windows_per_day(self) -> int:
        """Nominal windows per day, ``round(86400 / window_s)`` (at least 1); a partial day may hold fewer."""
        return max(1, int(round(SECONDS_PER_DAY / self.window_s)))

    @property
    def days(self) -> np.ndarray:
        """The distinct day ids, sorted."""
        return np.unique(self.day)

    # ------------------------------------------------------------------ selection
    def select_days(self, days: int | Iterable[int]) -> DemandSeries:
        """The windows of the given days (kept in chronological order, day ids unchanged).

        Splits are restricted to the kept days; splits left empty are dropped.
        """
        if isinstance(days, (int, np.integer)):
            days = (int(days),)
        try:
            wanted = sorted({int(d) for d in days})
        except (TypeError, ValueError):
            raise TraceError(f"select_days: expected day ids, got {days!r}") from None
        if not wanted:
            raise TraceError("select_days: no days given")
        known = set(self.days.tolist())
        missing = [d for d in wanted if d not in known]
        if missing:
            raise TraceError(f"select_days: days {missing} are not in the series (days {sorted(known)})")
        mask = np.isin(self.day, wanted)
        keep = set(wanted)
        splits = {
            name: tuple(d for d in ds if d in keep)
            for name, ds in (self.splits or {}).items()
            if any(d in keep for d in ds)
        }
        return DemandSeries(
            type_names=self.type_names,
            window_s=self.window_s,
            rate=self.rate[mask],
            input_tokens=self.input_tokens[mask],
            output_tokens=self.output_tokens[mask],
            day=self.day[mask],
            cv=None if self.cv is None else self.cv[mask],
            filled=None if self.filled is None else self.filled[mask],
            splits=splits,
            meta=dict(self.meta),
        )

    def split(self, name: str) -> DemandSeries:
        """The days of split ``name`` (``'train'``, ``'validation'`` or ``'test'``) as their own series."""
        return self.select_days(self.split_day_ids(name))

    def split_day_ids(self, name: str) -> tuple[int, ...]:
        """The day numbers of split ``name``; a clear :class:`TraceError` when the series has no such split."""
        splits = self.splits or {}
        if name not in splits:
            if not splits:
                raise TraceError(
                    f"split {name!r}: this series has no splits (it has {len(self.days)} day(s); the default "
                    "train/validation/test split needs at least 3): pass splits explicitly, lists of day numbers"
                )
            raise TraceError(f"split {name!r}: unknown split (known: {', '.join(splits)})")
        if not splits[name]:
            raise TraceError(f"split {name!r}: the split has no days")
        return tuple(splits[name])

    # ------------------------------------------------------------------ frames
    def to_frame(self) -> pd.DataFrame:
        """Long format, one row per (window, type): ``window, day, type, rate, input_tokens, output_tokens``,
        plus ``cv`` and ``filled`` when present. Rows are ordered by window, then type."""
        T, I = self.rate.shape
        data: dict[str, Any] = {
            "window": np.repeat(np.arange(T, dtype=np.int64), I),
            "day": np.repeat(self.day, I),
            "type": np.tile(np.array(self.type_names, dtype=object), T),
            "rate": self.rate.reshape(-1),
            "input_tokens": self.input_tokens.reshape(-1),
            "output_tokens": self.output_tokens.reshape(-1),
        }
        if self.cv is not None:
            data["cv"] = self.cv.reshape(-1)
        if self.filled is not None:
            data["filled"] = self.filled.reshape(-1)
        return pd.DataFrame(data)

    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, window_s: float, splits: Mapping[str, Iterable[int]] | None = None
    ) -> DemandSeries:
        """Inverse of :meth:`to_frame`. Types keep their order of first appearance; every (window, type) pair
        for windows ``0..T-1`` must be present exactly once, and each window has one day."""
        required = ["window", "day", "type", "rate", "input_tokens", "output_tokens"]
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise TraceError(f"DemandSeries.from_frame: missing columns {missing} (have {list(df.columns)})")
        if len(df) == 0:
            raise TraceError("DemandSeries.from_frame: empty frame")
        if df["type"].isna().any():
            raise TraceError(
                f"DemandSeries.from_frame: row {int(np.argmax(df['type'].isna().to_numpy()))}: type is missing"
            )
        types = [str(t) for t in pd.unique(df["type"])]
        win = pd.to_numeric(df["window"], errors="coerce")
        if win.isna().any() or not np.array_equal(win, np.round(win)):
            raise TraceError("DemandSeries.from_frame: column 'window' must hold integers")
        win = win.to_numpy().astype(np.int64)
        T = int(win.max()) + 1
        if win.min() < 0:
            raise TraceError("DemandSeries.from_frame: column 'window' has negative values")
        type_idx = pd.Categorical(df["type"].astype(str), categories=types).codes
        I = len(types)
        if len(df) != T * I:
            raise TraceError(f"DemandSeries.from_frame: expected {T * I} rows ({T} windows x {I} types), got {len(df)}")
        flat = win * I + type_idx
        counts = np.bincount(flat, minlength=T * I)
        if (counts != 1).any():
            k = int(np.argmax(counts != 1))
            raise TraceError(
                f"DemandSeries.from_frame: window {k // I}, type {types[k % I]!r} appears {counts[k]} times"
            )
        order = np.argsort(flat, kind="stable")

        def grid(col: str, dtype: Any) -> np.ndarray:
            vals = df[col].to_numpy()[order]
            try:
                return np.asarray(vals, dtype=dtype).reshape(T, I)
            except (TypeError, ValueError):
                raise TraceError(f"DemandSeries.from_frame: column {col!r} is not {np.dtype(dtype).name}") from None

        day_grid = grid("day", np.float64)
        if not (day_grid == day_grid[:, :1]).all():
            t = int(np.argmax(~(day_grid == day_grid[:, :1]).all(axis=1)))
            raise TraceError(f"DemandSeries.from_frame: window {t} has different days for different types")
        return cls(
            type_names=tuple(types),
            window_s=window_s,
            rate=grid("rate", np.float64),
            input_tokens=grid("input_tokens", np.float64),
            output_tokens=grid("output_tokens", np.float64),
            day=day_grid[:, 0],
            cv=grid("cv", np.float64) if "cv" in df.columns else None,
            filled=grid("filled", bool) if "filled" in df.columns else None,
            splits=splits,
        )

    # ------------------------------------------------------------------ reporting
    def summary(self) -> pd.DataFrame:
        """One row per split x type (then ``all`` x type): ``split, type, days, windows, rate_mean, rate_p50,
        rate_p95, rate_max, input_tokens_mean, output_tokens_mean, filled_windows``.

        Rates are requests/s over the split's windows; token means are request-weighted (weighted by the
        window's rate; a plain mean when the split has no requests).
        """
        groups = [(name, list(ds)) for name, ds in (self.splits or {}).items() if ds]
        groups.append(("all", self.days.tolist()))
        rows = []
        for split_name, ds in groups:
            mask = np.isin(self.day, ds)
            rate = self.rate[mask]
            for i, tname in enumerate(self.type_names):
                r = rate[:, i]
                w = r if r.sum() > 0 else np.ones_like(r)
                rows.append(
                    {
                        "split": split_name,
                        "type": tname,
                        "days": len(ds),
                        "windows": int(mask.sum()),
                        "rate_mean": float(r.mean()),
                        "rate_p50": float(np.percentile(r, 50)),
                        "rate_p95": float(np.percentile(r, 95)),
                        "rate_max": float(r.max()),
                        "input_tokens_mean": float(np.average(self.input_tokens[mask, i], weights=w)),
                        "output_tokens_mean": float(np.average(self.output_tokens[mask, i], weights=w)),
                        "filled_windows": int(self.filled[mask, i].sum()) if self.filled is not None else 0,
                    }
                )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (
            f"DemandSeries(types={list(self.type_names)}, window_s={self.window_s:g}, windows={self.n_windows}, "
            f"days={len(self.days)}, splits={ {k: len(v) for k, v in (self.splits or {}).items()} })"
        )
