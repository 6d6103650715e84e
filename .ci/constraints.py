#!/usr/bin/env python3
"""Write or check ``constraints.txt``, the exact releases ``make`` installs (stdlib only, any Python 3).

    python3 .ci/constraints.py freeze VENV/bin/python    # rewrite constraints.txt from that venv (make constraints)
    python3 .ci/constraints.py diff VENV/bin/python      # releases in that venv that differ from constraints.txt
    python3 .ci/constraints.py freeze .venv-rllib/bin/python constraints-rllib.txt   # the rllib venv's pins

Why a script: the file's header must say how it was made, the editable hetserve line must go, and torch must be
written without its local label (``2.13.0+cpu`` -> ``2.13.0``) so the same file works wherever the CPU wheel
comes from.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "constraints.txt"
HEADER = """\
# Exact releases the test suite is known to pass with; `make` (setup, test, compare) installs with -c this file.
# Produced by `python3 .ci/constraints.py freeze VENV/bin/python` (`make constraints` runs it on .venv-latest;
# `make constraints FROM=.venv` on another venv): `pip freeze --all` of that venv without the editable hetserve
# line, torch without its local label (+cpu).
# Refresh: `make test-latest` (newest releases, smoke subset), then `make constraints`, then `make test` (the
# whole suite against the new pins; the .venv is re-made because this file changed), and commit this file.
# Upper bounds for releases known to break us belong in pyproject.toml, not here.
"""


#: header of constraints-rllib.txt (ray pins its own gymnasium, so the rllib extra has its own venv and pins)
HEADER_RLLIB = """\
# Exact releases of .venv-rllib (the rllib extra: ray[rllib,tune] with the gymnasium ray pins); `make test-rllib`
# installs with -c this file. Produced by `python3 .ci/constraints.py freeze .venv-rllib/bin/python
# constraints-rllib.txt`: `pip freeze --all` of that venv without the editable hetserve line, torch without +cpu.
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def freeze(python: str) -> dict[str, str]:
    """``{normalised name: version}`` of what ``python``'s venv has installed (editable installs left out)."""
    out = subprocess.run([python, "-m", "pip", "freeze", "--all", "--exclude-editable"], check=True,
                         capture_output=True, text=True).stdout
    pins = {}
    for line in out.splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line.strip())
        if m and _norm(m.group(1)) != "hetserve":
            pins[m.group(1)] = m.group(2).split("+", 1)[0]  # drop local labels (+cpu)
    return pins


def read(path: Path = FILE) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line.strip())
        if m:
            pins[m.group(1)] = m.group(2)
    return pins


def write(python: str, path: Path = FILE) -> None:
    pins = freeze(python)
    body = "".join(f"{name}=={ver}\n" for name, ver in sorted(pins.items(), key=lambda kv: _norm(kv[0])))
    tmp = path.with_suffix(".txt.tmp")
    tmp.write_text((HEADER_RLLIB if path.name == "constraints-rllib.txt" else HEADER) + body)
    tmp.replace(path)
    print(f"wrote {path.name}: {len(pins)} pinned releases from {python}")


def diff(python: str, path: Path = FILE) -> int:
    """Print the releases that differ between ``python``'s venv and ``path``; return how many."""
    have = {_norm(k): (k, v) for k, v in freeze(python).items()}
    want = {_norm(k): (k, v) for k, v in read(path).items()}
    rows = []
    for key in sorted(set(have) | set(want)):
        old, new = want.get(key, (None, "-"))[1], have.get(key, (None, "-"))[1]
        if old != new:
            rows.append((have.get(key, want.get(key))[0], old, new))
    venv = Path(python).parent.parent.name
    if not rows:
        print(f"{venv} has exactly the releases of {path.name} (no version differs)")
        return 0
    print(f"{len(rows)} release(s) in {venv} differ from {path.name} ({path.name} -> {venv}):")
    width = max(len(r[0]) for r in rows)
    for name, old, new in rows:
        print(f"  {name:<{width}}  {old} -> {new}")
    return len(rows)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[0] not in ("freeze", "diff"):
        print(__doc__, file=sys.stderr)
        return 2
    path = ROOT / argv[2] if len(argv) == 3 else FILE
    if argv[0] == "freeze":
        write(argv[1], path)
    else:
        diff(argv[1], path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
