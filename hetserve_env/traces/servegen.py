"""ServeGen production workload tables (Alibaba Cloud Model Studio; Xiang et al., NSDI '26).

Two derived tables are bundled (see ``data/ATTRIBUTION.md``):

* ``servegen_rate_10min.csv``: request rate per model and 600-s window (14 days for ``m-large``, ``m-mid``,
  ``m-small``; 1 day for ``deepseek-r1`` and ``mm-image``), with a ``gap`` flag on windows that are almost
  certainly data-collection outages (total below 2 % of the model's median window).
* ``servegen_tokens_6h.csv``: request-weighted mean / p50 / p90 / p99 input and output tokens per 6-h window.

Gaps are never passed on as zero demand and never filled silently: :func:`servegen_rate_shape` replaces gap
windows by linear interpolation over time between the nearest non-gap windows (the first / last non-gap value
at the ends of the series) and returns a ``filled`` mask alongside.

Resampling the 600-s table to another window length ``window_s``:

* ``window_s`` a multiple of 600 (1200, 1800, 3600, ...): the mean of the 600-s rates it covers (= total
  requests / window_s); a window is ``filled`` if any 600-s window in it was. A trailing incomplete window is
  dropped.
* ``window_s`` dividing 600 (300, 200, 120, 60, ...): the 600-s rates are taken as the values at the window
  centres and linearly interpolated to the centres of the shorter windows (held flat before the first and after
  the last centre). This keeps the total number of requests exactly (the hat weights of the interpolation sum
  to one 600-s window's worth for every source window), so the mean rate is preserved, while avoiding
  artificial steps every 10 minutes. A short window is ``filled`` if either 600-s value it interpolates from
  was filled.
* anything else raises :class:`TraceError`.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pandas as pd

from .bundle import SERVEGEN_RATES, SERVEGEN_TOKENS, bundled_path
from .errors import TraceError, nonnegative_numbers

__all__ = [
    "KNOWN_SERVEGEN_MODELS",
    "SERVEGEN_BASE_WINDOW_S",
    "SERVEGEN_TOKEN_WINDOW_S",
    "SERVEGEN_DEFAULT_CV",
    "load_servegen_rates",
    "load_servegen_tokens",
    "servegen_rate_shape",
    "servegen_token_shape",
    "resample_rates",
]

KNOWN_SERVEGEN_MODELS = ("deepseek-r1", "m-large", "m-mid", "m-small", "mm-image")
SERVEGEN_BASE_WINDOW_S = 600
SERVEGEN_TOKEN_WINDOW_S = 21_600

#: Default inter-arrival CV per model: the request-weighted median per-client CV quoted in ServeGen's SOURCE.md
#: (about 1.2 for m-large and m-small, 2.0 for m-mid). Not given for deepseek-r1 and mm-image; 1.2 is used.
SERVEGEN_DEFAULT_CV = {"m-large": 1.2, "m-mid": 2.0, "m-small": 1.2, "deepseek-r1": 1.2, "mm-image": 1.2}

_RATE_COLUMNS = {
    "category": "str",
    "model": "model",
    "window_start_s": "int",
    "day": "int",
    "hour_of_day": "int",
    "minute_of_day": "int",
    "requests": "int",
    "rate_rps": "float",
    "active_clients": "int",
    "gap": "bool",
}
_TOKEN_COLUMNS = {
    "category": "str",
    "model": "model",
    "window_start_s": "int",
    "requests_with_distribution": "int",
    **{f"{io}_{s}": "float" for io in ("input", "output") for s in ("mean", "p50", "p90", "p99")},
}
_BOOL = {"true": True, "false": False, "1": True, "0": False}


def _where(path: object, row: int, col: str) -> str:
    return f"{path}: line {row + 2} (data row {row}), column {col!r}"


def _read_table(path: os.PathLike | str, spec: dict[str, str], period: int) -> pd.DataFrame:
    """Read and validate a ServeGen table whose windows start at multiples of ``period`` seconds."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TraceError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise TraceError(f"{path}: empty file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise TraceError(f"{path}: empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: not a readable CSV: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in spec if c not in raw.columns]
    if missing:
        raise TraceError(f"{path}: line 1 (header): missing column(s) {missing}; found {list(raw.columns)}")
    if len(raw) == 0:
        raise TraceError(f"{path}: no data rows (only a header)")

    out = {}
    for col, kind in spec.items():
        s = raw[col].fillna("").str.strip()
        if kind in ("str", "model"):
            bad = (s == "").to_numpy()
            if bad.any():
                r = int(np.argmax(bad))
                raise TraceError(f"{_where(path, r, col)}: empty value")
            if kind == "model":
                bad = ~s.isin(KNOWN_SERVEGEN_MODELS).to_numpy()
                if bad.any():
                    r = int(np.argmax(bad))
                    raise TraceError(
                        f"{_where(path, r, col)}: unknown ServeGen model {s.iloc[r]!r} "
                        f"(known: {', '.join(KNOWN_SERVEGEN_MODELS)})"
                    )
            out[col] = s.astype(object).to_numpy()
        elif kind == "bool":
            mapped = s.str.lower().map(_BOOL)
            bad = mapped.isna().to_numpy()
            if bad.any():
                r = int(np.argmax(bad))
                raise TraceError(f"{_where(path, r, col)}: expected True or False, got {s.iloc[r]!r}")
            out[col] = mapped.to_numpy(dtype=bool)
        else:
            out[col] = nonnegative_numbers(s, lambda r, col=col: _where(path, r, col), integer=kind == "int")
    df = pd.DataFrame(out)

    ws = df["window_start_s"].to_numpy()
    bad = ws % period != 0
    if bad.any():
        r = int(np.argmax(bad))
        raise TraceError(f"{_where(path, r, 'window_start_s')}: {ws[r]} is not a multiple of {period} s")
    # per model: windows 0, period, 2*period, ... each exactly once
    df["_row"] = np.arange(len(df))
    df = df.sort_values(["model", "window_start_s"], kind="stable").reset_index(drop=True)
    pos = df.groupby("model", sort=False).cumcount().to_numpy()
    bad = df["window_start_s"].to_numpy() != pos * period
    if bad.any():
        k = int(np.argmax(bad))
        r = int(df["_row"].iloc[k])
        raise TraceError(
            f"{_where(path, r, 'window_start_s')}: model {df['model'].iloc[k]!r} windows must run 0, {period}, "
            f"{2 * period}, ... without gaps or duplicates; expected {pos[k] * period}, "
            f"found {df['window_start_s'].iloc[k]}"
        )
    if "day" in df.columns:
        bad = df["day"].to_numpy() != df["window_start_s"].to_numpy() // 86_400
        if bad.any():
            k = int(np.argmax(bad))
            raise TraceError(
                f"{_where(path, int(df['_row'].iloc[k]), 'day')}: day {df['day'].iloc[k]} does not match "
                f"window_start_s {df['window_start_s'].iloc[k]}"
            )
    df = df.drop(columns="_row")
    df.attrs["path"] = path
    return df


@functools.lru_cache(maxsize=None)
def _cached(kind: str) -> pd.DataFrame:
    if kind == "rates":
        return _read_table(bundled_path(SERVEGEN_RATES), _RATE_COLUMNS, SERVEGEN_BASE_WINDOW_S)
    return _read_table(bundled_path(SERVEGEN_TOKENS), _TOKEN_COLUMNS, SERVEGEN_TOKEN_WINDOW_S)


def _copy(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.attrs = dict(df.attrs)
    return out


def load_servegen_rates(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The ServeGen 10-minute rate table (default: the bundled one), validated and sorted by model and time.

    Columns: ``category, model, window_start_s, day, hour_of_day, minute_of_day, requests, rate_rps,
    active_clients, gap``. Raises :class:`TraceError` naming file, line and column on a missing column, a
    non-numeric or negative value, an unknown model, a bad ``gap`` flag, or windows that are not 0, 600, 1200, ...
    """
    return _copy(_cached("rates")) if path is None else _read_table(path, _RATE_COLUMNS, SERVEGEN_BASE_WINDOW_S)


def load_servegen_tokens(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The ServeGen 6-hour token table (default: the bundled one), validated and sorted by model and time.

    Columns: ``category, model, window_start_s, requests_with_distribution`` and ``{input,output}_{mean,p50,p90,
    p99}``. Errors as in :func:`load_servegen_rates` (windows must be 0, 21600, 43200, ...).
    """
    return _copy(_cached("tokens")) if path is None else _read_table(path, _TOKEN_COLUMNS, SERVEGEN_TOKEN_WINDOW_S)


def _model_rows(df: pd.DataFrame, model: str, what: str) -> pd.DataFrame:
    sub = df[df["model"] == model]
    if len(sub) == 0:
        known = sorted(set(df["model"]))
        raise TraceError(f"unknown ServeGen model {model!r} in the {what} table (known: {', '.join(known)})")
    return sub.sort_values("window_start_s")


def _ratio(window_s: float, base: float) -> tuple[str, int]:
    """('mult', k) if window_s = k*base, ('div', k) if window_s = base/k, else TraceError."""
    try:
        w = float(window_s)
    except (TypeError, ValueError):
        raise TraceError(f"window_s must be a number, got {window_s!r}") from None
    if not np.isfinite(w) or w <= 0:
        raise TraceError(f"window_s must be > 0, got {window_s!r}")
    k = w / base
    if k >= 1 and abs(k - round(k)) < 1e-9:
        return "mult", int(round(k))
    k = base / w
    if abs(k - round(k)) < 1e-9:
        return "div", int(round(k))
    raise TraceError(
        f"window_s={window_s:g} cannot be resampled from {base:g}-s windows: use a multiple of {base:g} "
        f"(e.g. {2 * base:g}, {6 * base:g}) or a divisor of it (e.g. {base / 2:g}, {base / 10:g})"
    )


def resample_rates(
    rate: np.ndarray, filled: np.ndarray, window_s: float, base_s: float = SERVEGEN_BASE_WINDOW_S
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a rate series on ``base_s`` windows to ``window_s`` windows (rules in the module docstring)."""
    rate = np.asarray(rate, dtype=np.float64)
    filled = np.asarray(filled, dtype=bool)
    mode, k = _ratio(window_s, base_s)
    if k == 1:
        return rate.copy(), filled.copy()
    if mode == "mult":
        n = rate.size // k
        if n == 0:
            raise TraceError(
                f"window_s={window_s:g}: the series ({rate.size} x {base_s:g} s) is shorter than one window"
            )
        return rate[: n * k].reshape(n, k).mean(axis=1), filled[: n * k].reshape(n, k).any(axis=1)
    n = rate.size * k
    x = (np.arange(n) + 0.5) / k - 0.5  # sub-window centres in units of base windows, base centres at 0, 1, ...
    out = np.interp(x, np.arange(rate.size, dtype=np.float64), rate)
    lo = np.clip(np.floor(x).astype(np.int64), 0, rate.size - 1)
    hi = np.clip(np.ceil(x).astype(np.int64), 0, rate.size - 1)
    return out, filled[lo] | filled[hi]


def servegen_rate_shape(
    model: str, window_s: float = SERVEGEN_BASE_WINDOW_S, rates: pd.DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window request rate (req/s, real levels) of a ServeGen model, gaps filled, resampled to ``window_s``.

    Args:
        model: ``m-large``, ``m-mid``, ``m-small`` (14 days) or ``deepseek-r1``, ``mm-image`` (1 day).
        window_s: window length; a multiple or a divisor of 600 s (see the module docstring).
        rates: a table from :func:`load_servegen_rates` (default: the bundled one).

    Returns:
        ``(rate, filled)``: float64 rates and a bool mask of the windows whose value was interpolated over a
        data gap, both of length ``span / window_s``, window 0 starting at 00:00 of day 0.
    """
    df = load_servegen_rates() if rates is None else rates
    sub = _model_rows(df, model, "rate")
    r = sub["rate_rps"].to_numpy(dtype=np.float64)
    gap = sub["gap"].to_numpy(dtype=bool)
    if gap.all():
        raise TraceError(f"ServeGen model {model!r}: every window is a gap; nothing to interpolate from")
    if gap.any():
        centres = sub["window_start_s"].to_numpy(dtype=np.float64) + SERVEGEN_BASE_WINDOW_S / 2
        r = r.copy()
        r[gap] = np.interp(centres[gap], centres[~gap], r[~gap])
    return resample_rates(r, gap, window_s)


def servegen_token_shape(
    model: str,
    window_s: float = SERVEGEN_BASE_WINDOW_S,
    tokens: pd.DataFrame | None = None,
    rates: pd.DataFrame | None = None,
    stat: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window input and output tokens of a ServeGen model on ``window_s`` windows.

    Each 6-h value (``stat``: ``mean`` by default, or ``p50`` / ``p90`` / ``p99``) is held constant over the
    windows that start inside its 6-h block. A window longer than 600 s that straddles two blocks (e.g. 8-h or
    12-h windows) gets the mean of its 600-s values weighted by the model's own (gap-filled) request rate, i.e.
    a per-request mean. Returns ``(input_tokens, output_tokens)`` covering the rate table's span.
    """
    if stat not in ("mean", "p50", "p90", "p99"):
        raise TraceError(f"unknown token statistic {stat!r} (known: mean, p50, p90, p99)")
    tdf = load_servegen_tokens() if tokens is None else tokens
    sub = _model_rows(tdf, model, "token")
    base_rate, _ = servegen_rate_shape(model, SERVEGEN_BASE_WINDOW_S, rates)
    n_base = base_rate.size
    block = (np.arange(n_base) * SERVEGEN_BASE_WINDOW_S) // SERVEGEN_TOKEN_WINDOW_S
    if block[-1] >= len(sub):
        raise TraceError(
            f"ServeGen model {model!r}: the token table covers {len(sub)} x 6 h but the rate table spans "
            f"{n_base * SERVEGEN_BASE_WINDOW_S / 3600:g} h"
        )
    res = []
    mode, k = _ratio(window_s, SERVEGEN_BASE_WINDOW_S)
    for io in ("input", "output"):
        per_block = sub[f"{io}_{stat}"].to_numpy(dtype=np.float64)
        base = per_block[block]
        if mode == "div":
            res.append(np.repeat(base, k))
        else:
            n = n_base // k
            w = base_rate[: n * k].reshape(n, k)
            v = base[: n * k].reshape(n, k)
            wsum = w.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                weighted = (w * v).sum(axis=1) / wsum
            straddles = ~(v == v[:, :1]).all(axis=1)  # only windows spanning two 6-h blocks need weighting
            res.append(np.where(~straddles, v[:, 0], np.where(wsum > 0, weighted, v.mean(axis=1))))
    return res[0], res[1]
