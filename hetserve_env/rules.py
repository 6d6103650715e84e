"""One set of value rules for every number a Problem, a Scenario or the environment takes.

A rule is a range (open or closed ends), whether the value must be a whole number, and whether ``inf`` is
allowed (it means "no limit" for a budget or a storage capacity, nothing else). :class:`Problem` checks its
arrays and scalars with :data:`PROBLEM_RULES`; :class:`Scenario` checks each YAML field with the rule of the
Problem field it becomes, so a value a scenario rejects is also rejected when a Problem is built in code or
read from JSON. Every failure raises the caller's error type with the field, the value and the allowed range,
e.g. ``query_types[0].error_slo: must be in (0, 1], got 5``.

Upper bounds keep every $/h term finite in float64: a rate (≤ 1e9 req/s) times 3600 s times a price
(≤ 1e6 $) times a latency (≤ 1e6 s) is below 1e25, far from overflow, and far beyond any real fleet.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

#: Largest price or penalty ($ per request, $ per request-second, $/h per replica, $/GB-h).
MAX_PRICE = 1e6
#: Largest arrival rate or capacity (requests/s).
MAX_RATE = 1e9
#: Largest mean token count per request (also per request in a trace file).
MAX_TOKENS = 1e9
#: Largest latency, SLO or window length (s).
MAX_SECONDS = 1e6
#: Largest count of GPUs (inventory, GPUs per replica) and of weight size or storage (GB).
MAX_COUNT = 1e9
#: Largest σ of the environment's log-normal demand noise: exp(σ·z) overflows float64 for σ·|z| > 709
#: (σ ≈ 80 at the largest normal draws, and rewards turn NaN); 10 already spreads rates over e^±40.
MAX_NOISE = 10.0


@dataclass(frozen=True)
class Rule:
    """Allowed values of one field: ``lo``..``hi`` (open ends when ``lo_open``/``hi_open``)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    inf_ok: bool = False  # +inf allowed (meaning: no limit)

    def describe(self, noun: bool = False) -> str:
        """The allowed range, e.g. ``in (0, 1]`` or ``an integer in [1, inf)`` (``noun``: ``a number in ...``)."""
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        rng = f"{'(' if self.lo_open or self.lo is None else '['}{lo}, {hi}{')' if self.hi_open or self.hi is None else ']'}"
        kind = "an integer " if self.integer else ("a number " if noun else "")
        return f"{kind}in {rng}" + (" or inf (no limit)" if self.inf_ok else "")

    def ok(self, v: np.ndarray) -> np.ndarray:
        """Element-wise: does ``v`` (float array) obey the rule?"""
        good = np.isfinite(v)
        if self.inf_ok:
            good |= v == np.inf
        with np.errstate(invalid="ignore"):
            if self.lo is not None:
                good &= (v > self.lo) if self.lo_open else (v >= self.lo)
            if self.hi is not None:
                good &= ((v < self.hi) if self.hi_open else (v <= self.hi)) | (self.inf_ok & (v == np.inf))
            if self.integer:
                good &= (v == np.round(v)) | (self.inf_ok & (v == np.inf))
        return good


def _r(lo=None, hi=None, **kw) -> Rule:
    return Rule(lo, hi, **kw)


#: Rule of every numeric field of :class:`hetserve_env.problem.Problem` (arrays element-wise).
PROBLEM_RULES: dict[str, Rule] = {
    "rate": _r(0, MAX_RATE),
    "input_tokens": _r(0, MAX_TOKENS),
    "output_tokens": _r(0, MAX_TOKENS),
    "delay_slo": _r(0, MAX_SECONDS, lo_open=True),
    "error_slo": _r(0, 1, lo_open=True),
    "max_unmet": _r(0, 1),
    "unmet_penalty": _r(0, MAX_PRICE),
    "delay_penalty": _r(0, MAX_PRICE),
    "error_penalty": _r(0, MAX_PRICE),
    "template_gpu": _r(0, None, integer=True),  # and < number of GPU types
    "template_artifact": _r(0, None, integer=True),  # and < number of artifacts
    "gpus": _r(1, MAX_COUNT, integer=True),
    "cost": _r(0, MAX_PRICE),
    "capacity": _r(0, MAX_RATE),
    "latency": _r(0, MAX_SECONDS),
    "error": _r(0, 1),
    "load_slope": _r(0, 1, hi_open=True),
    "inventory": _r(0, MAX_COUNT, integer=True),
    "artifact_gb": _r(0, MAX_COUNT),
    "budget": _r(0, None, lo_open=True, inf_ok=True),
    "storage_gb": _r(0, None, inf_ok=True),
    "storage_cost": _r(0, MAX_PRICE),
    "window_s": _r(0, MAX_SECONDS, lo_open=True),
}


#: Numeric constructor arguments of :class:`hetserve_env.env.HetServeEnv` (``episode_days`` is checked
#: against the number of days of the chosen split).
ENV_RULES: dict[str, Rule] = {
    "noise": _r(0, MAX_NOISE),
    "clip_penalty": _r(0, MAX_PRICE),
    "max_replicas": _r(1, MAX_COUNT, integer=True),
}


def bad_value(error: type[Exception], where: str, value: Any, rule: Rule) -> Exception:
    return error(f"{where}: must be {rule.describe()}, got {value!r}")


def check_array(error: type[Exception], where: str, value: Any, rule: Rule, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a float array obeying ``rule`` (the first offending entry is named with its index)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise error(f"{where}: expected numbers, got {value!r}") from None
    if shape is not None and arr.shape != shape:
        raise error(f"{where} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind == "b" or np.asarray(value).dtype.kind == "b":
        raise error(f"{where}: expected numbers, got booleans")
    good = rule.ok(arr)
    if not good.all():
        idx = np.argwhere(~good)[0]
        v = float(arr[tuple(idx)]) if arr.ndim else float(arr)
        at = f" at index {idx.tolist()}" if arr.ndim else ""
        sign = " (negative)" if v < 0 and rule.lo is not None and rule.lo >= 0 else ""
        raise error(f"{where}: must be {rule.describe()}, got {v!r}{sign}{at}")
    return arr


def check_number(error: type[Exception], where: str, value: Any, rule: Rule) -> float:
    """``value`` as a float obeying ``rule``; a bool, a non-number or NaN raises ``error`` naming ``where``."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise error(f"{where}: expected {rule.describe(noun=True)}, got {value!r}")
    try:
        v = float(value)  # YAML 1.1 reads '1e3' as a string; a numeric string is accepted
    except (TypeError, ValueError, OverflowError):
        raise error(f"{where}: expected {rule.describe(noun=True)}, got {value!r}") from None
    if not bool(rule.ok(np.asarray(v))):
        raise bad_value(error, where, value, rule)
    return v


def check_int(error: type[Exception], where: str, value: Any, rule: Rule) -> int:
    """``value`` as an int obeying ``rule`` (which must say ``integer``); 7.0 is 7, 1.7 and True are errors."""
    v = check_number(error, where, value, rule)
    if not math.isfinite(v):
        raise bad_value(error, where, value, rule)
    return int(v)


def check_choice(error: type[Exception], where: str, value: Any, allowed: Iterable[str]) -> str:
    """``value`` if it is one of the names ``allowed``; otherwise ``error`` naming ``where``, the value and the
    allowed names."""
    names = list(allowed)
    if not isinstance(value, str) or value not in names:
        raise error(f"{where}: must be one of {names}, got {value!r}")
    return value


def check_unique(error: type[Exception], where: str, names: Iterable[Any]) -> tuple[str, ...]:
    """``names`` as a tuple of non-empty, distinct strings."""
    out = tuple(names)
    for n in out:
        if not isinstance(n, str) or not n:
            raise error(f"{where}: every name must be a non-empty string, got {n!r}")
    if len(set(out)) != len(out):
        dup = sorted({n for n in out if out.count(n) > 1})
        raise error(f"{where}: duplicate names {dup}")
    return out


def read_json_object(text_or_path: Any, kind: str, what: str) -> tuple[dict, str]:
    """(the JSON object, its source name) of a ``kind`` record (e.g. ``"hetserve.Problem"``) given as JSON text or
    a file path; a ValueError names the file (or ``what``) for broken JSON, a non-object or another kind."""
    s = str(text_or_path)
    inline = s.lstrip().startswith(("{", "["))
    src = f"{what} JSON" if inline else s
    try:
        data = json.loads(s if inline else Path(s).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{src}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{src}: the top level must be an object of {what} fields, got a {type(data).__name__}")
    if data.get("kind", kind) != kind:
        raise ValueError(f"{src}: holds a {data.get('kind')!r}, not a {kind}")
    return data, src
