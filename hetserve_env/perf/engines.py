"""Serving-engine profiles: how an engine sizes its KV cache, how many sequences it runs, whether it chunks
prefills and in which precision it keeps the KV cache (docs/model.md §3, "Engine profiles").

A scenario selects one with the top-level key ``engine:`` (default ``vllm``); any field can still be
overridden under ``perf:``. The profile only sets the defaults of the matching :class:`PerfConstants` fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: KV-cache precisions: ``fp16`` (2 bytes per value), ``fp8`` (1 byte), ``auto`` (FP8 on templates that
#: compute in FP8, i.e. W8A8 on an FP8-capable GPU; FP16 elsewhere).
KV_PRECISIONS: tuple[str, ...] = ("fp16", "fp8", "auto")
#: Memory rules: ``total`` — the engine may use ``memory_utilisation`` x total memory for weights,
#: activations and KV cache together (vLLM ``gpu_memory_utilization``, SGLang ``mem_fraction_static``);
#: ``free`` — the KV cache gets ``memory_utilisation`` x what is left after weights and activations
#: (TensorRT-LLM ``kv_cache_free_gpu_memory_fraction``).
MEMORY_RULES: tuple[str, ...] = ("total", "free")


@dataclass(frozen=True)
class EngineProfile:
    """Defaults one engine gives the engine-dependent performance constants.

    Sources (each figure is the engine's documented default unless marked):

    ``eager_prefill``: the engine runs prefill as eager PyTorch kernels, one launch per operation and layer (vLLM
    and SGLang capture CUDA graphs for decode batches only; vLLM docs "CUDA graphs", SGLang server arguments
    ``cuda_graph_max_bs``); TensorRT-LLM runs a compiled engine for both phases. It only acts through model v2's
    ``prefill_layer_overhead_s`` (0 in v1).

    ``host_overlap``: the engine overlaps its per-step host work (scheduling, input preparation, sampling,
    detokenisation) with the GPU's previous step, so model v2's ``host_per_seq_s`` and ``host_ttft_s`` are hidden.
    TensorRT-LLM: its overlap scheduler is "Enabled by default" (TensorRT-LLM docs, "Overlap Scheduler"); SGLang:
    the zero-overhead batch scheduler, default since v0.4 (LMSYS blog 2024-12-04, "SGLang v0.4"); vLLM: no (the
    V1 blog, 2025-01-24, names exactly that CPU work as the overhead that grows "as GPUs are getting faster";
    asynchronous scheduling is an opt-in flag, not the default). Only model v2 reads it (its host constants are 0
    in v1).

    Every profile batches prefill tokens up to 8,192 per step (``prefill_batch_tokens``: vLLM V1
    ``max_num_batched_tokens`` for the OpenAI server, WEAK; TensorRT-LLM ``max_num_tokens`` 8192, trtllm-serve
    docs; SGLang ``chunked_prefill_size`` 8192, server-arguments docs).

    vllm: ``gpu_memory_utilization`` 0.9 of total memory (vLLM engine arguments docs), ``max_num_seqs`` 256
        (vLLM engine arguments docs), chunked prefill on (default of the V1 engine), ``kv_cache_dtype auto``
        = the model's 16-bit dtype even for FP8 checkpoints (vLLM FP8 docs); activation reserve 1 GB per GPU
        ESTIMATE (vLLM profiles one forward pass of ``max_num_batched_tokens`` and keeps its peak).
    sglang: ``mem_fraction_static`` 0.88 of total (SGLang server-arguments docs: the default is chosen from
        the GPU memory; 0.88 is the 80 GB value, WEAK), no fixed cap on running requests (derived from the
        KV pool; 2048 used as a cap, ESTIMATE), chunked prefill on (``chunked_prefill_size`` 8192), FP16 KV.
    trtllm: ``kv_cache_free_gpu_memory_fraction`` 0.9 of the memory left after weights and buffers
        (trtllm-serve docs, TensorRT-LLM 0.18), ``max_batch_size`` 2048 (TensorRT-LLM build default, WEAK:
        newer trtllm-serve releases document smaller defaults), chunked prefill off by default, FP8 KV cache
        on FP8 templates (``auto``; ESTIMATE: NVIDIA's FP8 recipes quantise the KV cache too).
    """

    name: str
    memory_utilisation: float
    memory_rule: str
    activation_reserve_gb: float
    max_num_seqs: int
    chunked_prefill: bool
    kv_precision: str
    prefill_batch_tokens: int = 8192
    eager_prefill: bool = True
    host_overlap: bool = False

    def defaults(self) -> dict[str, Any]:
        """The PerfConstants fields this profile sets."""
        return {k: getattr(self, k) for k in ENGINE_FIELDS} | {"engine": self.name}


ENGINE_FIELDS: tuple[str, ...] = ("memory_utilisation", "memory_rule", "activation_reserve_gb", "max_num_seqs",
                                  "chunked_prefill", "kv_precision", "prefill_batch_tokens", "eager_prefill",
                                  "host_overlap")

ENGINES: dict[str, EngineProfile] = {
    "vllm": EngineProfile("vllm", 0.9, "total", 1.0, 256, True, "fp16"),
    "sglang": EngineProfile("sglang", 0.88, "total", 1.0, 2048, True, "fp16", host_overlap=True),
    "trtllm": EngineProfile("trtllm", 0.9, "free", 1.0, 2048, False, "auto", eager_prefill=False, host_overlap=True),
}
#: The default engine of a scenario.
DEFAULT_ENGINE = "vllm"
