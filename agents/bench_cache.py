"""A cache of benchmark runs and reference values (``hetserve benchmark --cache DIR``).

Why: planners that take minutes per episode and a hindsight bound at a minute per episode make a full benchmark
cost an hour; a researcher adding one agent to a scorecard should pay for that agent only. An entry is keyed by
everything its numbers depend on: the env id and kwargs, the split, the episodes (days × noise seeds, σ), the
policy spec with its load and env kwargs, the content of a model file it names, the solver time limits, the
content of every file of the ``hetserve_env``, ``baselines`` and ``agents`` packages (where Python imports them
from), and the Python version and the versions of the libraries that compute an episode (:data:`DEPENDENCIES`). A
code, data or library change is a miss, never a stale hit; the scorecard lists what came from the cache. A
:class:`agents.bench_refs.Reference` passed as an object is keyed by its name; a ``module:attr`` policy is
never cached (:func:`imports_code`).
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import importlib.util
import json
import pickle
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, TypeVar

from hetserve_env.runs import atomic_write

T = TypeVar("T")
_PACKAGES = ("hetserve_env", "baselines", "agents")
#: distributions whose code decides an episode's numbers (env kernels, solvers, forecasters, agents)
DEPENDENCIES = ("numpy", "numba", "scipy", "pandas", "highspy", "pulp", "gymnasium", "torch", "stable-baselines3",
                "sb3-contrib")


def _package_dir(pkg: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"package {pkg!r} cannot be found, so the benchmark cache cannot key on its code")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


@lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 over the path and content of every file of the three packages where Python imports them from
    (bytecode caches and ``agents/models`` excluded: a model is keyed by its own files), the Python version and the
    versions of :data:`DEPENDENCIES`."""
    h = hashlib.sha256(f"python {platform.python_version()}".encode())
    for dist in DEPENDENCIES:
        h.update(f"{dist} {_version(dist)}".encode())
    for pkg in _PACKAGES:
        root = _package_dir(pkg)
        models = root / "models" if pkg == "agents" else None
        for p in sorted(root.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and not (models and p.is_relative_to(models)):
                h.update(str(Path(pkg) / p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def files_digest(spec: str) -> str | None:
    """Content digest of the files a policy spec names: a ``.zip`` with the files next to it that share its stem
    (record, VecNormalize statistics), or every file under a directory (an RLlib checkpoint, a training run);
    ``None`` when the spec names no file."""
    p = Path(str(spec).split("=", 1)[-1])
    if not p.exists():
        return None
    if p.is_dir():
        base, files = p, sorted(q for q in p.rglob("*") if q.is_file())
    else:
        base = p.parent
        files = [p, *sorted(q for q in base.glob(glob.escape(p.stem) + "*") if q != p and q.is_file())]
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(base)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def imports_code(spec: str) -> bool:
    """Whether a policy spec is ``module:attr`` (your own policy, docs/your-own.md): code outside the packages that
    the key cannot cover, so its runs are computed every time, never taken from the cache."""
    p = Path(str(spec))
    return ":" in str(spec) and not p.exists() and not p.with_suffix(".zip").exists()


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


def cached(cache: RunCache | None, what: str, compute: Callable[[], T], **parts: Any) -> T:
    """``compute()``, or its value stored under ``parts`` in ``cache`` (``what`` names a hit); no cache: compute."""
    if cache is None:
        return compute()
    key = cache.key(**parts)
    value = cache.get(key, what)
    if value is None:
        value = compute()
        cache.put(key, value)
    return value


__all__ = ["DEPENDENCIES", "RunCache", "cached", "files_digest", "imports_code", "source_digest"]
