"""The performance model (docs/model.md §3): constants, engine profiles, template hardware and the
two-phase serving model.

>>> from hetserve_env.perf import PerfConstants, evaluate_templates
>>> PerfConstants.from_mapping({}, engine="trtllm").max_num_seqs
2048
"""

from .constants import ARCHS, GATED_CONSTANTS, OLD_ARCHS, PERF_SETS, PERF_V2, VERSIONS, PerfConstants, inert_overrides
from .engines import DEFAULT_ENGINE, ENGINE_FIELDS, ENGINES, KV_PRECISIONS, MEMORY_RULES, EngineProfile
from .hardware import (BINDING_NAMES, GB, TFLOP, PerfTable, TemplateHardware, arch_factors, kv_space_bytes,
                       kv_value_factor)
from .model import evaluate_templates, latency_at_utilisation, operating_point, weights_read

__all__ = [
    "ARCHS", "BINDING_NAMES", "PERF_SETS", "PERF_V2", "VERSIONS", "DEFAULT_ENGINE", "ENGINE_FIELDS", "ENGINES", "GB", "KV_PRECISIONS", "MEMORY_RULES", "OLD_ARCHS",
    "TFLOP", "EngineProfile", "PerfConstants", "PerfTable", "TemplateHardware", "arch_factors",
    "evaluate_templates", "kv_space_bytes", "operating_point", "kv_value_factor", "latency_at_utilisation", "weights_read",
    "GATED_CONSTANTS", "inert_overrides",
]
