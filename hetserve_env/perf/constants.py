"""Every constant of the performance model, with where it comes from (docs/model.md §3, "Constants")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from .engines import DEFAULT_ENGINE, ENGINE_FIELDS, ENGINES, KV_PRECISIONS, MEMORY_RULES

#: GPU generations the catalog's ``arch`` column may name; ``unknown`` uses the generic constants.
ARCHS: tuple[str, ...] = ("unknown", "turing", "ampere", "ada", "hopper", "blackwell")
#: Generations whose weight-only (W8A16/W4A16) kernels pay the larger dequantisation cost.
OLD_ARCHS: tuple[str, ...] = ("turing", "ampere")

_UNIT = ("mfu_prefill", "mfu_prefill_turing", "mfu_prefill_ampere", "mfu_prefill_ada", "mfu_prefill_hopper",
         "mfu_prefill_blackwell", "mbu_decode", "mbu_kv", "mfu_decode", "memory_utilisation",
         "link_efficiency_nvlink", "link_efficiency_pcie", "weight_only_prefill_old", "weight_only_prefill_new",
         "weight_only_decode_old", "weight_only_decode_new")
_NON_NEGATIVE = ("allreduce_latency_nvlink_s", "allreduce_latency_pcie_s", "hop_latency_s", "ttft_overhead_s",
                 "step_overhead_s", "activation_reserve_gb", "prefill_tokens_half",
                 "tp_gemm_overhead", "prefill_layer_overhead_s", "host_per_seq_s", "host_ttft_s")
#: Model versions (``version``): the named constants sets of :data:`PERF_SETS`.
VERSIONS: tuple[str, ...] = ("v1", "v2")


@dataclass(frozen=True)
class PerfConstants:
    """The constants of the performance model. ESTIMATE = no source; CALIBRATED = fitted by
    ``python scripts/perf_calibrate.py --fit`` (engine-aware mapping of scripts/perf_validation.py; rounded to 3
    digits) on the calibration rows among the first 61 rows of ``scripts/perf_points.csv`` (the whole file at
    the fit), never on validation rows; rows added later tuned nothing (docs/model.md "How good is the model?").

    Compute.
    mfu_prefill: prefill FLOPs utilisation for a GPU of unknown generation. ESTIMATE (catalog-facts §E.1: "a
        specific % is UNSOURCED").
    mfu_prefill_<arch>: the same per generation (catalog ``arch`` column). CALIBRATED for ampere, ada and
        hopper (calibration rows exist); turing and blackwell keep the generic ESTIMATE (no rows).
        Both are the efficiency of large GEMMs: a prefill of M tokens reaches mfu·M / (M + prefill_tokens_half) (GEMM efficiency grows with the token dimension);
        M = the prompt for the time to first token, the engine's ``prefill_batch_tokens`` for the GPU time a
        prefill takes under load (engines batch prompts into one step).
    prefill_tokens_half: tokens at which a prefill GEMM reaches half its large-GEMM efficiency. CALIBRATED.
    tp_gemm_overhead: compute efficiency lost per extra TP rank: TP n splits every GEMM n ways (smaller GEMMs,
        a synchronisation per layer), so compute runs at 1 / (1 + tp_gemm_overhead·(n-1)) of n GPUs' rate.
        CALIBRATED.
    fp8_speedup: effective compute speed-up of FP8 W8A8 over FP16 (peak ratio 2). vLLM FP8 docs: "up to a
        1.6x improvement in throughput".
    mfu_decode: FLOPs utilisation of the per-sequence compute of a decode step. CALIBRATED.
    Memory traffic.
    mbu_decode: bandwidth utilisation when a decode step streams the weights. CALIBRATED, inside [E3]'s "60 to
        85 percent" (WEAK).
    mbu_kv: bandwidth utilisation of the per-sequence KV-cache reads, separate from the weights' so that the
        effective MBU of a step depends on the batch (it moves from mbu_decode towards mbu_kv as b grows).
        CALIBRATED: the calibration rows put it slightly below mbu_decode, so the effective MBU falls a little
        with the batch once prefill sharing and TP overhead are modelled.
    weight_only_prefill_old/new: speed factor of prefill under weight-only quantisation (dequantise, then FP16
        GEMM) on Turing/Ampere ("old") and on newer GPUs. ESTIMATE.
    weight_only_decode_old/new: bandwidth factor of decode under weight-only quantisation (dequantisation
        work inside the GEMV). old: CALIBRATED on one row (torchao int4, A100); new: ESTIMATE.
    Overheads and interconnect.
    ttft_overhead_s: fixed launch, scheduling and tokenisation time added to the time to first token. CALIBRATED.
    step_overhead_s: host time per decode step (scheduler, sampling, launch). CALIBRATED.
    link_efficiency_nvlink: achieved share of NVLink bandwidth in all-reduce; Calculon's 0.65 [E7].
    link_efficiency_pcie: the same over PCIe (no NVSwitch, traffic through the host bridge). ESTIMATE.
    allreduce_latency_nvlink_s / allreduce_latency_pcie_s: fixed cost per all-reduce. NVLink CALIBRATED; PCIe
        ESTIMATE (no PCIe TP calibration row but one L40S TP4; NCCL over PCIe is slower than NVLink).
    allreduces_per_layer: Megatron-style TP does 2 all-reduces per layer [E8].
    activation_bytes: bytes per activation value in the TP all-reduce message (BF16/FP16 activations).
        (Called ``kv_bytes_per_value`` before v1, where it only sized that message.)
    hop_latency_s: pipeline-stage hand-off per stage boundary. ESTIMATE.
    pp_microbatches_per_stage: micro-batches per stage in pipelined prefill; the bubble is (m-1)/(k·m+m-1)
        for m stages and k·m micro-batches [E9]; k ESTIMATE.
    Model v2 switches (docs/model.md "Model v2"; their v1 values reproduce model v1 exactly).
    prefill_weight_pass_shared: without chunked prefill, the weight pass of a prefill step is shared by the
        prompts batched into it (h / max(h, prefill_batch_tokens) of a pass per prompt); v1 charged every prompt
        a whole pass, which made short-prompt saturated throughput far too low on TensorRT-LLM.
    prefill_layer_overhead_s: time per layer a prefill step spends on launching its kernels when the engine
        runs prefill eagerly (``eager_prefill``: vLLM, SGLang), paid once by a prompt alone (TTFT) and shared by
        the prompts batched into one step under load. v1: 0 (no such term). CALIBRATED in v2.
    memory_binary_hbm: the catalog's nominal memory of an HBM GPU (A100, H100, H200) is in GiB, not 1e9 bytes:
        HBM stacks have binary capacities ("80 GB" = 80 GiB, 7.4 % more); v1 read 1e9 bytes, which starves the
        KV cache of near-full templates (e.g. a 70B FP16 model on two 80 GB GPUs). GDDR parts keep 1e9 bytes.
    host_per_seq_s: host time per running sequence per decode step (scheduling, input preparation, sampling,
        detokenisation) of an engine that does not overlap host work with the GPU (``host_overlap`` false: vLLM);
        it adds to the per-sequence slope of the step time, so a small model at a large batch on a fast GPU is
        host-bound (vLLM V1 blog, "CPU overhead ... particularly noticeable with smaller models like Llama-8B
        running on NVIDIA H100"). v1: 0. CALIBRATED in v2.
    host_ttft_s: the same engines' serial host time in the time to first token (request hand-off to the engine
        process, scheduling, input preparation, sampling and detokenisation of the first token). v1: 0.
        CALIBRATED in v2 (one TTFT row: vLLM 0.23 on an L4).
    closed_loop_ttft: at a fixed concurrency N (``operating_point(concurrency=N)``) a new request waits for the
        decode step that is running when it arrives (one ITL), shares its prefill step with the b - 1 other
        running sequences' decodes ((b - 1)·c) and waits behind ``closed_loop_sync``·(b - 1)/2 prefills of
        requests that arrived with it (a benchmark starts all clients at once; with fixed lengths they stay in
        step). Only the reported TTFT moves: that waiting is the same GPU time the steady-state ITL already
        spreads over the decode steps, so the closed loop's rate and E2E are unchanged. v1: false.
    closed_loop_sync: the share of those prefills (0 = clients spread out, 1 = all in step). CALIBRATED in v2.
    version: which named set (:data:`PERF_SETS`) the other defaults came from; ``v1`` or ``v2``.
    Engine (defaults from the profile named by ``engine``, :mod:`hetserve_env.perf.engines`).
    engine, memory_utilisation, memory_rule, activation_reserve_gb (per GPU), max_num_seqs, chunked_prefill,
    kv_precision, prefill_batch_tokens, eager_prefill, host_overlap: see :class:`EngineProfile`.
    """

    mfu_prefill: float = 0.5
    mfu_prefill_turing: float = 0.5
    mfu_prefill_ampere: float = 0.738
    mfu_prefill_ada: float = 0.9
    mfu_prefill_hopper: float = 0.6
    mfu_prefill_blackwell: float = 0.5
    prefill_tokens_half: float = 176.0
    tp_gemm_overhead: float = 0.0984
    fp8_speedup: float = 1.6
    mfu_decode: float = 0.6
    mbu_decode: float = 0.75
    mbu_kv: float = 0.711
    weight_only_prefill_old: float = 0.5
    weight_only_prefill_new: float = 0.8
    weight_only_decode_old: float = 0.55
    weight_only_decode_new: float = 0.9
    ttft_overhead_s: float = 0.0029
    step_overhead_s: float = 0.000521
    link_efficiency_nvlink: float = 0.65
    link_efficiency_pcie: float = 0.5
    allreduce_latency_nvlink_s: float = 3.75e-05
    allreduce_latency_pcie_s: float = 50e-6
    allreduces_per_layer: int = 2
    activation_bytes: int = 2
    hop_latency_s: float = 50e-6
    pp_microbatches_per_stage: int = 4
    prefill_weight_pass_shared: bool = False
    prefill_layer_overhead_s: float = 0.0
    memory_binary_hbm: bool = False
    host_per_seq_s: float = 0.0
    host_ttft_s: float = 0.0
    closed_loop_ttft: bool = False
    closed_loop_sync: float = 0.0
    version: str = "v1"
    engine: str = DEFAULT_ENGINE
    memory_utilisation: float = ENGINES[DEFAULT_ENGINE].memory_utilisation
    memory_rule: str = ENGINES[DEFAULT_ENGINE].memory_rule
    activation_reserve_gb: float = ENGINES[DEFAULT_ENGINE].activation_reserve_gb
    max_num_seqs: int = ENGINES[DEFAULT_ENGINE].max_num_seqs
    chunked_prefill: bool = ENGINES[DEFAULT_ENGINE].chunked_prefill
    kv_precision: str = ENGINES[DEFAULT_ENGINE].kv_precision
    prefill_batch_tokens: int = ENGINES[DEFAULT_ENGINE].prefill_batch_tokens
    eager_prefill: bool = ENGINES[DEFAULT_ENGINE].eager_prefill
    host_overlap: bool = ENGINES[DEFAULT_ENGINE].host_overlap

    def __post_init__(self) -> None:
        for name in _UNIT:
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"PerfConstants.{name} must be in (0, 1], got {value!r}")
        for name in _NON_NEGATIVE:
            if not 0 <= getattr(self, name) < float("inf"):
                raise ValueError(f"PerfConstants.{name} must be a finite number >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.closed_loop_sync <= 1.0:
            raise ValueError(f"PerfConstants.closed_loop_sync must be in [0, 1], got {self.closed_loop_sync!r}")
        if not 1.0 <= self.fp8_speedup <= 2.0:
            raise ValueError(f"PerfConstants.fp8_speedup must be in [1, 2] (2 = the FP8 peak ratio), got {self.fp8_speedup!r}")
        for name in ("allreduces_per_layer", "activation_bytes", "pp_microbatches_per_stage", "max_num_seqs",
                     "prefill_batch_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"PerfConstants.{name} must be an integer >= 1, got {getattr(self, name)!r}")
        for f in fields(self):
            if f.type == "bool" and not isinstance(getattr(self, f.name), bool):  # "no" would read as true
                raise ValueError(f"PerfConstants.{f.name} must be true or false, got {getattr(self, f.name)!r}")
        choices = {"version": VERSIONS, "engine": tuple(ENGINES), "memory_rule": MEMORY_RULES, "kv_precision": KV_PRECISIONS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"PerfConstants.{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, engine: str | None = None,
                     version: str | None = None) -> "PerfConstants":
        """The model ``version``'s constants set (:data:`PERF_SETS`; a ``version`` key in ``values`` wins), then
        the ``engine`` profile's defaults, then ``values``; unknown keys or values are an error naming the key."""
        values = dict(values or {})
        engine = values.pop("engine", engine) or DEFAULT_ENGINE
        version = values.pop("version", version) or "v1"
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; known: {sorted(ENGINES)}")
        if version not in PERF_SETS:
            raise ValueError(f"version: unknown performance model version {version!r}; known: {list(PERF_SETS)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown performance constant(s) {unknown}; known: {sorted(known)}")
        base = replace(cls(), **PERF_SETS[version], **ENGINES[engine].defaults())
        return replace(base, **{k: _coerce(k, v, getattr(base, k)) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(name: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``; refuses what would be silently changed (1.5 -> int, "no" -> bool)."""
    kind = type(default)
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name}: must be true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name}: must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name}: must be a number, got {value!r}") from None
    if kind is int:
        if not number.is_integer():
            raise ValueError(f"{name}: must be an integer, got {value!r}")
        return int(number)
    return number


#: Performance model v2 (docs/model.md "Model v2"): the v2 switches on and the CALIBRATED constants re-fitted by
#: ``python scripts/perf_calibrate.py --fit --version v2 --rounds 6`` on ALL 93 calibration rows of
#: scripts/perf_points.csv (never a validation row), host and closed-loop terms included (calibration loss 0.1207);
#: ``fp8_speedup`` keeps its sourced 1.6 (not fitted); every other field keeps its v1 default.
PERF_V2: dict[str, Any] = {
    "version": "v2", "prefill_weight_pass_shared": True, "memory_binary_hbm": True, "closed_loop_ttft": True,
    # CALIBRATED (perf_calibrate.py --fit --version v2 --rounds 6; 4 significant digits as it prints them)
    "ttft_overhead_s": 0.002033, "step_overhead_s": 0.0005856, "mbu_decode": 0.75, "mbu_kv": 0.8425,
    "mfu_decode": 0.5062, "mfu_prefill_hopper": 0.6, "mfu_prefill_ampere": 0.9, "mfu_prefill_ada": 0.6328,
    "allreduce_latency_nvlink_s": 3.562e-05, "weight_only_decode_old": 0.5829, "prefill_tokens_half": 198.0,
    "tp_gemm_overhead": 0.0615, "weight_only_prefill_old": 0.2663,
    "allreduce_latency_pcie_s": 0.00023, "prefill_layer_overhead_s": 0.0001517,
    "host_per_seq_s": 4.717e-05, "host_ttft_s": 0.01298, "closed_loop_sync": 0.09967,
}
#: version -> the fields it sets over the dataclass defaults (which are model v1).
PERF_SETS: dict[str, dict[str, Any]] = {"v1": {}, "v2": PERF_V2}

#: Constants the model reads only under a switch: name -> (switch, the switch value under which the constant
#: acts, the constant's value that needs no switch; None = whatever the version set and engine give it).
#: hetserve_env/perf/model.py: ``_phases`` drops host_* when ``host_overlap`` and the launch term unless
#: ``eager_prefill``; ``operating_point`` adds the closed-loop wait only when ``closed_loop_ttft``.
GATED_CONSTANTS: dict[str, tuple[str, bool, float | None]] = {
    "host_per_seq_s": ("host_overlap", False, 0.0),
    "host_ttft_s": ("host_overlap", False, 0.0),
    "prefill_layer_overhead_s": ("eager_prefill", True, 0.0),
    "closed_loop_sync": ("closed_loop_ttft", True, None),
}


def _yaml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


def inert_overrides(values: Mapping[str, Any], resolved: PerfConstants) -> list[str]:
    """One message per constant the user wrote in ``values`` that ``resolved``'s switches make the model ignore,
    so a scenario can refuse it instead of dropping it silently. Only keys in ``values`` count: the version set
    gives the host constants to every engine, and the calibration fit passes them for every engine, so neither
    :meth:`PerfConstants.from_mapping` nor a default may trip this."""
    defaults = PerfConstants.from_mapping({}, engine=resolved.engine, version=resolved.version)
    problems = []
    for name, (switch, acts_when, neutral) in GATED_CONSTANTS.items():
        if name not in values or getattr(resolved, switch) == acts_when:
            continue
        value = getattr(resolved, name)
        if value == (getattr(defaults, name) if neutral is None else neutral):
            continue
        source = ("your perf: mapping" if switch in values else "the engine profile" if switch in ENGINE_FIELDS
                  else f"the {resolved.version} constants set")
        problems.append(
            f"{name}: {_yaml(value)} would be ignored: it acts only when {switch} is {_yaml(acts_when)}, but "
            f"{switch} is {_yaml(getattr(resolved, switch))} (from {source}; engine {resolved.engine!r}, model "
            f"{resolved.version}); set `{switch}: {_yaml(acts_when)}` under perf: to make it act, or drop the key")
    return problems


__all__ = ["ARCHS", "ENGINE_FIELDS", "GATED_CONSTANTS", "OLD_ARCHS", "PERF_SETS", "PERF_V2", "PerfConstants", "VERSIONS",
           "inert_overrides"]
