"""YAML reading that refuses duplicate keys.

``yaml.safe_load`` keeps the last of two equal keys in a mapping without a word, so a scenario that sets
``budget_per_hour`` twice silently uses the second value. :func:`load_yaml` raises instead, naming the key
and both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader whose mappings reject a key given twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: let SafeLoader report it
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} on line {key_node.start_mark.line + 1} (first on line "
                    f"{first.start_mark.line + 1}); give each key once", None)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_yaml(path_or_text: str | Path) -> Any:
    """Parse a YAML file (a ``Path``) or text (a ``str``) like ``yaml.safe_load``, but a duplicate key in any
    mapping raises ``yaml.YAMLError`` naming the key and its lines."""
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  (a SafeLoader subclass)
