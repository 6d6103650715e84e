"""Output folders of long jobs (``hetserve compare``, ``scripts/reproduce_paper.py``): a fresh run folder by
default, atomic file writes, and an ``INCOMPLETE`` marker that only a finished run removes.

Why: a job that is interrupted must not leave files that look like finished results, and a new run must not
overwrite committed results (``results/``) unless asked to with ``--out``.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["MARKER", "atomic_write", "atomic_write_text", "resolve_out", "run_marker"]

#: the file that marks an unfinished run folder
MARKER = "INCOMPLETE"


def resolve_out(out: str | Path | None, kind: str, root: str | Path = "runs") -> Path:
    """Where a job writes: ``out`` (relative to the current directory), else a fresh
    ``<root>/<kind>-YYYYmmdd-HHMMSS`` folder (with ``-2``, ``-3``, … if that name is taken)."""
    if out is not None:
        return (Path.cwd() / Path(out)).resolve() if not Path(out).is_absolute() else Path(out)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path.cwd() / root / f"{kind}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path`` (same suffix), then rename it to ``path``:
    a reader never sees a half-written file, and an interrupted write leaves the old file in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of a text file (UTF-8)."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


@contextmanager
def run_marker(out: Path, command: str = "") -> Iterator[Path]:
    """Create ``out`` with an ``INCOMPLETE`` marker; remove the marker only if the block finishes.

    An exception (or Ctrl-C) leaves the marker, with the reason appended, so a reader can tell."""
    out.mkdir(parents=True, exist_ok=True)
    marker = out / MARKER
    started = _dt.datetime.now().isoformat(timespec="seconds")
    atomic_write_text(marker, f"started {started}\ncommand: {command}\nThis run has not finished; its files "
                              "may be partial.\n")
    try:
        yield out
    except BaseException as exc:
        with marker.open("a", encoding="utf-8") as fh:
            fh.write(f"stopped: {type(exc).__name__}: {exc}\n")
        raise
    marker.unlink(missing_ok=True)
