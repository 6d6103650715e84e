"""The one exception type of :mod:`hetserve_env.traces`."""

from __future__ import annotations

__all__ = ["TraceError"]


class TraceError(ValueError):
    """A malformed trace file, demand table, demand specification or demand series.

    The message always names where the problem is: a file with its line (or data row) and column, a
    specification path such as ``query_types[2].demand.rate.model``, or a :class:`DemandSeries` field.
    It subclasses :class:`ValueError`, so ``except ValueError`` also catches it.
    """
