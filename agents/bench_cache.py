"""A cache of benchmark runs and reference values (``hetserve benchmark --cache DIR``).

Why: planners that take minutes per episode and a hindsight bound at a minute per episode make a full benchmark
cost an hour; a researcher adding one agent to a scorecard should pay for that agent only. An entry is keyed by
everything its numbers depend on: the env id and kwargs, the split, the episodes (days × noise seeds, σ), the
policy spec with its load and env kwargs, the content of a model file it names, the solver time limits, and the
content of every file of the ``hetserve_env``, ``baselines`` and ``agents`` packages. A code or data change is a
miss, never a stale hit; the scorecard lists what came from the cache.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Any

from hetserve_env.runs import atomic_write

_PACKAGES = ("hetserve_env", "baselines", "agents")
_ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 over the path and content of every file of the three packages (bytecode caches excluded)."""
    h = hashlib.sha256()
    for pkg in _PACKAGES:
        for p in sorted((_ROOT / pkg).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and not p.is_relative_to(_ROOT / "agents" / "models"):
                h.update(str(p.relative_to(_ROOT)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def files_digest(spec: str) -> str | None:
    """Content digest of the model files a policy spec names (a ``.zip`` with its record and VecNormalize
    statistics, or a training run directory's model files); ``None`` when the spec names no file."""
    p = Path(str(spec).split("=", 1)[-1])
    if not p.exists():
        return None
    files = [p] if p.is_file() else sorted(q for q in p.glob("*") if q.is_file())
    if p.is_file():
        files += sorted(q for q in p.parent.glob(p.stem + "*") if q != p and q.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


class RunCache:
    """Pickled benchmark results under ``root``, keyed by :meth:`key`; ``hits`` names what was reused."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.hits: list[str] = []

    def key(self, **parts: Any) -> str:
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256((text + source_digest()).encode()).hexdigest()[:32]

    def get(self, key: str, what: str) -> Any | None:
        path = self.root / f"{key}.pkl"
        if not path.exists():
            return None
        with path.open("rb") as fh:
            value = pickle.load(fh)
        self.hits.append(what)
        return value

    def put(self, key: str, value: Any) -> None:
        atomic_write(self.root / f"{key}.pkl", lambda p: Path(p).write_bytes(pickle.dumps(value)))


__all__ = ["RunCache", "files_digest", "source_digest"]
