"""Forecasters (baselines/forecast.py): shapes, exact cases, no look-ahead and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.forecast import (HoltWinters, LastValue, SeasonalMax, SeasonalNaive, make_forecaster,
                                one_step_forecasts)

M = 24


def _series(days: int = 6, seed: int = 0) -> np.ndarray:
    t = np.arange(days * M)
    base = np.stack([10 + 5 * np.sin(2 * np.pi * t / M), 4 + 2 * np.cos(2 * np.pi * t / M)], axis=1)
    return base * np.exp(0.02 * np.random.default_rng(seed).standard_normal(base.shape))


def test_seasonal_naive_is_yesterday_and_max_is_never_below_last():
    y = _series()
    f = SeasonalNaive(M)(y, 3)
    np.testing.assert_array_equal(f, y[len(y) - M:len(y) - M + 3])
    g = SeasonalMax(M)(y, 3)
    np.testing.assert_array_equal(g, np.maximum(f, y[-1]))
    np.testing.assert_array_equal(LastValue()(y, 2), np.repeat(y[-1:], 2, axis=0))
    assert SeasonalNaive(M)(y, M + 5).shape == (M + 5, 2)  # beyond a period: yesterday's window again


def test_holt_winters_recovers_a_pure_seasonal_pattern():
    t = np.arange(8 * M)
    y = np.stack([10 + 5 * np.sin(2 * np.pi * t / M)], axis=1)
    hw = HoltWinters(M, alpha=0.2, beta=0.0, gamma=0.2, phi=1.0)
    np.testing.assert_allclose(hw(y[:7 * M], M), y[7 * M:8 * M], atol=1e-9)


def test_fit_beats_seasonal_naive_on_noisy_days_and_forecasts_are_non_negative():
    y = _series(days=10, seed=1)
    hw = HoltWinters.fit(y[:7 * M], M)
    err = lambda f: np.abs(one_step_forecasts(f, y, 8 * M, 10 * M) - y[8 * M:]).mean()  # noqa: E731
    assert err(hw) < err(SeasonalNaive(M))
    assert (hw(np.zeros((3 * M, 2)), 5) >= 0).all()
    assert hw.params()["period"] == M and make_forecaster("holt-winters", M, y[:7 * M]) == hw


def test_one_step_forecasts_never_see_the_window_they_forecast():
    y = _series()
    changed = y.copy()
    changed[4 * M:] *= 100.0  # the future changes; forecasts of window 4M must not
    for f in (LastValue(), SeasonalNaive(M), SeasonalMax(M), HoltWinters(M)):
        np.testing.assert_array_equal(one_step_forecasts(f, y, 4 * M, 4 * M + 1),
                                      one_step_forecasts(f, changed, 4 * M, 4 * M + 1))


@pytest.mark.parametrize("bad, match", [(np.ones(5), "2-D"), (np.full((30, 2), np.nan), "finite"),
                                        (-np.ones((30, 2)), ">= 0"), (np.ones((M - 1, 2)), "at least 24")])
def test_bad_history_is_named(bad, match):
    with pytest.raises(ValueError, match=match):
        SeasonalNaive(M)(bad, 1)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="horizon"):
        LastValue()(np.ones((3, 1)), 0)
    with pytest.raises(ValueError, match="period"):
        SeasonalMax(0)
    with pytest.raises(ValueError, match="alpha"):
        HoltWinters(M, alpha=1.5)
    with pytest.raises(ValueError, match="at least 48"):
        HoltWinters(M)(np.ones((M + 1, 1)), 1)
    with pytest.raises(ValueError, match="unknown forecaster"):
        make_forecaster("arima", M)
