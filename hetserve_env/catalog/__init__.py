"""The sourced catalog: GPU types, precisions, LLM architectures and per-task base error rates.

>>> from hetserve_env.catalog import load_catalog
>>> cat = load_catalog()                      # bundled data, every row cited (data/SOURCES.md)
>>> cat.gpu("H100-SXM").price_per_hour        # AWS us-east-1 on-demand, $/GPU-hour
12.29
>>> cat.model("Llama-3.1-8B").kv_bytes_per_token
131072
>>> round(cat.model("Llama-3.1-70B").weight_gb(cat.precision("fp16")), 1)
141.2
>>> cat.base_error("Llama-3.1-8B", "code")    # 1 - HumanEval pass@1 / 100
0.274
>>> cheap = cat.with_overrides(gpus={"H100-SXM": {"price_per_hour": 2.5}})
>>> # mine = merge_catalog(cat, "my-catalog.yaml")  # add GPU types / models (docs/your-own.md)

Importing this package pulls in only the standard library.
"""

from .core import Catalog
from .loader import DATA_DIR, load_catalog
from .types import TASKS, CatalogError, GPUType, ModelSpec, Precision, QualityEntry
from .user import merge_catalog

__all__ = [
    "TASKS",
    "Catalog",
    "CatalogError",
    "DATA_DIR",
    "GPUType",
    "ModelSpec",
    "Precision",
    "QualityEntry",
    "load_catalog",
    "merge_catalog",
]
