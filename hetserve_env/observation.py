"""The observation vector's layout: one :class:`ObservationLayout` read by the environment's observation
space, the compiled observation kernel (its :meth:`~ObservationLayout.offsets`), wrappers that keep or drop
components (:meth:`~ObservationLayout.slices`) and rendering.

Why one class: the layout used to be written twice (the space and the kernel); now the kernel writes each
component at the offset this class computes, and the component table of ``HetServeEnv``'s docstring lists
the same components in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from gymnasium import spaces

from .kernels.records import ObsOffsets

TOKEN_SCALE = 1000.0  # tokens are observed in thousands
RATE_OBS_MAX = 100.0  # rate / mean rate is clipped to [0, RATE_OBS_MAX]
TOKEN_OBS_MAX = 1000.0  # tokens / 1000 clipped to [0, TOKEN_OBS_MAX]


@dataclass(frozen=True)
class ObsComponent:
    """One component of the observation: its name, length, bounds and what it is divided by."""

    name: str
    size: int
    low: float
    high: float
    scale: str


@dataclass(frozen=True)
class ObservationLayout:
    """Components, in order, of the observation of an environment with ``n_types`` query types,
    ``n_templates`` templates and ``history`` observed windows."""

    n_types: int
    n_templates: int
    history: int

    @cached_property
    def components(self) -> tuple[ObsComponent, ...]:
        I, D, H = self.n_types, self.n_templates, self.history
        return (ObsComponent("rate", H * I, 0.0, RATE_OBS_MAX, "the type's mean rate"),
                ObsComponent("input_tokens", I, 0.0, TOKEN_OBS_MAX, "1000"),
                ObsComponent("output_tokens", I, 0.0, TOKEN_OBS_MAX, "1000"),
                ObsComponent("serving", D, 0.0, 1.0, "R_max"),
                ObsComponent("warming", D, 0.0, 1.0, "R_max"),
                ObsComponent("time", 2, -1.0, 1.0, "sin, cos of the phase of the day"),
                ObsComponent("slo_attainment", I, 0.0, 1.0, "share"),
                ObsComponent("budget_used", 1, 0.0, 1.0, "share"))

    def slices(self) -> dict[str, slice]:
        """Each component's slice of the flat observation, by name."""
        out, k = {}, 0
        for c in self.components:
            out[c.name] = slice(k, k + c.size)
            k += c.size
        return out

    @cached_property
    def size(self) -> int:
        return sum(c.size for c in self.components)

    def space(self) -> spaces.Box:
        """The observation space: a float32 Box with each component's bounds."""
        low = np.concatenate([np.full(c.size, c.low) for c in self.components]).astype(np.float32)
        high = np.concatenate([np.full(c.size, c.high) for c in self.components]).astype(np.float32)
        return spaces.Box(low, high, dtype=np.float32)

    def offsets(self) -> ObsOffsets:
        """Each component's start offset and the total size: the record the observation kernel writes by."""
        sl = self.slices()
        return ObsOffsets(**{name: s.start for name, s in sl.items()}, size=self.size)

    def split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """Views of ``obs`` (..., size) per component, by name."""
        return {name: obs[..., s] for name, s in self.slices().items()}


def scaled_rate(rate: np.ndarray, mean_rate: np.ndarray) -> np.ndarray:
    """The observed rate (float32): rate ÷ the type's mean rate, clipped to RATE_OBS_MAX."""
    return np.minimum(rate / mean_rate, RATE_OBS_MAX).astype(np.float32)


def scaled_tokens(input_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
    """The observed token means (float32, input columns then output): ÷ TOKEN_SCALE, clipped to TOKEN_OBS_MAX."""
    return np.minimum(np.concatenate([input_tokens, output_tokens], axis=1) / TOKEN_SCALE, TOKEN_OBS_MAX).astype(np.float32)


def time_features(window_of_day: np.ndarray, windows_per_day: int) -> np.ndarray:
    """sin, cos of 2π·(window of day)/(windows per day), float32 (n, 2)."""
    phase = 2 * np.pi * window_of_day / windows_per_day
    return np.stack([np.sin(phase), np.cos(phase)], axis=1).astype(np.float32)
