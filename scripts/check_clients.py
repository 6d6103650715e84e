"""Which outside RL clients work with hetserve_env: one row per client, from a minimal real loop on
``hetserve_env/HetServeSmall-v1`` (the loops are in scripts/client_checks.py).

Each check runs in its own interpreter (``--python``, with ``--prepend`` dirs put before the worktree on
PYTHONPATH, e.g. a ``pip install --target`` dir holding another gymnasium or a client), so one client's imports
cannot hide another's failure, and the interpreter's exit is part of the check: the gymnasium check fails if
anything reaches stderr, including at exit (the old ``ImportError: sys.meta_path is None`` from ``close()``).
A client whose module is not importable is reported as ``absent``, not as working.

    python scripts/check_clients.py                                   # every check, this interpreter
    python scripts/check_clients.py --checks gymnasium --prepend /tmp/gym_1.0.0
    python scripts/check_clients.py --checks rllib --python .venv-rllib/bin/python

Prints one Markdown row per check: client | version | works/fails/absent | what was run | error (first line).
Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("cleanrl", "tianshou", "torchrl", "rllib", "rl_zoo", "gymnasium")
MARK = "@@client-check@@"

_CHILD = """
import importlib.util, json, sys, traceback
sys.path.insert(0, {scripts!r})
name = {name!r}
import client_checks
if importlib.util.find_spec(client_checks.REQUIRES[name]) is None:
    print({mark!r} + json.dumps(["absent", "", "", "module " + client_checks.REQUIRES[name] + " not importable"]))
    sys.exit(0)
try:
    version, what = client_checks.CHECKS[name]()
except Exception as exc:
    traceback.print_exc()
    first = (str(exc).strip().splitlines() or [""])[0]
    print({mark!r} + json.dumps(["fails", "", "", type(exc).__name__ + ": " + first]), flush=True)
    sys.exit(1)
print({mark!r} + json.dumps(["works", version, what, ""]), flush=True)
"""


def run_check(name: str, python: str, prepend: list[str], timeout: float = 1800) -> dict[str, str]:
    """Runs one check in a fresh interpreter and returns its row (status, version, what, error)."""
    code = _CHILD.format(scripts=str(ROOT / "scripts"), name=name, mark=MARK)
    path = os.pathsep.join([*prepend, str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = dict(os.environ, PYTHONPATH=path)
    out = subprocess.run([python, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln[len(MARK):] for ln in out.stdout.splitlines() if ln.startswith(MARK)]
    if not lines:
        err = [ln for ln in out.stderr.splitlines() if ln.strip()]
        return {"client": name, "status": "fails", "version": "", "what": "",
                "error": f"exit {out.returncode}: {err[-1] if err else 'no output'}"}
    status, version, what, error = json.loads(lines[-1])
    stderr = [ln for ln in out.stderr.splitlines() if ln.strip()]
    if status == "works" and name == "gymnasium" and stderr:
        status, error = "fails", f"stderr not empty: {stderr[0]}"
    if status == "works" and out.returncode != 0:
        status, error = "fails", f"exit {out.returncode}: {stderr[-1] if stderr else ''}"
    return {"client": name, "status": status, "version": version, "what": what, "error": error,
            "stderr": out.stderr}


def row(result: dict[str, str]) -> str:
    """One Markdown table row."""
    cells = [result["client"], result["version"], result["status"], result["what"], result["error"]]
    return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checks", nargs="+", choices=ORDER, default=list(ORDER), help="checks to run (default all)")
    ap.add_argument("--python", default=sys.executable, help="interpreter to run the checks with")
    ap.add_argument("--prepend", action="append", default=[], help="dir put first on PYTHONPATH (repeatable)")
    ap.add_argument("--show-stderr", action="store_true", help="print a failing check's stderr")
    args = ap.parse_args(argv)
    print("| client | version | result | what was run | error (first line) |")
    print("|---|---|---|---|---|")
    failed = False
    for name in args.checks:
        result = run_check(name, args.python, args.prepend)
        print(row(result), flush=True)
        if result["status"] == "fails":
            failed = True
            if args.show_stderr:
                print(result.get("stderr", ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
