"""The one exception type of :mod:`hetserve_env.traces`, and the column check that raises it for numbers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["TraceError", "nonnegative_numbers"]


class TraceError(ValueError):
    """A malformed trace file, demand table, demand specification or demand series.

    The message always names where the problem is: a file with its line (or data row) and column, a
    specification path such as ``query_types[2].demand.rate.model``, or a :class:`DemandSeries` field.
    It subclasses :class:`ValueError`, so ``except ValueError`` also catches it.
    """


def nonnegative_numbers(s: pd.Series, where: Callable[[int], str], *, integer: bool, noun: str = "",
                        hi: float | None = None) -> np.ndarray:
    """A text column of a trace file as non-negative floats (or int64 when ``integer``).

    The first offending row raises :class:`TraceError` with ``where(row)`` (file, line, column) and the
    value: not a number, negative, above ``hi``, or (``integer``) not whole. ``noun`` names the quantity in
    the message.
    """
    vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    label = f"{noun} " if noun else ""
    for bad, problem in ((~np.isfinite(vals), "{label}{v!r} is not a number"),
                         (vals < 0, "negative {noun} {v!r}"),
                         (None if hi is None else vals > hi, "{label}{v!r} is above the largest allowed, %g" % (hi or 0)),
                         (vals != np.round(vals) if integer else None, "{label}{v!r} is not an integer")):
        if bad is not None and bad.any():
            r = int(np.argmax(bad))
            raise TraceError(f"{where(r)}: " + problem.format(label=label, noun=noun or "value", v=s.iloc[r]))
    return vals.astype(np.int64) if integer else vals
