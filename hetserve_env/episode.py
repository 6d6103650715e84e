"""One episode's demand: which days it covers, its windows (with the history windows before them), the
realised rate with noise and the per-window Problems.

Why a module of its own: these are pure functions of the scenario's demand series and the draw, kept out of
the env module (which stays about the Gymnasium API).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np

from .kernels.records import EnvState, FleetLimits
from .observation import scaled_rate, scaled_tokens, time_features
from .problem import Problem


def episode_days(split: str, split_days: tuple[int, ...], n_days: int, day: Any, rng: np.random.Generator) -> tuple[int, ...]:
    """The episode's ``n_days`` consecutive split days: from ``day`` (validated: a start day of the split) or
    drawn uniformly with ``rng``."""
    n_start = len(split_days) - n_days + 1
    if day is not None:
        if isinstance(day, (bool, np.bool_)) or not isinstance(day, (int, np.integer)):
            raise ValueError(f"reset options['day'] must be an integer day id, got {day!r}")
        if int(day) not in split_days[:n_start]:
            raise ValueError(f"reset options['day'] = {day} is not a start day of split {split!r} with "
                             f"episode_days={n_days}; allowed: {list(split_days[:n_start])}")
        k0 = split_days.index(int(day))
    else:
        k0 = int(rng.integers(n_start))
    return split_days[k0:k0 + n_days]


class EpisodeDemand(NamedTuple):
    """The episode's windows ``win`` (T,) of the series, ``index`` (H + T,) the history windows then ``win``
    (the first window repeated at the very start of the series), the realised ``rate`` and the token means
    on ``index`` and each episode window's window of day (T + 1,: one past the end)."""

    win: np.ndarray
    index: np.ndarray
    rate: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    window_of_day: np.ndarray


def episode_demand(demand: Any, days: tuple[int, ...], day_start: Mapping[int, int], day_end: Mapping[int, int],
                   history: int, noise: float, rng: np.random.Generator) -> EpisodeDemand:
    """The demand of an episode over ``days``: the series' rate times seeded log-normal noise
    ``exp(noise · N(0, 1))`` per type (none drawn when ``noise`` is 0)."""
    win = np.concatenate([np.arange(day_start[d], day_end[d]) for d in days])
    idx = np.concatenate([np.maximum(np.arange(win[0] - history, win[0]), 0), win])
    rate = demand.rate[idx]
    if noise > 0:
        rate = rate * np.exp(noise * rng.standard_normal(rate.shape))
    pos = np.concatenate([np.arange(day_end[d] - day_start[d]) for d in days])
    return EpisodeDemand(win, idx, rate, demand.input_tokens[idx], demand.output_tokens[idx], np.append(pos, pos[-1] + 1))


class EpisodeStart(NamedTuple):
    """A new episode: its split ``days``, its ``demand`` and the kernels' ``state`` at its start."""

    days: tuple[int, ...]
    demand: EpisodeDemand
    state: EnvState


def billed_window_problem(shared: Mapping[str, Any], labels: np.ndarray, limits: FleetLimits, pairs: np.ndarray,
                          rate: np.ndarray, input_tokens: np.ndarray, output_tokens: np.ndarray,
                          billed: np.ndarray) -> Problem:
    """A window's Problem on the ``billed`` templates only (exact: the others carry no load and no cost), from
    the environment's static fields ``shared``, its token mix's ``pairs`` (4, I, D) and its demand."""
    pair = pairs[:, :, billed]  # capacity, latency, load_slope, error
    return Problem(**shared, template_labels=tuple(labels[billed]), rate=rate, input_tokens=input_tokens,
                   output_tokens=output_tokens, template_gpu=limits.template_gpu[billed],
                   template_artifact=limits.template_artifact[billed], gpus=limits.gpus[billed],
                   cost=limits.cost[billed], capacity=pair[0], latency=pair[1], load_slope=pair[2], error=pair[3])


def episode_state(ep: EpisodeDemand, ready: np.ndarray, cohorts: int, mean_rate: np.ndarray, windows_per_day: int,
                  mix_row: np.ndarray, n_gpu_types: int) -> EnvState:
    """The kernels' EnvState at the start of episode ``ep``: ``ready`` serving replicas, ``cohorts`` empty
    cold-start cohorts, the observed demand, each window's token-mix row and empty render records."""
    T, D = ep.win.size, ready.shape[0]
    return EnvState(
        ready=ready, warm=np.zeros((cohorts, D), dtype=np.int64), rate=np.ascontiguousarray(ep.rate, dtype=np.float64),
        rate_obs=scaled_rate(ep.rate, mean_rate), tok_obs=scaled_tokens(ep.input_tokens, ep.output_tokens),
        time_obs=time_features(ep.window_of_day, windows_per_day), perf_row=mix_row[ep.win],
        rec_avail=np.zeros((T, D)), rec_served=np.zeros(T), rec_gpus=np.zeros((T, n_gpu_types)))
