"""Where the bundled demand data lives, and what it must contain.

The bundle (``hetserve_env/traces/data/``) is re-created from the project's ``shared/data`` folder by
``scripts/prepare_traces.py``, which checks every file against :data:`MANIFEST`. Nothing is downloaded at run
time. Licenses and attribution: ``data/ATTRIBUTION.md`` and ``hetserve_env/NOTICE``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["DATA_DIR", "MANIFEST", "AZURE_TRACES", "SERVEGEN_RATES", "SERVEGEN_TOKENS", "bundled_path", "sha256"]

DATA_DIR = Path(__file__).resolve().parent / "data"

AZURE_TRACES = {
    "code": "azure/AzureLLMInferenceTrace_code.csv",
    "conv": "azure/AzureLLMInferenceTrace_conv.csv",
}
SERVEGEN_RATES = "servegen/servegen_rate_10min.csv"
SERVEGEN_TOKENS = "servegen/servegen_tokens_6h.csv"

#: bundle path -> (source path relative to ``shared/data``, bytes, sha256). The Azure hashes are the ones in
#: ``shared/data/azure_llm_trace/SOURCE.md``; ServeGen's SOURCE.md gives sizes and row counts only, so its
#: hashes were computed from the shared files when the bundle was first made.
MANIFEST: dict[str, tuple[str, int, str]] = {
    AZURE_TRACES["code"]: (
        "azure_llm_trace/AzureLLMInferenceTrace_code.csv",
        320_117,
        "54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6",
    ),
    AZURE_TRACES["conv"]: (
        "azure_llm_trace/AzureLLMInferenceTrace_conv.csv",
        719_188,
        "2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8",
    ),
    SERVEGEN_RATES: (
        "servegen/derived/servegen_rate_10min.csv",
        371_348,
        "11944f8c2c52612ca08d46cb9c229231a47e33c0e8395b1260ef317dc76aa940",
    ),
    SERVEGEN_TOKENS: (
        "servegen/derived/servegen_tokens_6h.csv",
        14_276,
        "d8420533676358ce7662dc62c64049167f725cf7e07ff7cbb78ad330a2b0e244",
    ),
    "servegen/LICENSE": (
        "servegen/LICENSE",
        11_357,
        "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
    ),
}


def bundled_path(name: str) -> Path:
    """Absolute path of a bundled file, e.g. ``bundled_path("servegen/servegen_rate_10min.csv")``."""
    return DATA_DIR / name


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
