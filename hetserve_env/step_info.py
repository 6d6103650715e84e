"""The environment's ``info``: one fixed structure at reset and at every step, and the tables that decode its codes.

Why fixed: replay buffers (Tianshou, TorchRL, RLlib) and Gymnasium's vector envs store every ``info`` value in
preallocated arrays, so a value whose length or type changes between steps (a list of violation names, a list
of clip reasons) breaks them. Every value here has the same type, shape and dtype at reset and at every step:

* ``info["violations"]``: float64 ``(InfoLayout.violation_size,)``, the amount of each constraint's violation
  (as :func:`hetserve_env.allocation.evaluate` reports it; ``> 0`` where violated, 0 elsewhere), one block per
  family of :data:`VIOLATION_FAMILIES` in that order, each block indexed by query type, template or GPU type
  (:data:`FAMILY_INDEX`) or of length 1. ``InfoLayout.violation_slices[family]`` is a family's block;
  :meth:`InfoLayout.violated` (``env.info_layout``) decodes the array to names such as ``"max_unmet[chat]"``;
  :func:`violations_by_family` splits it by family from the info alone.
* ``info["clip_reason"]``: an ``int`` code, bit 0 budget, bit ``1 + g`` the inventory of GPU type ``g``, bit
  ``1 + G`` storage (0: not clipped); :meth:`InfoLayout.clip_reasons` decodes it to names such as
  ``["budget", "inventory[H100-SXM]"]`` (``InfoLayout.clip_reason_names`` is the table).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .kernels.records import COST_TERMS, FAMILY_INDEX, STEP_RATES, VIOLATION_FAMILIES, StepOutput

__all__ = ["FAMILY_INDEX", "INFO_KEYS", "InfoLayout", "VIOLATION_FAMILIES", "violations_by_family"]

#: The keys of every ``info`` (reset and step), in order.
INFO_KEYS = ("cost", "reward_scale", "served_rate", "unmet_rate", "demand", "slo_attainment", "gpus_by_type",
             "replicas", "violations", "clipped", "clip_reason", "action_mask", "window", "day", "days")
_OVERALL = STEP_RATES.index("overall_attainment")


class InfoLayout:
    """Where each violation and clip reason sits in ``info["violations"]`` / ``info["clip_reason"]`` of an
    environment with the given query types, templates and GPU types, and the decoders to names."""

    def __init__(self, type_names: Sequence[str], template_labels: Sequence[str], gpu_names: Sequence[str]) -> None:
        if len(gpu_names) > 61:
            raise ValueError(f"clip_reason codes hold at most 61 GPU types, got {len(gpu_names)}")
        labels = {"type": list(type_names), "template": list(template_labels), "gpu": list(gpu_names), "": [None]}
        names: list[str] = []
        offsets: list[int] = []
        self.violation_slices: dict[str, slice] = {}
        for fam, kind in zip(VIOLATION_FAMILIES, FAMILY_INDEX):
            offsets.append(len(names))
            names += [fam if lbl is None else f"{fam}[{lbl}]" for lbl in labels[kind]]
            self.violation_slices[fam] = slice(offsets[-1], len(names))
        #: name of each slot of ``info["violations"]``
        self.violation_names: tuple[str, ...] = tuple(names)
        self.violation_size = len(names)
        #: first slot of each family (what the compiled step writes at)
        self.violation_offsets = np.asarray(offsets, dtype=np.int64)
        #: name of each bit of ``info["clip_reason"]``
        self.clip_reason_names: tuple[str, ...] = ("budget", *(f"inventory[{g}]" for g in gpu_names), "storage")

    def violated(self, violations: np.ndarray) -> list[str]:
        """Names of the violated constraints in an ``info["violations"]`` array, in evaluate's order."""
        return [self.violation_names[k] for k in np.flatnonzero(np.asarray(violations))]

    def by_family(self, violations: np.ndarray) -> dict[str, np.ndarray]:
        """``info["violations"]`` as one array per family (views), keyed by :data:`VIOLATION_FAMILIES`."""
        v = np.asarray(violations)
        return {fam: v[..., s] for fam, s in self.violation_slices.items()}

    def limit_names(self, over_budget: Any, over_gpu: Any, over_storage: Any) -> list[str]:
        """Names of the broken limits from the kernels' flags (budget, inventory per GPU type (G,), storage)."""
        flags = [bool(over_budget), *(bool(o) for o in over_gpu), bool(over_storage)]
        return [n for n, f in zip(self.clip_reason_names, flags) if f]

    def clip_reasons(self, code: int) -> list[str]:
        """Names of the limits an ``info["clip_reason"]`` code says the action broke ([] for 0)."""
        code = int(code)
        if code < 0 or code >= 1 << len(self.clip_reason_names):
            raise ValueError(f"clip_reason code must be in 0..{(1 << len(self.clip_reason_names)) - 1}, got {code}")
        return [n for b, n in enumerate(self.clip_reason_names) if code >> b & 1]


def violations_by_family(info: dict[str, Any]) -> dict[str, np.ndarray]:
    """One ``info``'s violation amounts per family, without the environment: the block sizes follow from the
    info itself (query types = ``len(info["demand"])``, templates = ``len(info["replicas"])``, GPU types =
    ``len(info["gpus_by_type"])``). Works on a vector env's batched info too (arrays of shape (N, n))."""
    demand, replicas = np.asarray(info["demand"]), np.asarray(info["replicas"])
    gpus = info["gpus_by_type"]
    sizes = {"type": demand.shape[-1], "template": replicas.shape[-1], "gpu": len(gpus), "": 1}
    v = np.asarray(info["violations"])
    out, k = {}, 0
    for fam, kind in zip(VIOLATION_FAMILIES, FAMILY_INDEX):
        out[fam] = v[..., k:k + sizes[kind]]
        k += sizes[kind]
    if k != v.shape[-1]:
        raise ValueError(f"info['violations'] has {v.shape[-1]} slots, the info's sizes give {k}")
    return out


def step_info(env: Any, out: StepOutput, demand: np.ndarray, window: int, days: np.ndarray,
              mask: np.ndarray) -> dict[str, Any]:
    """The info of the window of ``env`` (type/GPU names, reward scale) just played, from the step's output
    arrays (copied), its realised ``demand`` and series ``window``, the episode's ``days`` and the next mask."""
    rates = out.rates.tolist()
    flags = out.flags.tolist()
    slo = dict(zip(env.type_names, out.attainment.tolist()))
    slo["overall"] = rates[_OVERALL]
    return {"cost": dict(zip(COST_TERMS, out.costs.tolist())), "reward_scale": env.reward_scale,
            "served_rate": rates[0], "unmet_rate": rates[1], "demand": demand,
            "slo_attainment": slo, "gpus_by_type": dict(zip(env.gpu_names, out.gpus_by_type.tolist())),
            "replicas": out.target.copy(), "violations": out.violations.copy(), "clipped": bool(flags[0]),
            "clip_reason": flags[1], "action_mask": mask, "window": window, "day": int(days[0]), "days": days}


def reset_info(env: Any, replicas: np.ndarray, gpus: np.ndarray, demand: np.ndarray, window: int, days: np.ndarray,
               mask: np.ndarray) -> dict[str, Any]:
    """The info of a reset, with the structure of a step's: no window played (every $ term and rate 0, SLO
    attainment 1 as in the observation, nothing violated or clipped), the starting fleet's replicas and GPUs,
    the last history window's ``demand`` and the first episode ``window``."""
    slo = dict.fromkeys(env.type_names, 1.0)
    slo["overall"] = 1.0
    return {"cost": dict.fromkeys(COST_TERMS, 0.0), "reward_scale": env.reward_scale, "served_rate": 0.0,
            "unmet_rate": 0.0, "demand": demand, "slo_attainment": slo,
            "gpus_by_type": dict(zip(env.gpu_names, gpus.tolist())), "replicas": replicas.astype(np.int64),
            "violations": np.zeros(env.info_layout.violation_size), "clipped": False, "clip_reason": 0,
            "action_mask": mask, "window": window, "day": int(days[0]), "days": days}
