"""The environment's static arrays, built once per environment: cold-start ages, the fleet limits, the
performance table of the split's token mixes and the kernels' EnvParams record that holds them.

Why a module of its own: these are pure functions of the scenario (no episode state), and the env module
stays about the Gymnasium API.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .fleet_cost import LIMIT_TOL
from .kernels.access import as_float64 as _f, as_int64 as _i
from .kernels.records import EnvParams, FleetLimits, ObsOffsets
from .problem import Problem
from .scenario import Scenario


class ColdStart(NamedTuple):
    """Cold starts on the window grid: ``windows`` (K) cohorts; ``avail_by_age[k, d]`` the share of a window a
    replica of template d asked for k windows ago serves; ``next_full[k, d]`` whether it serves fully from
    the next window."""

    seconds: np.ndarray
    windows: int
    avail_by_age: np.ndarray
    next_full: np.ndarray


def cold_start(scenario: Scenario, window_s: float) -> ColdStart:
    """Each template's cold start (``boot_s + weight_gb / load_gbps``) on windows of ``window_s`` seconds."""
    cs = np.asarray(scenario.env.cold_start.seconds(scenario.templates.weight_gb), dtype=float)
    K = max(1, int(math.ceil(float(cs.max()) / window_s - 1e-12)))
    ages = np.arange(K)[:, None]
    avail_by_age = np.clip(ages + 1.0 - cs[None, :] / window_s, 0.0, 1.0)  # (K, D)
    next_full = np.ones((K, cs.size), dtype=bool)
    if K > 1:
        next_full[:-1] = avail_by_age[1:] >= 1.0
    return ColdStart(cs, K, avail_by_age, next_full)


def fleet_limits(base: Problem) -> FleetLimits:
    """The budget, inventory and storage limits of ``base`` as the kernels' record."""
    return FleetLimits(
        cost=_f(base.cost), template_gpu=_i(base.template_gpu), gpus=_i(base.gpus), inventory=_f(base.inventory),
        budget=float(base.budget), tol=LIMIT_TOL, finite_storage=bool(math.isfinite(base.storage_gb)),
        artifact_gb=_f(base.artifact_gb), template_artifact=_i(base.template_artifact),
        storage_gb=float(base.storage_gb), cheap_first=_i(np.argsort(base.cost, kind="stable")))


class TokenMixTable(NamedTuple):
    """Performance of every distinct token mix of the split's windows: ``pairs`` (U, 4, I, D) capacity,
    latency, load slope and error per mix; ``row_of_window`` the mix of each window of the series (-1 off
    the split)."""

    pairs: np.ndarray
    row_of_window: np.ndarray


def token_mix_table(scenario: Scenario, split_days: tuple[int, ...], error: np.ndarray) -> TokenMixTable:
    """Capacity, latency and load slope depend on the token means only (not on the rate), and the series
    holds few distinct token mixes, so the whole split costs a handful of vectorised model calls."""
    dm = scenario.demand
    mask = np.isin(dm.day, split_days)
    toks = np.concatenate([dm.input_tokens, dm.output_tokens], axis=1)
    uniq, inverse = np.unique(toks[mask], axis=0, return_inverse=True)
    row_of_window = np.full(dm.n_windows, -1, dtype=np.int64)
    row_of_window[mask] = inverse.reshape(-1)
    I = error.shape[0]
    p = scenario.perf(uniq[:, :I], uniq[:, I:])
    load_slope = np.minimum(p.load_slope, 1 - 1e-12)  # as Scenario.compile
    pairs = np.stack([p.capacity_rps, p.latency_s, load_slope, np.broadcast_to(error, p.latency_s.shape)], axis=1)
    return TokenMixTable(_f(pairs), row_of_window)


def env_params(base: Problem, limits: FleetLimits, obs: ObsOffsets, pairs: np.ndarray, cold: ColdStart, *,
               window_s: float, max_replicas: int, history: int, delta_mode: bool, clip_penalty: float,
               violation_offsets: np.ndarray) -> EnvParams:
    """The kernels' EnvParams record of an environment (see :mod:`hetserve_env.kernels.records`)."""
    return EnvParams(
        limits=limits, obs=obs, pairs=pairs, avail_by_age=_f(cold.avail_by_age), next_full=cold.next_full,
        delay_slo=_f(base.delay_slo), error_slo=_f(base.error_slo), max_unmet=_f(base.max_unmet),
        unmet_penalty=_f(base.unmet_penalty), delay_penalty=_f(base.delay_penalty), error_penalty=_f(base.error_penalty),
        storage_cost=float(base.storage_cost), window_s=float(window_s), hours=float(window_s) / 3600.0,
        n_gpu_types=int(base.n_gpu_types), max_replicas=int(max_replicas), history=int(history),
        delta_mode=bool(delta_mode), clip_penalty=float(clip_penalty), violation_offsets=_i(violation_offsets))


def value_masks(base: Problem, max_replicas: int) -> np.ndarray:
    """ok[v, d] for v = 0..R_max: whether v replicas of template d fit its GPU type's inventory, the budget
    and (for v > 0) the storage, each on its own (the per-dimension action masks)."""
    v = np.arange(max_replicas + 1)[:, None]
    fits = ((v * base.gpus[None, :] <= base.inventory[base.template_gpu][None, :] + LIMIT_TOL)
            & (v * base.cost[None, :] <= base.budget + LIMIT_TOL))
    fits &= (v == 0) | (base.artifact_gb[base.template_artifact] <= base.storage_gb + LIMIT_TOL)[None, :]
    return fits


#: The Problem fields every window of an environment shares (the rest depend on the window or its billed templates).
SHARED_FIELDS = ("type_names", "gpu_names", "artifact_names", "delay_slo", "error_slo", "max_unmet", "unmet_penalty",
                 "delay_penalty", "error_penalty", "inventory", "artifact_gb", "budget", "storage_gb", "storage_cost",
                 "window_s")


def shared_fields(base: Problem, name: str) -> dict:
    """The fields of ``base`` every window's Problem shares, with the scenario's ``name``."""
    return {**{f: getattr(base, f) for f in SHARED_FIELDS}, "name": name, "meta": {"scenario": name}}
