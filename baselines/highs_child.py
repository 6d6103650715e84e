"""The MILP's HiGHS solve under a wall-clock deadline that holds.

HiGHS does not check its ``time_limit`` everywhere: on ``generate(30, 30, 30, seed=1)`` its MIP presolve ran for
minutes past a 5 s limit (a known HiGHS limitation, ERGO-Code/HiGHS#1501, #2478). A solve in this process cannot
be stopped, so with a deadline :func:`solve_highs` runs PuLP's HiGHS solve in a forked child process (it inherits
the built model, nothing is copied in) and stops the child at ``kill_at``. The child sends back what the parent
needs (model status, bound, node count, variable values), and the values are set on the parent's PuLP variables.
Without a deadline, or where ``fork`` is not available, the solve runs in this process.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from typing import Any

import pulp

from hetserve_env import highs as _highs


def report(lp: pulp.LpProblem, cmd: Any) -> dict[str, Any]:
    """What the MILP reads from a finished HiGHS solve."""
    h = lp.solverModel
    info = h.getInfo()
    bound = getattr(info, "mip_dual_bound", None)
    return {"status": h.modelStatusToString(h.getModelStatus()), "nodes": int(getattr(info, "mip_node_count", 0)),
            "has_solution": getattr(info, "primal_solution_status", 0) == 2,
            "bound": float(bound) if bound is not None and math.isfinite(bound) else None,
            "warm_status": getattr(cmd, "warm_status", None), "killed": False}


def _child(lp: pulp.LpProblem, cmd: Any, conn: Any) -> None:
    try:
        _highs.after_fork()
        lp.solve(cmd)
        out = report(lp, cmd)
        out["values"] = [v.varValue for v in lp.variables()]
        conn.send(out)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent, which raises it
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()
        os._exit(0)  # no atexit handlers of the parent's state in the child


def solve_highs(lp: pulp.LpProblem, cmd: Any, kill_at: float = math.inf) -> dict[str, Any]:
    """Solve ``lp`` with the PuLP HiGHS command ``cmd``; stop it at ``kill_at`` (``time.perf_counter()``).

    Returns :func:`report`'s dict (``killed`` True and nothing else useful when stopped). A failure in the child
    raises :class:`pulp.PulpSolverError` with its message."""
    if math.isinf(kill_at) or "fork" not in mp.get_all_start_methods():
        lp.solve(cmd)
        return report(lp, cmd)
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(lp, cmd, send), daemon=True)
    proc.start()
    send.close()
    out: dict[str, Any] | None = None
    try:
        if recv.poll(max(kill_at - time.perf_counter(), 0.0)):
            out = recv.recv()
    except EOFError:
        out = {"error": f"the HiGHS child process ended without an answer (exit code {proc.exitcode})"}
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
    if out is None:
        return {"killed": True}
    if "error" in out:
        raise pulp.PulpSolverError(f"HiGHS: {out['error']}")
    for var, value in zip(lp.variables(), out.pop("values")):
        var.varValue = value
    return out
