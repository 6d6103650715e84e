"""Read and validate the four catalog CSV files (``gpus.csv``, ``precisions.csv``, ``models.csv``,
``quality.csv``) into a :class:`~hetserve_env.catalog.core.Catalog`.

File format: a header row with (at least) the record's required columns, one record per row.
Blank rows and rows whose first cell starts with ``#`` are skipped; extra columns are ignored;
cells are stripped of surrounding whitespace.  Every problem raises :class:`CatalogError` naming
the file, the line and row key, and the column.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .core import Catalog
from .types import CatalogError, GPUType, ModelSpec, Precision, QualityEntry

__all__ = ["DATA_DIR", "FILES", "load_catalog", "load_records"]

#: The bundled, sourced catalog (see ``data/SOURCES.md``).
DATA_DIR: Path = Path(__file__).resolve().parent / "data"

#: Catalog part -> file name inside a catalog directory.
FILES: dict[str, str] = {
    "gpus": "gpus.csv",
    "precisions": "precisions.csv",
    "models": "models.csv",
    "quality": "quality.csv",
}


def load_catalog(directory: str | Path | None = None) -> Catalog:
    """Load and validate a catalog.

    Args:
        directory: a folder holding ``gpus.csv``, ``precisions.csv``, ``models.csv`` and
            ``quality.csv``; ``None`` loads the bundled, sourced catalog (cached: repeated calls
            return the same immutable object).

    Raises:
        CatalogError: a file is missing or malformed (message names file, row and column).
    """
    if directory is None:
        return _load_bundled()
    return _load_directory(Path(directory))


@functools.lru_cache(maxsize=1)
def _load_bundled() -> Catalog:
    return _load_directory(DATA_DIR)


def _load_directory(directory: Path) -> Catalog:
    if not directory.is_dir():
        raise CatalogError(f"catalog directory not found: {directory}")
    gpus = _load_records(directory / FILES["gpus"], GPUType)
    precisions = _load_records(directory / FILES["precisions"], Precision)
    models = _load_records(directory / FILES["models"], ModelSpec)
    quality = _load_records(directory / FILES["quality"], QualityEntry)
    try:
        return Catalog(gpus, precisions, models, quality)
    except CatalogError as err:
        raise CatalogError(f"{directory}: {err}") from None


def load_records(path: Path, cls: type[Any]) -> dict[Any, Any]:
    """The validated records of one catalog CSV file (``cls``: GPUType, Precision, ModelSpec, QualityEntry)."""
    return _load_records(path, cls)


def _load_records(path: Path, cls: type[Any]) -> dict[Any, Any]:
    required = cls.required_field_names()
    optional = [f for f in cls.field_names() if f not in required]
    out: dict[Any, Any] = {}
    first_line: dict[Any, int] = {}
    for line, row in _read_rows(path, required):
        key: Any = (row.get("model", ""), row.get("task", "")) if cls is QualityEntry else row.get("name", "")
        label = f"{key[0]}/{key[1]}" if cls is QualityEntry else key
        values = {name: row[name] for name in required}
        values.update({name: row[name] for name in optional if name in row})
        try:
            record = cls(**values)
        except CatalogError as err:
            raise CatalogError(f"{path.name}: line {line} ({label!r}): {err}") from None
        key = record.key if cls is QualityEntry else record.name
        if key in out:
            what = "(model, task)" if cls is QualityEntry else "name"
            raise CatalogError(
                f"{path.name}: line {line}: duplicate {what} {label!r} (first defined on line {first_line[key]})"
            )
        out[key] = record
        first_line[key] = line
    if not out:
        raise CatalogError(f"{path.name}: no data rows")
    return out


def _read_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header: list[str] | None = None
        for cells in reader:
            if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                duplicates = sorted({c for c in header if header.count(c) > 1 and c})
                if duplicates:
                    raise CatalogError(f"{path.name}: duplicate column(s) {', '.join(map(repr, duplicates))}")
                missing = [c for c in required if c not in header]
                if missing:
                    raise CatalogError(
                        f"{path.name}: missing column(s) {', '.join(map(repr, missing))} "
                        f"(found: {', '.join(c for c in header if c)})"
                    )
                continue
            if len(cells) != len(header):
                raise CatalogError(
                    f"{path.name}: line {reader.line_num} has {len(cells)} cells but the header has "
                    f"{len(header)} columns (quote cells that contain commas)"
                )
            yield reader.line_num, {h: c.strip() for h, c in zip(header, cells) if h}
        if header is None:
            raise CatalogError(f"{path.name}: empty file (no header row)")
