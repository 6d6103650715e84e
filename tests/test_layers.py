"""The layering rules of docs/architecture.md hold: no upward import, no cycle, no private name across modules."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts" / "check_layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_packages_obey_the_layering_rules() -> None:
    problems, graph = _checker().check(ROOT)
    assert problems == []
    assert {"hetserve_env.env", "baselines.milp", "agents.train"} <= set(graph)


def test_the_checker_sees_each_kind_of_violation(tmp_path: Path) -> None:
    """A tree with an upward import, a cycle and a private import: each is reported (the check can fail)."""
    files = {
        "hetserve_env/__init__.py": "",
        "hetserve_env/a.py": "def f():\n    from baselines import b  # lazy, still an import\n",
        "hetserve_env/c.py": "from .d import x\n_y = 1\n",
        "hetserve_env/d.py": "from .c import _y\nx = 2\n",
        "baselines/__init__.py": "",
        "baselines/b.py": "",
        "agents/__init__.py": "",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    problems, _ = _checker().check(tmp_path)
    text = "\n".join(problems)
    assert "upward import: hetserve_env.a" in text and "baselines.b" in text
    assert "import cycle: hetserve_env.c -> hetserve_env.d -> hetserve_env.c" in text
    assert "private name: hetserve_env.d" in text and "_y" in text
