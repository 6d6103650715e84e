"""Named records passed to and returned by the compiled kernels (``collections.namedtuple``, which numba
types field by field).

Why: a kernel with 40 positional arguments turns a swapped argument into wrong numbers; a record names each
field at the one place it is built (numba then reads ``params.budget``, not ``args[17]``). Conventions: float
arrays are float64, integer arrays int64, all C-contiguous (one compiled specialisation); scalars are Python
``float``/``int``/``bool`` as noted. This module imports no numba.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

#: Violation families in the order evaluate reports them (codes returned by evaluate_core).
VIOLATION_FAMILIES = ("coverage", "max_unmet", "capacity", "error_slo", "delay_slo", "unservable_route",
                      "routing_range", "unmet_range", "integrality", "budget", "inventory", "storage")
#: What the index of each family refers to: type, template, GPU type or nothing.
FAMILY_INDEX = ("type", "type", "template", "type", "type", "template", "template", "type", "template", "", "gpu", "")
#: The money terms of a step that add up to its total ($ for the window): the one list every table reads.
COST_PARTS = ("rental", "cold_start", "storage", "unmet_penalty", "delay_penalty", "error_penalty", "clip_penalty")
#: ``info["cost"]`` keys, in ``StepOutput.costs`` order: the parts, then their total.
COST_TERMS = COST_PARTS + ("total",)

#: One problem's arrays (see :class:`hetserve_env.problem.Problem`); budget/storage_gb/storage_cost/window_s
#: floats, n_gpu_types int, inventory float64.
ProblemArrays = namedtuple("ProblemArrays", (
    "rate", "capacity", "latency", "load_slope", "error", "error_slo", "delay_slo", "max_unmet", "unmet_penalty",
    "delay_penalty", "error_penalty", "cost", "template_gpu", "template_artifact", "gpus", "inventory",
    "artifact_gb", "budget", "storage_gb", "storage_cost", "window_s", "n_gpu_types"))

#: One allocation: billed replicas R (D,) and serving replica-equivalents (D,) as float64, routing x (I, D),
#: unmet u (I,).
AllocationArrays = namedtuple("AllocationArrays", ("replicas", "serving", "routing", "unmet"))

#: evaluate_core's result: the $/h terms, storage in use (GB), per-template/type arrays and the violations as
#: parallel arrays (family code into VIOLATION_FAMILIES, index, amount).
EvaluationArrays = namedtuple("EvaluationArrays", (
    "billed", "rental", "cold_start", "storage", "unmet_penalty", "delay_penalty", "error_penalty", "objective",
    "storage_used", "utilisation", "latency", "served_share", "on_time_share", "mean_error", "gpus_by_type",
    "families", "indices", "amounts"))

#: The budget, inventory and storage limits of a fleet: ``cheap_first`` is the templates in ascending cost
#: (stable); ``finite_storage`` a bool (storage is checked only when finite); budget/tol/storage_gb floats.
FleetLimits = namedtuple("FleetLimits", (
    "cost", "template_gpu", "gpus", "inventory", "budget", "tol", "finite_storage", "artifact_gb",
    "template_artifact", "storage_gb", "cheap_first"))

#: Start offsets of the observation components (ints), from
#: :meth:`hetserve_env.observation.ObservationLayout.offsets`.
ObsOffsets = namedtuple("ObsOffsets", (
    "rate", "input_tokens", "output_tokens", "serving", "warming", "time", "slo_attainment", "budget_used", "size"))

#: The environment's static parameters (built once per environment, at its first reset):
#: ``pairs`` (U, 4, I, D) capacity/latency/load slope/error of each distinct token mix of the split;
#: ``avail_by_age`` (K, D) the share of a window a replica of age k serves; ``next_full`` (K, D) whether a
#: replica of age k serves fully from the next window; per-type SLOs and penalties (I,); ``hours`` of a window;
#: ``delta_mode`` bool; ``clip_penalty``, ``storage_cost``, ``window_s`` floats; ``violation_offsets`` (12,)
#: the first slot of each VIOLATION_FAMILIES block in ``StepOutput.violations``; the rest ints.
EnvParams = namedtuple("EnvParams", (
    "limits", "obs", "pairs", "avail_by_age", "next_full", "delay_slo", "error_slo", "max_unmet", "unmet_penalty",
    "delay_penalty", "error_penalty", "storage_cost", "window_s", "hours", "n_gpu_types", "max_replicas", "history",
    "delta_mode", "clip_penalty", "violation_offsets"))

#: One episode's state (built at reset). ``ready`` (D,) and ``warm`` (K, D) are the fleet's cohorts (replicas
#: serving; replicas asked for k windows ago still starting) and the ``rec_*`` arrays the per-step records for
#: rendering: the kernels update these in place (documented at each kernel). The rest is read-only demand of
#: the episode's H + T windows: ``rate`` (H+T, I), ``rate_obs``/``tok_obs``/``time_obs`` (float32, observation
#: scale) and ``perf_row`` (T,), the row of ``EnvParams.pairs`` of each episode window.
EnvState = namedtuple("EnvState", (
    "ready", "warm", "rate", "rate_obs", "tok_obs", "time_obs", "perf_row", "rec_avail", "rec_served", "rec_gpus"))

#: The window boundary's result: target replicas (D,), dropped new replicas (D,), whether anything was
#: clipped, which limits the asked-for fleet broke, and the replica-equivalents available in the window (D,).
FleetUpdate = namedtuple("FleetUpdate", (
    "target", "dropped", "clipped", "over_budget", "over_gpu", "over_storage", "available"))

#: One step's result, written in place by the compiled step into arrays the environment allocates once
#: (:func:`step_output`), so no record is built or boxed per step: the next observation ``obs`` (float32),
#: target replicas (D,), the billed template indices in ``billed[:n_billed]`` and the routing on them in
#: ``routing[:, :n_billed]`` (I, D) with ``unmet`` (I,), the COST_TERMS in $ for the window (8,), ``rates``
#: (STEP_RATES), ``flags`` (STEP_FLAGS, int64), per-type attainment (I,), GPUs in use per type (G,) and the
#: violation amounts at the fixed slots of :class:`hetserve_env.step_info.InfoLayout` (0 = not violated).
StepOutput = namedtuple("StepOutput", (
    "obs", "target", "billed", "routing", "unmet", "costs", "rates", "flags", "attainment", "gpus_by_type",
    "violations"))

#: Slots of ``StepOutput.rates`` (float64).
STEP_RATES = ("served_rate", "unmet_rate", "overall_attainment", "budget_used")
#: Slots of ``StepOutput.flags`` (int64): whether the action was clipped, the clip-reason code (bit 0 budget,
#: bit 1 + g inventory of GPU type g, bit 1 + G storage; 0 when nothing was clipped), the number of billed templates.
STEP_FLAGS = ("clipped", "clip_code", "n_billed")


def step_output(obs_size: int, n_types: int, n_templates: int, n_gpu_types: int, n_violation_slots: int,
                batch: tuple[int, ...] = ()) -> StepOutput:
    """Zeroed StepOutput arrays (with leading ``batch`` dimensions for a vector of environments)."""
    def z(*shape: int, dtype: type = np.float64) -> np.ndarray:
        return np.zeros(batch + shape, dtype=dtype)

    return StepOutput(obs=z(obs_size, dtype=np.float32), target=z(n_templates, dtype=np.int64),
                      billed=z(n_templates, dtype=np.int64), routing=z(n_types, n_templates), unmet=z(n_types),
                      costs=z(len(COST_TERMS)), rates=z(len(STEP_RATES)), flags=z(len(STEP_FLAGS), dtype=np.int64),
                      attainment=z(n_types), gpus_by_type=z(n_gpu_types), violations=z(n_violation_slots))
