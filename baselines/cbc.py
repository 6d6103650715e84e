"""CBC through PuLP with a wall-clock deadline that holds.

CBC checks its ``-sec`` limit only between phases: reading the model, the root LP and processing a MIP start can
each take longer than the whole limit on a large instance (``generate(30, 30, 30)``). :class:`DeadlineCBC` runs
PuLP's CBC command exactly as ``PULP_CBC_CMD`` does, but waits for the process only until ``kill_at`` (a
``time.perf_counter`` instant) and then stops it. A stopped CBC leaves no solution file: ``killed`` is set and
the problem's status stays "Not Solved", which :func:`baselines.milp.solve_milp` reports as ``"time_limit"``.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from typing import Any

import pulp


class DeadlineCBC(pulp.PULP_CBC_CMD):  # type: ignore[misc, valid-type]
    """``PULP_CBC_CMD`` (MPS input) whose process is stopped at ``kill_at``; ``killed`` tells if it was."""

    def __init__(self, kill_at: float = math.inf, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kill_at = kill_at
        self.killed = False

    def solve_CBC(self, lp: pulp.LpProblem, use_mps: bool = True) -> int:  # noqa: N802 (PuLP's name)
        """PuLP's ``solve_CBC`` (MPS, log to ``logPath``) with the wait bounded by ``kill_at``."""
        if not self.executable(self.path):
            raise pulp.PulpSolverError(f"cannot execute CBC at {self.path}")
        tmp_lp, tmp_mps, tmp_sol, tmp_mst = self.create_tmp_files(lp.name, "lp", "mps", "sol", "mst")
        vs, var_names, con_names, _ = lp.writeMPS(tmp_mps, rename=1)
        args = [self.path, tmp_mps]
        if self.optionsDict.get("warmStart", False):
            self.writesol(tmp_mst, lp, vs, var_names, con_names)
            args += ["-mips", tmp_mst]
        if self.timeLimit is not None:
            args += ["-sec", str(self.timeLimit)]
        for option in self.options + self.getOptions():
            args += ("-" + option).split()
        args += ["-solve" if self.mip else "-initialSolve", "-printingOptions", "all", "-solution", tmp_sol]
        log_path = self.optionsDict.get("logPath")
        pipe = open(log_path, "w") if log_path else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(args, stdout=pipe, stderr=pipe, stdin=subprocess.DEVNULL)
            try:
                code = proc.wait(timeout=None if math.isinf(self.kill_at) else max(self.kill_at - time.perf_counter(), 0.0))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.killed = True
        finally:
            if log_path:
                pipe.close()
        if self.killed:
            self.delete_tmp_files(tmp_mps, tmp_lp, tmp_sol, tmp_mst)
            lp.assignStatus(pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound)
            return pulp.LpStatusNotSolved
        if code != 0 or not os.path.exists(tmp_sol):
            raise pulp.PulpSolverError(f"CBC exited with code {code}" + ("" if os.path.exists(tmp_sol) else ", no solution file"))
        status, values, reduced, shadow, slacks, sol_status = self.readsol_MPS(tmp_sol, lp, vs, var_names, con_names)
        lp.assignVarsVals(values)
        lp.assignVarsDj(reduced)
        lp.assignConsPi(shadow)
        lp.assignConsSlack(slacks, activity=True)
        lp.assignStatus(status, sol_status)
        self.delete_tmp_files(tmp_mps, tmp_lp, tmp_sol, tmp_mst)
        return status
