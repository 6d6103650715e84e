"""Your own catalog: GPU types, precisions, models and quality entries merged over the bundled ones.

A user catalog is a YAML file (or a folder with any of the four CSV files of the bundled catalog, same
columns) holding whole records, each with a ``source``::

    gpus:
      - {name: B200, memory_gb: 192, bandwidth_gbs: 8000, fp16_tflops: 2250, link_gbs: 900,
         gpus_per_node: 8, price_per_hour: 14.0, default_inventory: 16, fp8: true,
         source: "NVIDIA B200 datasheet; price: my quote"}
    models: []        # ModelSpec records (name, family, params_b, active_params_b, layers, hidden, ...)
    precisions: []    # Precision records
    quality: []       # QualityEntry records (model, task, error, benchmark, score, source); a new model
                      # needs one per task in TASKS

A record whose name exists replaces the bundled one (the file says so in ``replaced``); a new name is added.
``catalog_overrides`` in a scenario can only change fields of existing records; this file can add records.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .core import Catalog
from .loader import FILES, load_records
from .types import CatalogError, GPUType, ModelSpec, Precision, QualityEntry

__all__ = ["PARTS", "load_user_records", "merge_catalog"]

#: catalog part -> record class (the keys a user catalog file may have)
PARTS: dict[str, type] = {"gpus": GPUType, "precisions": Precision, "models": ModelSpec, "quality": QualityEntry}


def _records_from_yaml(path: Path) -> dict[str, dict[Any, Any]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, Mapping):
        raise CatalogError(f"{path}: expected a mapping with keys {', '.join(PARTS)}, got {type(data).__name__}")
    unknown = [k for k in data if k not in PARTS]
    if unknown:
        raise CatalogError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(PARTS)}")
    out: dict[str, dict[Any, Any]] = {}
    for part, cls in PARTS.items():
        items = data.get(part) or []
        if not isinstance(items, list):
            raise CatalogError(f"{path}: {part}: expected a list of records, got {type(items).__name__}")
        recs: dict[Any, Any] = {}
        for k, item in enumerate(items):
            where = f"{path}: {part}[{k}]"
            if not isinstance(item, Mapping):
                raise CatalogError(f"{where}: expected a mapping of field -> value, got {item!r}")
            allowed = cls.field_names()
            bad = [f for f in item if f not in allowed]
            missing = [f for f in cls.required_field_names() if f not in item]
            if bad or missing:
                what = f"unknown field {bad[0]!r}" if bad else f"missing field(s) {', '.join(missing)}"
                raise CatalogError(f"{where}: {what}; fields: {', '.join(allowed)}")
            try:
                rec = cls(**item)
            except CatalogError as err:
                raise CatalogError(f"{where}: {err}") from None
            key = rec.key if cls is QualityEntry else rec.name
            if key in recs:
                raise CatalogError(f"{where}: duplicate {key!r}")
            recs[key] = rec
        out[part] = recs
    return out


def _records_from_dir(path: Path) -> dict[str, dict[Any, Any]]:
    present = {part: path / name for part, name in FILES.items() if (path / name).is_file()}
    if not present:
        raise CatalogError(f"{path}: no catalog file found (expected any of {', '.join(FILES.values())})")
    return {part: load_records(f, PARTS[part]) for part, f in present.items()}


def load_user_records(path: str | Path) -> dict[str, dict[Any, Any]]:
    """The records of a user catalog (YAML file or folder of CSV files), validated one by one."""
    p = Path(path)
    if p.is_dir():
        return _records_from_dir(p)
    if not p.is_file():
        raise CatalogError(f"catalog file {str(p)!r} does not exist")
    return _records_from_yaml(p)


def merge_catalog(base: Catalog, path: str | Path) -> Catalog:
    """``base`` with the records of the user catalog at ``path`` added (new names) or replacing (same names).

    The merged catalog is cross-validated as a whole: e.g. a new model without a quality entry for every task
    raises :class:`CatalogError` naming the model and the missing tasks.
    """
    recs = load_user_records(path)
    parts = {part: {**getattr(base, part), **recs.get(part, {})} for part in PARTS}
    try:
        return Catalog(parts["gpus"], parts["precisions"], parts["models"], parts["quality"])
    except CatalogError as err:
        raise CatalogError(f"{path}: {err}") from None
