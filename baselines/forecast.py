"""Demand forecasters with one interface: ``forecaster(history, horizon) -> (horizon, I)`` rates (req/s).

``history`` is a ``(t, I)`` array of the demand observed so far, oldest first, one row per window, the last row
the most recent window; the forecast's row ``h`` is the window ``h + 1`` steps after it. Every forecaster has a
``name`` (tables, plots) and ``params()`` (what it was set up with), and is a pure function of its arguments, so
the same call gives the same forecast in calibration, in the env policies and in a receding-horizon planner.

**What a policy may see** (the rule every planner of ``baselines/`` follows): the scenario's demand series of
every window *before* the episode (the training and validation days, and for a test day the days before it —
yesterday is the past), then the realised demand of the episode's windows already played. Never a window of
the episode that has not been played (the test day's future). With env noise the days before the episode are
the series' recorded values; the episode's own windows are the realised (noisy) ones. Planner settings
(forecaster parameters, headroom) are chosen on training/validation days only (``baselines/forecast_planner.py``).

Forecasters (``period`` = windows per day, e.g. 144 for 10-minute windows):

* :class:`LastValue` — the last observed window, every step ahead (what the reactive planners use);
* :class:`SeasonalNaive` — the same window yesterday (``y[t + h - period]``);
* :class:`SeasonalMax` — ``max(last observed, same window yesterday)`` per type: never below the current level,
  and it rises ahead of the daily ramp when yesterday did;
* :class:`HoltWinters` — additive Holt-Winters (level, damped trend, additive daily seasonality) in numpy;
  :meth:`HoltWinters.fit` picks its smoothing parameters by one-step squared error on a series the caller
  allows (training days). No new dependency: at one-step horizons on 10-minute windows a grid search over the
  three smoothing constants is enough, and statsforecast would add numba-compiled ETS for no planner-relevant
  gain.

Forecasts are rates, so they are floored at 0 (an additive model can dip below 0 at night; documented, not an
error). Bad input (not 2-D, non-finite, negative, too short for the seasonal period) raises ``ValueError``
naming the argument.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

#: smoothing constants searched by :meth:`HoltWinters.fit`
ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
BETAS = (0.0, 0.01, 0.05)
GAMMAS = (0.01, 0.05, 0.1, 0.2, 0.4)


@runtime_checkable
class Forecaster(Protocol):
    """``forecaster(history (t, I), horizon) -> (horizon, I)``; ``name``; ``params()``."""

    name: str

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray: ...

    def params(self) -> dict[str, Any]: ...


def check_history(history: Any, min_rows: int = 1, what: str = "history") -> np.ndarray:
    """``history`` as a (t, I) float64 array: 2-D, finite, >= 0, at least ``min_rows`` rows; else ValueError."""
    h = np.asarray(history, dtype=np.float64)
    if h.ndim != 2 or h.shape[1] < 1:
        raise ValueError(f"{what} must be a 2-D array (windows, types), got shape {h.shape}")
    if h.shape[0] < min_rows:
        raise ValueError(f"{what} has {h.shape[0]} window(s); this forecaster needs at least {min_rows}")
    if not np.isfinite(h).all():
        t, i = np.argwhere(~np.isfinite(h))[0]
        raise ValueError(f"{what}[{t}, {i}] is {h[t, i]!r}; rates must be finite")
    if (h < 0).any():
        t, i = np.argwhere(h < 0)[0]
        raise ValueError(f"{what}[{t}, {i}] = {h[t, i]!r}; rates must be >= 0")
    return h


def check_horizon(horizon: Any) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or int(horizon) < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    return int(horizon)


def check_period(period: Any) -> int:
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or int(period) < 1:
        raise ValueError(f"period must be an integer >= 1 (windows per day), got {period!r}")
    return int(period)


@dataclass(frozen=True)
class LastValue:
    """The last observed window, repeated: the reactive planners' estimate."""

    name: str = "last"

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        h = check_history(history)
        return np.repeat(h[-1:], check_horizon(horizon), axis=0)

    def params(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class SeasonalNaive:
    """The same window one ``period`` earlier (yesterday): ``y[t + h - period]``, h = 1..horizon."""

    period: int
    name: str = "seasonal-naive"

    def __post_init__(self) -> None:
        check_period(self.period)

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        h, n = check_history(history, self.period), check_horizon(horizon)
        return _seasonal(h, self.period, n)

    def params(self) -> dict[str, Any]:
        return {"period": self.period}


@dataclass(frozen=True)
class SeasonalMax:
    """``max(last observed window, same window yesterday)`` per type and step ahead."""

    period: int
    name: str = "seasonal-max"

    def __post_init__(self) -> None:
        check_period(self.period)

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        h, n = check_history(history, self.period), check_horizon(horizon)
        return np.maximum(_seasonal(h, self.period, n), h[-1][None, :])

    def params(self) -> dict[str, Any]:
        return {"period": self.period}


def _seasonal(h: np.ndarray, period: int, n: int) -> np.ndarray:
    """Rows ``t + k - period`` (k = 1..n) of h (t = len(h) - 1), wrapping by whole periods past the end."""
    t = h.shape[0] - 1
    idx = t + np.arange(1, n + 1) - period
    idx = np.where(idx > t, idx - period * ((idx - t + period - 1) // period), idx)
    return h[idx].copy()


@dataclass(frozen=True)
class HoltWinters:
    """Additive Holt-Winters with a damped trend and additive seasonality of ``period`` windows.

    Each call initialises on the first two seasons of the last ``fit_days`` periods of ``history`` (level = mean
    of season 1, trend = difference of the seasons' means / period, seasonal = season 1 − level) and runs the
    recursion over the rest, so it needs at least ``2 · period`` windows; the forecast ``h`` steps ahead is
    ``level + (φ + … + φ^h)·trend + seasonal[t + h − period]``, floored at 0."""

    period: int
    alpha: float = 0.3
    beta: float = 0.01
    gamma: float = 0.1
    phi: float = 0.98
    fit_days: int = 7
    name: str = "holt-winters"

    def __post_init__(self) -> None:
        check_period(self.period)
        for k in ("alpha", "beta", "gamma", "phi"):
            v = getattr(self, k)
            if not (isinstance(v, (int, float, np.floating)) and 0.0 <= float(v) <= 1.0):
                raise ValueError(f"HoltWinters.{k} must be in [0, 1], got {v!r}")
        if isinstance(self.fit_days, bool) or not isinstance(self.fit_days, (int, np.integer)) or self.fit_days < 2:
            raise ValueError(f"HoltWinters.fit_days must be an integer >= 2, got {self.fit_days!r}")

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        m = self.period
        h, n = check_history(history, 2 * m), check_horizon(horizon)
        y = h[-self.fit_days * m:]
        level, trend, season, _ = _hw_filter(y[:, None, :], m, *(np.array([[v]]) for v in
                                                                  (self.alpha, self.beta, self.gamma, self.phi)))
        damp = np.cumsum(self.phi ** np.arange(1, n + 1))
        t = y.shape[0]
        s_idx = (t + np.arange(n)) % m  # season slot of the windows after y (the ring is indexed by t mod m)
        out = level[0][None, :] + damp[:, None] * trend[0][None, :] + season[s_idx, 0, :]
        return np.maximum(out, 0.0)

    def params(self) -> dict[str, Any]:
        return {"period": self.period, "alpha": self.alpha, "beta": self.beta, "gamma": self.gamma,
                "phi": self.phi, "fit_days": self.fit_days}

    @classmethod
    def fit(cls, series: np.ndarray, period: int, *, phi: float = 0.98, fit_days: int = 7,
            alphas: Sequence[float] = ALPHAS, betas: Sequence[float] = BETAS,
            gammas: Sequence[float] = GAMMAS) -> "HoltWinters":
        """The grid point with the least one-step squared error on ``series`` (each type's error divided by its
        mean rate, so every type counts alike), all combinations filtered at once. ``series`` must be days the
        caller may use for fitting (training days), at least three periods long."""
        m = check_period(period)
        y = check_history(series, 3 * m, what="series")
        grid = np.array(list(itertools.product(alphas, betas, gammas)), dtype=np.float64)
        C = len(grid)
        col = lambda k: np.full((C, 1), 1.0) * grid[:, k:k + 1]  # noqa: E731
        _, _, _, sse = _hw_filter(np.repeat(y[:, None, :], C, axis=1), m, col(0), col(1), col(2),
                                  np.full((C, 1), float(phi)), score_from=m)
        scale = np.maximum(y.mean(axis=0), 1e-12) ** 2
        best = int(np.argmin((sse / scale[None, :]).sum(axis=1)))
        a, b, g = (float(v) for v in grid[best])
        return cls(period=m, alpha=a, beta=b, gamma=g, phi=float(phi), fit_days=int(fit_days))


def _hw_filter(y: np.ndarray, m: int, alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray, phi: np.ndarray,
               score_from: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the additive damped Holt-Winters recursion over ``y`` (T, C, I) for C parameter sets ((C, 1) each).

    Returns the final level (C, I), trend (C, I), the seasonal ring (m, C, I) indexed by window mod m, and the
    sum of squared one-step errors from window ``score_from`` on (C, I; zeros if None)."""
    T = y.shape[0]
    level = y[:m].mean(axis=0)
    trend = (y[m:2 * m].mean(axis=0) - level) / m if T >= 2 * m else np.zeros_like(level)
    season = (y[:m] - level[None]).copy()  # slot k holds the seasonal of windows ≡ k (mod m)
    sse = np.zeros_like(level)
    for t in range(m, T):
        k = t % m
        pred = level + phi * trend + season[k]
        if score_from is not None and t >= score_from:
            sse += (y[t] - pred) ** 2
        new_level = alpha * (y[t] - season[k]) + (1.0 - alpha) * (level + phi * trend)
        trend = beta * (new_level - level) + (1.0 - beta) * phi * trend
        season[k] = gamma * (y[t] - new_level) + (1.0 - gamma) * season[k]
        level = new_level
    return level, trend, season, sse


def one_step_forecasts(forecaster: Forecaster, series: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The forecast of each window ``t`` in ``start..stop-1`` from ``series[:t]`` alone ((stop − start, I)):
    exactly what a planner deciding window ``t`` would have been told."""
    s = check_history(series, what="series")
    if not 1 <= start <= stop <= s.shape[0]:
        raise ValueError(f"one_step_forecasts: need 1 <= start <= stop <= {s.shape[0]}, got {start}, {stop}")
    out = np.empty((stop - start, s.shape[1]))
    for k, t in enumerate(range(start, stop)):
        out[k] = forecaster(s[:t], 1)[0]
    return out


FORECASTERS = ("last", "seasonal-naive", "seasonal-max", "holt-winters")


def make_forecaster(name: str, period: int, train: np.ndarray | None = None) -> Forecaster:
    """A forecaster by name (:data:`FORECASTERS`); ``holt-winters`` is fitted on ``train`` (training days only)."""
    if name == "last":
        return LastValue()
    if name == "seasonal-naive":
        return SeasonalNaive(period)
    if name == "seasonal-max":
        return SeasonalMax(period)
    if name == "holt-winters":
        if train is None:
            raise ValueError("make_forecaster('holt-winters') needs the training series to fit on (train=...)")
        return HoltWinters.fit(train, period)
    raise ValueError(f"unknown forecaster {name!r}; choose one of {list(FORECASTERS)}")


__all__ = ["ALPHAS", "BETAS", "FORECASTERS", "GAMMAS", "Forecaster", "HoltWinters", "LastValue", "SeasonalMax",
           "SeasonalNaive", "check_history", "check_horizon", "make_forecaster", "one_step_forecasts"]
