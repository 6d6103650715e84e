"""Summary tables of the experiments and the number formatting they share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

Progress = Callable[[str], None] | None


@dataclass
class Table:
    """A summary table: ``columns`` and ``rows`` (lists of cells, already formatted or numbers)."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in self.rows]
        return "\n".join(lines) + "\n"

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def fmt(v: float, spec: str = ".2f", suffix: str = "") -> str:
    """Format a number (``—`` for nan/None)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:{spec}}{suffix}"


def mean_finite(values: Iterable[float]) -> float:
    """The mean of the finite values (nan if there are none): table cells skip runs without a result."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else float("nan")


def say(progress: Progress, msg: str) -> None:
    if progress is not None:
        progress(msg)


__all__ = ["Progress", "Table", "fmt", "mean_finite", "say"]
