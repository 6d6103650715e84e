"""Azure LLM inference traces (per-request arrivals and token counts).

Accepted format (the published one): a CSV with header ``TIMESTAMP,ContextTokens,GeneratedTokens``, one request
per row.

* Azure 2023 (bundled, one hour): ``2023-11-16 18:17:03.9799600`` (7 fractional digits, no time zone), CRLF line
  endings, no newline after the last row.
* Azure 2024 one-week traces: the same columns with UTC timestamps ``2024-05-10 00:00:00.017000+00:00``.
* Any CSV whose ``TIMESTAMP`` column holds plain numbers is read as seconds (e.g. BurstGPT-like logs); other
  column names can be mapped with ``columns=``. A numeric timestamp of 1e11 or more (epoch milliseconds,
  microseconds or nanoseconds) is an error: convert it to seconds first.
* Token counts are whole numbers in ``[0, 1e9]`` (:data:`hetserve_env.rules.MAX_TOKENS`); larger ones (which
  would wrap around in int64) are an error naming the line.

Naive timestamps are taken as UTC. Rows need not be sorted (they are sorted stably by time).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .bundle import AZURE_TRACES, bundled_path
from ..rules import MAX_TOKENS
from .errors import TraceError, nonnegative_numbers

__all__ = ["load_azure_trace", "azure_windows", "load_bundled_azure", "AZURE_COLUMNS"]

AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
_LAST_WINDOW_TOLERANCE = 0.01  # a trailing window covered >= 99 % counts as complete
#: Numeric timestamps are seconds; 1e11 s is the year 5138, so a larger value is epoch ms / µs / ns (windowing
#: epoch nanoseconds as seconds would allocate tens of GiB).
_MAX_NUMERIC_TIMESTAMP = 1e11


def _line(row: int) -> str:
    # data row 0 is line 2 of the file (line 1 is the header)
    return f"line {row + 2} (data row {row})"


def load_azure_trace(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read an Azure-format LLM inference trace.

    Args:
        path: CSV file in the Azure format (see the module docstring).
        columns: optional renaming from the Azure names to the file's names, e.g.
            ``{"TIMESTAMP": "Timestamp", "ContextTokens": "Request tokens", "GeneratedTokens": "Response tokens"}``.

    Returns:
        DataFrame sorted by arrival with columns ``t_s`` (float seconds since the first request),
        ``input_tokens`` and ``output_tokens`` (int64). ``df.attrs`` holds ``path``, ``start`` (the first
        timestamp, a UTC ``pd.Timestamp``, or None for numeric timestamps) and ``span_s``.

    Raises:
        TraceError: empty file, no data rows, a missing column, an unparsable timestamp, or a missing,
            non-integer or negative token count; the message names the file, the line / data row and the column.
    """
    path = Path(path)
    names = {c: c for c in AZURE_COLUMNS}
    if columns:
        unknown = sorted(set(columns) - set(AZURE_COLUMNS))
        if unknown:
            raise TraceError(f"load_azure_trace: columns= has unknown keys {unknown} (known: {list(AZURE_COLUMNS)})")
        names.update(columns)
    raw = _read_raw(path, names)
    secs, start = _seconds(path, raw, names["TIMESTAMP"])
    tokens = _token_columns(path, raw, names)

    order = np.argsort(secs, kind="stable")
    t_s = secs[order]
    t_s = t_s - t_s[0]
    df = pd.DataFrame(
        {"t_s": t_s, "input_tokens": tokens["input_tokens"][order], "output_tokens": tokens["output_tokens"][order]}
    )
    df.attrs.update({"path": str(path), "start": start, "span_s": float(t_s[-1])})
    return df


def _read_raw(path: Path, names: Mapping[str, str]) -> pd.DataFrame:
    """The CSV as read (timestamps as text), with every expected column present and at least one data row."""
    if not path.is_file():
        raise TraceError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise TraceError(f"{path}: empty file (expected a header {','.join(names[c] for c in AZURE_COLUMNS)})")
    try:
        # token columns are parsed natively (fast for multi-million-row traces); only a column that is not
        # all integers is re-read as text below to say which row is wrong
        raw = pd.read_csv(path, dtype={names["TIMESTAMP"]: str}, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise TraceError(f"{path}: empty file (no header line)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: not a readable CSV: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [names[c] for c in AZURE_COLUMNS if names[c] not in raw.columns]
    if missing:
        raise TraceError(
            f"{path}: line 1 (header): missing column(s) {missing}; found {list(raw.columns)} "
            f"(expected {','.join(names[c] for c in AZURE_COLUMNS)})"
        )
    if len(raw) == 0:
        raise TraceError(f"{path}: no data rows (only a header)")
    return raw


def _seconds(path: Path, raw: pd.DataFrame, ts_col: str) -> tuple[np.ndarray, pd.Timestamp | None]:
    """Arrival times in seconds (as given, or since the first date-time) and the first date-time (None when numeric)."""
    ts_str = raw[ts_col].astype(str).str.strip()
    try:  # the first row decides: plain numbers are seconds, anything else a date-time
        float(ts_str.iloc[0])
        numeric = True
    except ValueError:
        numeric = False
    if numeric:
        secs = pd.to_numeric(ts_str, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(secs)
        if bad.any():
            r = int(np.argmax(bad))
            raise TraceError(
                f"{path}: {_line(r)}, column {ts_col!r}: timestamp {ts_str.iloc[r]!r} is not a number of seconds "
                "(the first row is, so the column is read as seconds)"
            )
        big = np.abs(secs) >= _MAX_NUMERIC_TIMESTAMP
        if big.any():
            r = int(np.argmax(big))
            raise TraceError(
                f"{path}: {_line(r)}, column {ts_col!r}: timestamp {ts_str.iloc[r]!r} read as seconds is after the "
                f"year 5000 (allowed: below {_MAX_NUMERIC_TIMESTAMP:.0e} s); numeric timestamps must be seconds - "
                "epoch milliseconds, microseconds or nanoseconds must be divided by 1e3, 1e6 or 1e9 first"
            )
        return secs, None
    ts = pd.to_datetime(ts_str, format="ISO8601", utc=True, errors="coerce")
    bad = ts.isna().to_numpy()
    if bad.any():
        r = int(np.argmax(bad))
        raise TraceError(
            f"{path}: {_line(r)}, column {ts_col!r}: cannot parse timestamp {ts_str.iloc[r]!r} "
            "(expected e.g. '2023-11-16 18:17:03.9799600' or '2024-05-10 00:00:00.017000+00:00', or seconds)"
        )
    start = ts.min()
    return (ts - start).dt.total_seconds().to_numpy(dtype=np.float64), start


def _token_columns(path: Path, raw: pd.DataFrame, names: Mapping[str, str]) -> dict[str, np.ndarray]:
    """``input_tokens`` and ``output_tokens`` as int64, every row checked (a bad count's error names its row)."""
    tokens = {}
    for key, out in (("ContextTokens", "input_tokens"), ("GeneratedTokens", "output_tokens")):
        col = names[key]
        vals = raw[col].to_numpy()
        if pd.api.types.is_integer_dtype(raw[col].dtype) and (vals >= 0).all() and (vals <= MAX_TOKENS).all():
            tokens[out] = raw[col].to_numpy(dtype=np.int64)
            continue
        s = raw[col].astype(str).str.strip()
        tokens[out] = nonnegative_numbers(s, lambda r, col=col: f"{path}: {_line(r)}, column {col!r}", integer=True,
                                          noun="token count", hi=MAX_TOKENS)
    return tokens


def azure_windows(df: pd.DataFrame, window_s: float, partial: bool = False) -> pd.DataFrame:
    """Aggregate a trace from :func:`load_azure_trace` into consecutive windows starting at the first request.

    Window ``k`` covers ``[k * window_s, (k + 1) * window_s)`` seconds after the first request. Only complete
    windows are kept: the trailing window that the trace's last request falls in is dropped (its rate would be
    biased low) unless the trace covers at least 99 % of it (so a one-week trace whose last request is a moment
    before the week ends keeps its last window) or ``partial=True``; its rate is always requests / ``window_s``.

    Returns:
        DataFrame indexed by ``window`` with columns ``t_start_s``, ``rate_rps`` (requests / window_s),
        ``input_mean``, ``output_mean`` (NaN for an empty window), ``cv_interarrival`` (std / mean of the gaps
        between consecutive requests inside the window, sample std; NaN with fewer than 2 gaps or a zero mean
        gap) and ``n_requests``.

    Raises:
        TraceError: missing columns, ``window_s <= 0``, or a trace shorter than one window.
    """
    for c in ("t_s", "input_tokens", "output_tokens"):
        if c not in df.columns:
            raise TraceError(f"azure_windows: missing column {c!r} (use load_azure_trace to read the file)")
    try:
        window_s = float(window_s)
    except (TypeError, ValueError):
        raise TraceError(f"azure_windows: window_s must be a number, got {window_s!r}") from None
    if not np.isfinite(window_s) or window_s <= 0:
        raise TraceError(f"azure_windows: window_s must be > 0, got {window_s!r}")
    t = np.sort(df["t_s"].to_numpy(dtype=np.float64)) if len(df) else np.empty(0)
    if t.size == 0:
        raise TraceError("azure_windows: the trace has no requests")
    t = t - t[0]
    order = np.argsort(df["t_s"].to_numpy(dtype=np.float64), kind="stable")
    span = float(t[-1])
    n_full = int(np.floor(span / window_s + _LAST_WINDOW_TOLERANCE))
    n = int(np.floor(span / window_s)) + 1 if partial else n_full
    if n == 0:
        src = df.attrs.get("path", "trace")
        raise TraceError(f"azure_windows: {src} spans {span:.1f} s, shorter than one window of {window_s:g} s")
    k = np.floor(t / window_s).astype(np.int64)
    keep = k < n
    k = k[keep]
    inp = df["input_tokens"].to_numpy(dtype=np.float64)[order][keep]
    out = df["output_tokens"].to_numpy(dtype=np.float64)[order][keep]
    tk = t[keep]
    count = np.bincount(k, minlength=n).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        input_mean = np.bincount(k, weights=inp, minlength=n) / count
        output_mean = np.bincount(k, weights=out, minlength=n) / count
    # inter-arrival gaps inside each window (consecutive requests that share a window)
    gaps = np.diff(tk)
    same = k[1:] == k[:-1]
    gk, g = k[1:][same], gaps[same]
    gn = np.bincount(gk, minlength=n).astype(np.float64)
    gsum = np.bincount(gk, weights=g, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        gmean = gsum / gn
        dev2 = np.bincount(gk, weights=(g - gmean[gk]) ** 2, minlength=n)
        gstd = np.sqrt(dev2 / (gn - 1))
        cv = np.where((gn >= 2) & (gmean > 0), gstd / gmean, np.nan)
    out_df = pd.DataFrame(
        {
            "t_start_s": np.arange(n, dtype=np.float64) * window_s,
            "rate_rps": count / window_s,
            "input_mean": input_mean,
            "output_mean": output_mean,
            "cv_interarrival": cv,
            "n_requests": count.astype(np.int64),
        },
        index=pd.RangeIndex(n, name="window"),
    )
    out_df.attrs.update(df.attrs)
    return out_df


@functools.lru_cache(maxsize=None)
def _bundled(trace: str) -> pd.DataFrame:
    return load_azure_trace(bundled_path(AZURE_TRACES[trace]))


def load_bundled_azure(trace: str) -> pd.DataFrame:
    """The bundled Azure 2023 trace ``'code'`` or ``'conv'`` (read once per process, a copy is returned)."""
    if trace not in AZURE_TRACES:
        raise TraceError(f"unknown bundled Azure trace {trace!r} (known: {', '.join(AZURE_TRACES)})")
    df = _bundled(trace)
    out = df.copy()
    out.attrs = dict(df.attrs)
    return out
