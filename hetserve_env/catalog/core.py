"""The :class:`Catalog`: an immutable, cross-validated set of GPU types, precisions, models and
per-task quality, with name lookups that suggest close matches and validated overrides."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from .types import TASKS, CatalogError, GPUType, ModelSpec, Precision, QualityEntry, closest_name

__all__ = ["Catalog", "FrozenDict"]

R = TypeVar("R", GPUType, Precision, ModelSpec, QualityEntry)


class FrozenDict(dict):  # type: ignore[type-arg]
    """A read-only ``dict`` (picklable and deep-copyable, unlike ``types.MappingProxyType``)."""

    __slots__ = ()

    def _readonly(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("catalog mappings are read-only; use Catalog.with_overrides()")

    __setitem__ = __delitem__ = _readonly  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self  # values are frozen dataclasses

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def _unknown_message(kind: str, name: Any, known: Iterable[str]) -> str:
    """``unknown GPU type 'H300'; did you mean 'H200'? known: A10G, ...``"""
    known = sorted(str(k) for k in known)
    match = closest_name(str(name), known)
    hint = f"; did you mean {match!r}?" if match else ";"
    return f"unknown {kind} {name!r}{hint} known: {', '.join(known)}"


def _unknown(kind: str, name: Any, known: Iterable[str]) -> NoReturn:
    raise CatalogError(_unknown_message(kind, name, known))


@dataclass(frozen=True)
class Catalog:
    """GPU types, precisions, models and base error rates, keyed by name.

    Build one with :func:`hetserve_env.catalog.load_catalog` (the bundled, sourced data by default).
    The mappings are read-only; derive a modified catalog with :meth:`with_overrides` or
    :meth:`subset`.

    Attributes:
        gpus: GPU type name -> :class:`GPUType`.
        precisions: precision name -> :class:`Precision`.
        models: model name -> :class:`ModelSpec`.
        quality: ``(model, task)`` -> :class:`QualityEntry`; every model has every task in
            :data:`TASKS`.
    """

    gpus: Mapping[str, GPUType]
    precisions: Mapping[str, Precision]
    models: Mapping[str, ModelSpec]
    quality: Mapping[tuple[str, str], QualityEntry]

    def __post_init__(self) -> None:
        for attr, cls in (("gpus", GPUType), ("precisions", Precision), ("models", ModelSpec)):
            mapping = getattr(self, attr)
            for key, record in mapping.items():
                if not isinstance(record, cls):
                    raise CatalogError(f"{attr}[{key!r}] must be a {cls.__name__}, got {record!r}")
                if key != record.name:
                    raise CatalogError(f"{attr} key {key!r} differs from the record's name {record.name!r}")
            object.__setattr__(self, attr, FrozenDict(mapping))

        quality = {}
        for key, entry in self.quality.items():
            if not isinstance(entry, QualityEntry):
                raise CatalogError(f"quality[{key!r}] must be a QualityEntry, got {entry!r}")
            if tuple(key) != entry.key:
                raise CatalogError(f"quality key {key!r} differs from the entry's (model, task) {entry.key!r}")
            if entry.model not in self.models:
                raise CatalogError(
                    f"quality entry (task {entry.task!r}) for an "
                    + _unknown_message("model", entry.model, self.models)
                )
            quality[entry.key] = entry
        for model in self.models:
            missing = [task for task in TASKS if (model, task) not in quality]
            if missing:
                raise CatalogError(
                    f"model {model!r} has no quality entry for task(s) {', '.join(missing)} "
                    f"(every model needs all of {', '.join(TASKS)})"
                )
        object.__setattr__(self, "quality", FrozenDict(quality))

    # ---------------------------------------------------------------- lookups

    def gpu(self, name: str) -> GPUType:
        """The GPU type called ``name``; unknown names raise :class:`CatalogError` with a suggestion."""
        try:
            return self.gpus[name]
        except (KeyError, TypeError):
            _unknown("GPU type", name, self.gpus)

    def precision(self, name: str) -> Precision:
        """The precision called ``name``; unknown names raise :class:`CatalogError`."""
        try:
            return self.precisions[name]
        except (KeyError, TypeError):
            _unknown("precision", name, self.precisions)

    def model(self, name: str) -> ModelSpec:
        """The model called ``name``; unknown names raise :class:`CatalogError`."""
        try:
            return self.models[name]
        except (KeyError, TypeError):
            _unknown("model", name, self.models)

    def quality_entry(self, model: str, task: str) -> QualityEntry:
        """The :class:`QualityEntry` of ``model`` on ``task`` (both names validated)."""
        self.model(model)
        if task not in TASKS:
            _unknown("task", task, TASKS)
        return self.quality[(model, task)]

    def base_error(self, model: str, task: str) -> float:
        """Base (FP16) error rate of ``model`` on ``task``; multiply by the precision's
        ``error_multiplier`` for a quantised tier."""
        return self.quality_entry(model, task).error

    # ---------------------------------------------------------------- derived catalogs

    def with_overrides(
        self,
        gpus: Mapping[str, Mapping[str, Any]] | None = None,
        precisions: Mapping[str, Mapping[str, Any]] | None = None,
        models: Mapping[str, Mapping[str, Any]] | None = None,
        quality: Mapping[tuple[str, str] | str, Mapping[str, Any]] | None = None,
    ) -> Catalog:
        """A new, validated catalog with some fields replaced.

        Example: ``cat.with_overrides(gpus={"H100-SXM": {"price_per_hour": 2.5}})``.
        ``quality`` keys are ``(model, task)`` tuples or ``"model/task"`` strings.
        Unknown records or field names, renames and invalid values raise :class:`CatalogError`.
        """
        new_gpus = _apply(self.gpus, gpus, "GPU type", GPUType, self.gpu)
        new_precisions = _apply(self.precisions, precisions, "precision", Precision, self.precision)
        new_models = _apply(self.models, models, "model", ModelSpec, self.model)
        quality_changes: dict[tuple[str, str], Mapping[str, Any]] = {}
        for key, change in (quality or {}).items():
            if isinstance(key, str):
                model, sep, task = key.partition("/")
                if not sep:
                    raise CatalogError(f"quality override key {key!r} must be (model, task) or 'model/task'")
                key = (model, task)
            entry = self.quality_entry(*key)
            quality_changes[entry.key] = change
        new_quality = _apply(self.quality, quality_changes, "quality entry", QualityEntry, self.quality.__getitem__)
        return Catalog(new_gpus, new_precisions, new_models, new_quality)

    def subset(
        self,
        gpus: Iterable[str] | None = None,
        precisions: Iterable[str] | None = None,
        models: Iterable[str] | None = None,
    ) -> Catalog:
        """A catalog restricted to the named GPU types / precisions / models (``None`` keeps all),
        in the order given; quality entries follow the kept models."""
        new_gpus = self.gpus if gpus is None else {n: self.gpu(n) for n in gpus}
        new_prec = self.precisions if precisions is None else {n: self.precision(n) for n in precisions}
        new_models = self.models if models is None else {n: self.model(n) for n in models}
        new_quality = {k: v for k, v in self.quality.items() if k[0] in new_models}
        return Catalog(new_gpus, new_prec, new_models, new_quality)

    def __repr__(self) -> str:
        return (
            f"Catalog({len(self.gpus)} GPU types: {', '.join(self.gpus)}; "
            f"{len(self.precisions)} precisions: {', '.join(self.precisions)}; "
            f"{len(self.models)} models)"
        )


def _apply(
    current: Mapping[Any, R],
    changes: Mapping[Any, Mapping[str, Any]] | None,
    kind: str,
    cls: type[R],
    lookup: Any,
) -> dict[Any, R]:
    out = dict(current)
    if not changes:
        return out
    allowed = cls.field_names()
    key_fields = ("model", "task") if cls is QualityEntry else ("name",)
    for key, change in changes.items():
        record = lookup(key)  # raises CatalogError for unknown names
        label = f"{kind} {key!r}"
        if not isinstance(change, Mapping):
            raise CatalogError(f"override of {label} must be a mapping of field -> value, got {change!r}")
        unknown = [f for f in change if f not in allowed]
        if unknown:
            field = unknown[0]
            match = closest_name(str(field), allowed)
            hint = f"; did you mean {match!r}?" if match else ";"
            raise CatalogError(
                f"override of {label}: unknown field {field!r}{hint} fields: {', '.join(allowed)}"
            )
        for f in key_fields:
            if f in change and change[f] != getattr(record, f):
                raise CatalogError(f"override of {label}: field {f!r} cannot be changed (it is the key)")
        try:
            out[key] = dataclasses.replace(record, **change)
        except CatalogError as err:
            raise CatalogError(f"override of {label}: {err}") from None
    return out
