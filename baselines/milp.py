"""The exact MILP (docs/solvers.md §2) in PuLP; CBC (default) or HiGHS.

Variables: R_d ∈ {0..maxR_d} integer replicas (maxR from ``problem.max_replicas()``); x_id ∈ [0, 1] only where
μ_id > 0 (elsewhere fixed to 0 by omission); u_i ∈ [0, ζ_i]; z_a ∈ {0, 1} per weight artifact.

    min  Σ_d cost_d R_d + storage_cost Σ_a gb_a z_a + 3600 Σ_i λ_i (φ_i u_i + ρ_i Σ_d latency_id x_id)
    s.t. Σ_d x_id + u_i = 1                               ∀ i     (coverage)
         Σ_i (λ_i / μ_id) x_id ≤ R_d                      ∀ d     (capacity)
         Σ_d (e_id − ε_i) x_id ≤ 0                        ∀ i     (error SLO, weighted average)
         Σ_d cost_d R_d ≤ budget                                  (if finite)
         Σ_{d on g} gpus_d R_d ≤ inventory_g              ∀ g
         Σ_a gb_a z_a ≤ storage_gb                                (if finite)
         R_d ≤ maxR_d z_{artifact(d)}                     ∀ d     (a replica needs its weights stored)

The error penalty of ``evaluate`` is 0 on feasible allocations, so this is exactly ``evaluate``'s objective
(``latency="zero_load"``). The solver's values are cleaned (integral R, shares clipped and renormalised,
round-off repaired) and ``evaluate`` decides the reported objective and feasibility.

Warm start: from AGH's allocation. CBC takes it through PuLP (``warmStart=True`` with initial values set).
PuLP's HiGHS interface has no warm-start option; :class:`_HiGHSWarm` subclasses it and hands the start to
highspy's ``Highs.setSolution`` before ``run()``. Best bound and gap: HiGHS reports them (``mip_dual_bound``,
``mip_gap``); for CBC they are parsed from its log.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time
from typing import Any

import numpy as np
import pulp

from hetserve_env import highs as _highs
from hetserve_env.allocation import Allocation
from hetserve_env.formulation import FleetRows, fleet_objective, fleet_rows, routing_block
from hetserve_env.problem import Problem

from .cbc import DeadlineCBC
from .highs_child import solve_highs
from .solution import Solution, clean_allocation, finish, infeasibility_reason

SOLVERS = ("cbc", "highs")
WARM_SHARE = 0.3  # share of the time limit the AGH warm start may use
HANDOFF_SHARE = 0.5  # PuLP's hand-over of the model to the solver, as a share of the build time (measured)
MIN_SOLVER_S = 0.05  # below this much time left, the solver is not started (the warm start is returned)
OVERRUN_SHARE, OVERRUN_MIN_S = 0.1, 2.0  # an end past the limit by more than max(10 %, 2 s) is flagged


class _HiGHSWarm(pulp.HiGHS):  # type: ignore[misc, valid-type]
    """PuLP's HiGHS API plus a MIP start (the current ``varValue`` of every variable) via ``setSolution``."""

    def __init__(self, warm: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.warm = warm
        self.warm_status: str | None = None

    def createAndConfigureSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 (PuLP's name)
        """The model comes from the one HiGHS backend (:mod:`hetserve_env.highs`), with its options."""
        lp.solverModel = _highs.new(threads=self.threads, time_limit=self.timeLimit, msg=self.msg,
                                    mip_rel_gap=self.gapRel)

    def callSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 (PuLP's name)
        if self.warm:
            highspy = _highs.highspy()
            variables = lp.variables()
            values = [0.0] * len(variables)
            for var in variables:
                values[var.index] = float(var.varValue) if var.varValue is not None else 0.0
            sol = highspy.HighsSolution()
            sol.col_value = values
            sol.value_valid = True
            status = lp.solverModel.setSolution(sol)
            self.warm_status = str(status)
        _highs.run(lp.solverModel, "MILP")


class BuildTimeout(RuntimeError):
    """:func:`build_model` passed its ``deadline`` (the MILP's time limit ran out while building)."""


def build_model(problem: Problem, deadline: float = math.inf) -> tuple[pulp.LpProblem, dict[str, Any]]:
    """The PuLP model and its variables: ``{"R": [...], "x": {(i, d): var}, "u": [...], "z": [...]}``.

    Raises :class:`BuildTimeout` once past ``deadline`` (a ``time.perf_counter()`` instant; checked per type and
    per template, so a large build stops within the time limit)."""
    p = problem
    I, D, A = p.n_types, p.n_templates, len(p.artifact_names)
    lp = pulp.LpProblem(f"hetserve_{_safe(p.name)}", pulp.LpMinimize)
    maxR = p.max_replicas()
    R = [pulp.LpVariable(f"R_{d}", lowBound=0, upBound=int(maxR[d]), cat=pulp.LpInteger) for d in range(D)]
    z = [pulp.LpVariable(f"z_{a}", cat=pulp.LpBinary) for a in range(A)]
    u = [pulp.LpVariable(f"u_{i}", lowBound=0, upBound=float(p.max_unmet[i])) for i in range(I)]
    blk = routing_block(p)  # every pair with μ > 0, type-major
    x = {(int(i), int(d)): pulp.LpVariable(f"x_{i}_{d}", lowBound=0, upBound=1) for i, d in zip(blk.ii, blk.dd)}
    by_type = np.split(np.arange(blk.n), np.searchsorted(blk.ii, np.arange(1, I)))  # pair indices per type
    by_tpl = [np.flatnonzero(blk.dd == d) for d in range(D)]  # per template, types ascending
    xs = list(x.values())

    c_R, c_z = fleet_objective(p)
    obj_terms: list[tuple[pulp.LpVariable, float]] = [(R[d], float(c_R[d])) for d in range(D)]
    if p.storage_cost > 0:
        obj_terms += [(z[a], float(c_z[a])) for a in range(A)]
    for i in range(I):
        _check_deadline(deadline)
        if blk.unmet_cost[i] != 0:
            obj_terms.append((u[i], float(blk.unmet_cost[i])))
        if p.rate[i] * p.delay_penalty[i] != 0:
            obj_terms += [(xs[k], float(blk.delay_cost[k])) for k in by_type[i]]
    lp += pulp.LpAffineExpression(obj_terms), "cost"

    for i in range(I):
        _check_deadline(deadline)
        lp += pulp.LpAffineExpression([(xs[k], 1.0) for k in by_type[i]] + [(u[i], 1.0)]) == 1.0, f"coverage_{i}"
        terms = [(xs[k], float(blk.error[k])) for k in by_type[i] if blk.error[k] != 0]
        if any(c > 0 for _, c in terms):
            lp += pulp.LpAffineExpression(terms) <= 0.0, f"error_{i}"
    fleet = fleet_rows(p, maxR)
    stored_row = {name: r for r, name in enumerate(fleet.names)}
    for d in range(D):
        if d % 64 == 0:
            _check_deadline(deadline)
        terms = [(xs[k], float(blk.load[k])) for k in by_tpl[d] if p.rate[blk.ii[k]] > 0]
        if terms:
            lp += pulp.LpAffineExpression(terms + [(R[d], -1.0)]) <= 0.0, f"capacity_{d}"
        if f"stored_{d}" in stored_row:
            lp += _fleet_row(fleet, stored_row[f"stored_{d}"], R, z), f"stored_{d}"
    for r, name in enumerate(fleet.names):
        if not name.startswith("stored_"):
            lp += _fleet_row(fleet, r, R, z), name
    return lp, {"R": R, "x": x, "u": u, "z": z}


def _fleet_row(fleet: FleetRows, r: int, R: list, z: list) -> Any:
    """Row ``r`` of the formulation's fleet rows as a PuLP constraint (``≤ upper``)."""
    k = np.flatnonzero(fleet.rows == r)
    D = len(R)
    terms = [(R[c] if c < D else z[c - D], float(v)) for c, v in zip(fleet.cols[k].tolist(), fleet.values[k])]
    return pulp.LpAffineExpression(terms) <= float(fleet.upper[r])


def _check_deadline(deadline: float) -> None:
    if time.perf_counter() > deadline:
        raise BuildTimeout("the time limit ran out while building the model")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)[:40] or "problem"


def _set_start(problem: Problem, var: dict[str, Any], alloc: Allocation) -> None:
    R = alloc.replicas
    for d, v in enumerate(var["R"]):
        v.setInitialValue(int(R[d]))
    stored = np.zeros(len(problem.artifact_names), dtype=bool)
    stored[problem.template_artifact[R > 0]] = True
    for a, v in enumerate(var["z"]):
        v.setInitialValue(int(stored[a]))
    for i, v in enumerate(var["u"]):
        v.setInitialValue(float(min(max(alloc.unmet[i], 0.0), problem.max_unmet[i])))
    for (i, d), v in var["x"].items():
        v.setInitialValue(float(alloc.routing[i, d]))


def _values(problem: Problem, var: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    R = np.array([v.varValue if v.varValue is not None else np.nan for v in var["R"]], dtype=float)
    if np.isnan(R).any():
        return None
    x = np.zeros((problem.n_types, problem.n_templates))
    for (i, d), v in var["x"].items():
        x[i, d] = v.varValue or 0.0
    u = np.array([v.varValue or 0.0 for v in var["u"]], dtype=float)
    return R, x, u


_CBC_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"


def _parse_cbc_log(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = re.search(r"Result - (.+)", text)
    if m:
        out["result"] = m.group(1).strip()
    for key, pat in (("objective", r"Objective value:\s+" + _CBC_NUM), ("lower_bound", r"Lower bound:\s+" + _CBC_NUM),
                     ("gap", r"Gap:\s+" + _CBC_NUM), ("nodes", r"Enumerated nodes:\s+" + _CBC_NUM),
                     ("wallclock", r"Total time \(CPU seconds\):\s+\S+\s+\(Wallclock seconds\):\s+" + _CBC_NUM)):
        m = re.search(pat, text)
        if m:
            out[key] = float(m.group(1))
    return out


def overrun_allowance(time_limit: float) -> float:
    """How far past ``time_limit`` a MILP may end before it is flagged: max(10 %, 2 s)."""
    return max(OVERRUN_SHARE * time_limit, OVERRUN_MIN_S)


def check_options(solver: Any, time_limit: Any, gap: Any, threads: Any) -> tuple[str, float | None, float, int]:
    """The MILP options validated (ValueError naming the option, the value and the allowed range)."""
    name = str(solver).lower()
    if name not in SOLVERS:
        raise ValueError(f"unknown MILP solver {solver!r}; choose one of {list(SOLVERS)}")
    limit = _highs.check_time_limit(time_limit)
    if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not math.isfinite(gap) or gap < 0:
        raise ValueError(f"gap must be a finite relative gap >= 0, got {gap!r}")
    return name, limit, float(gap), _highs.check_threads(threads)


def solve_milp(problem: Problem, *, solver: str = "cbc", time_limit: float | None = 600.0, gap: float = 1e-4,
               warm_start: bool | Allocation = True, msg: bool = False, threads: int = 1,
               start_solution: Solution | None = None) -> Solution:
    """Solve the exact model; ``warm_start`` True runs AGH for the start (or pass an Allocation).

    ``time_limit`` (s, or None) is the wall-clock budget of this whole call: the AGH warm start may use
    WARM_SHARE of it, the rest (less the time PuLP needs to hand the model over) goes to the solver. An end later
    than ``time_limit + overrun_allowance(time_limit)`` is flagged (``stats["time_limit_overrun_s"]``, ``log``)."""
    solver, limit, gap, threads = check_options(solver, time_limit, gap, threads)
    t0 = time.perf_counter()
    deadline = t0 + limit if limit is not None else math.inf
    log: list[str] = []
    stats: dict[str, Any] = {"solver": solver, "time_limit": limit, "gap_option": gap, "threads": threads}
    start = _warm_start(problem, warm_start, start_solution, None if limit is None else t0 + WARM_SHARE * limit,
                        log, stats)

    t_build = time.perf_counter()
    try:
        lp, var = build_model(problem, deadline)
    except BuildTimeout:
        stats["build_s"] = time.perf_counter() - t_build
        why = (f"the {limit:g} s time limit ran out while building the model (warm start "
               f"{stats.get('warm_start_s', 0.0):.2f} s, model build stopped after {stats['build_s']:.2f} s)")
        return _flag_overrun(_stopped(problem, start, why, t0, log, stats), limit)
    stats["n_variables"] = len(var["R"]) + len(var["x"]) + len(var["u"]) + len(var["z"])
    stats["n_integer"] = len(var["R"]) + len(var["z"])
    stats["n_constraints"] = len(lp.constraints)
    if start is not None:
        _set_start(problem, var, start)
    stats["build_s"] = time.perf_counter() - t_build
    # handing the model to the solver (CBC: an MPS file; HiGHS: column by column) costs about half a build
    solver_limit = None if limit is None else deadline - time.perf_counter() - HANDOFF_SHARE * stats["build_s"]
    if solver_limit is not None and solver_limit < MIN_SOLVER_S:
        why = (f"the {limit:g} s time limit was used up before the solver could start (warm start "
               f"{stats.get('warm_start_s', 0.0):.2f} s, model build {stats['build_s']:.2f} s)")
        return _flag_overrun(_stopped(problem, start, why, t0, log, stats), limit)
    sol = _run_solver(problem, lp, var, start, solver, solver_limit, deadline, gap, threads, msg, t0, log, stats)
    return _flag_overrun(sol, limit)


def _warm_start(problem: Problem, warm_start: bool | Allocation, start_solution: Solution | None,
                work_deadline: float | None, log: list[str], stats: dict[str, Any]) -> Allocation | None:
    """The MIP start: the given Allocation, or AGH's (stopped at ``work_deadline``), or None."""
    if isinstance(warm_start, Allocation):
        stats["warm_start"] = "given"
        return warm_start
    if not warm_start:
        stats["warm_start"] = "off"
        return None
    if start_solution is None:
        from .agh import solve_agh

        start_solution = solve_agh(problem, work_deadline=work_deadline)
    stats["warm_start_s"] = start_solution.runtime_s
    if start_solution.stats.get("stopped_at_deadline"):
        stats["warm_start_stopped_at_deadline"] = True
    if not start_solution.feasible:
        stats["warm_start"] = "none (AGH found no feasible allocation)"
        return None
    stats["warm_start"] = "agh"
    stats["warm_start_objective"] = start_solution.objective
    log.append(f"warm start: AGH ${start_solution.objective:.4f}/h")
    return start_solution.allocation


def _stopped(problem: Problem, start: Allocation | None, why: str, t0: float, log: list[str],
             stats: dict[str, Any], bound: float | None = None) -> Solution:
    """Status "time_limit" when the solver reported no incumbent: the warm start (the solver's own incumbent, as
    it was handed over) if ``evaluate`` accepts it, else no allocation; ``reason`` says why."""
    runtime = time.perf_counter() - t0
    log.append(f"MILP stopped: {why}")
    if start is not None:
        stats["incumbent"] = "warm start"
        sol = finish(problem, "milp", start, runtime_s=runtime, log=log, stats=stats, status_if_feasible="time_limit",
                     best_bound=bound)
        if sol.feasible:
            sol.reason = f"{why}; the allocation is the warm start"
            return sol
    return Solution("milp", "time_limit", None, None, float("nan"), runtime, bound, None,
                    f"{why}; no feasible solution found", log, stats)


def _flag_overrun(sol: Solution, limit: float | None) -> Solution:
    """Record ``time_limit_overrun_s`` (and a log line, and the reason) when ``sol`` ended past the allowance."""
    if limit is None:
        return sol
    over = sol.runtime_s - limit
    if over > overrun_allowance(limit):
        sol.stats["time_limit_overrun_s"] = over
        text = (f"time limit overrun: the solve took {sol.runtime_s:.2f} s for a {limit:g} s limit "
                f"(+{over:.2f} s, more than the allowed max(10 %, 2 s))")
        sol.log.append(text)
        sol.reason = f"{sol.reason}; {text}" if sol.reason else text
    return sol


def _run_solver(problem: Problem, lp: pulp.LpProblem, var: dict[str, Any], start: Allocation | None, solver: str,
                solver_limit: float | None, deadline: float, gap: float, threads: int, msg: bool, t0: float,
                log: list[str], stats: dict[str, Any]) -> Solution:
    """Run CBC or HiGHS on the built model and turn its answer into a Solution (evaluate decides)."""
    log_path = None
    t_solve = time.perf_counter()
    stats["solver_time_limit"] = solver_limit
    try:
        if solver == "cbc":
            fd, log_path = tempfile.mkstemp(prefix="hetserve_cbc_", suffix=".log")
            os.close(fd)
            slack = 0.0 if solver_limit is None else 0.5 * overrun_allowance(float(stats["time_limit"]))
            cmd = DeadlineCBC(kill_at=deadline + slack, msg=False, timeLimit=solver_limit, gapRel=gap,
                              warmStart=start is not None, threads=threads, logPath=log_path)
            if msg:
                log.append("msg=True: CBC output goes to the log parsed for the bound; see stats['cbc_log']")
            lp.solve(cmd)
        else:
            slack = math.inf if solver_limit is None else 0.5 * overrun_allowance(float(stats["time_limit"]))
            cmd = _HiGHSWarm(warm=start is not None, msg=msg, gapRel=gap, threads=threads, timeLimit=solver_limit)
            highs_report = solve_highs(lp, cmd, kill_at=deadline + slack)
            if start is not None:
                stats["warm_start_highs"] = highs_report.get("warm_status")
    except (pulp.PulpSolverError, _highs.HighsStatusError) as exc:
        return Solution("milp", "error", None, None, float("nan"), time.perf_counter() - t0, None, None,
                        f"{solver}: solver failed: {exc}", log, stats)
    finally:
        text = _read_log(log_path, stats, msg)
    solve_s = time.perf_counter() - t_solve
    stats["solve_s"] = solve_s
    if cmd.killed if solver == "cbc" else highs_report["killed"]:
        stats["solver_status"] = "stopped at the deadline"
        return _stopped(problem, start, f"{solver} did not stop at its time limit and was stopped at the deadline",
                        t0, log, stats)
    status, bound, has_sol = _status_and_bound(solver, lp, text if solver == "cbc" else highs_report, stats)
    log.append(f"MILP {solver}: {status}, solver status {stats.get('solver_status')}, {solve_s:.3f} s")
    runtime = time.perf_counter() - t0
    if status == "infeasible":
        reason = infeasibility_reason(problem) or ("the MILP is infeasible: no combination of replicas meets "
                                                   "coverage, capacity, error SLO, budget, inventory and storage together")
        return Solution("milp", "infeasible", None, None, float("nan"), runtime, bound, None, reason, log, stats)
    vals = _values(problem, var) if has_sol else None
    if vals is None:
        if status == "time_limit":
            why = (f"{solver} stopped at its time limit without an incumbent"
                   if not stats.get("cbc_infeasible_after_limit")
                   else "cbc said infeasible only after its time limit ran out (pre-processing cut short: no proof)")
            return _stopped(problem, start, why, t0, log, stats, bound)
        return Solution("milp", "error", None, None, float("nan"), runtime, bound, None,
                        f"{solver} returned status {stats.get('solver_status')!r} without a solution", log, stats)
    alloc = clean_allocation(problem, *vals)
    stats["solver_objective"] = pulp.value(lp.objective)
    sol = finish(problem, "milp", alloc, runtime_s=runtime, log=log, stats=stats, status_if_feasible=status,
                 best_bound=bound)
    if not sol.feasible:
        sol.status = "error"
        sol.reason = f"the solver's solution fails evaluate after clean-up: {sol.reason}"
    elif status == "optimal" and bound is None:
        sol.best_bound = sol.objective
        sol.gap = 0.0
    return sol


def _read_log(log_path: str | None, stats: dict[str, Any], msg: bool) -> str:
    """CBC's log text (kept as ``stats["cbc_log_tail"]``, printed with ``msg``); the file is removed."""
    if not log_path:
        return ""
    try:
        with open(log_path) as fh:
            text = fh.read()
        stats["cbc_log_tail"] = text[-1500:]
        if msg:
            print(text)
        return text
    finally:
        os.unlink(log_path)


def _status_and_bound(solver: str, lp: pulp.LpProblem, answer: Any,
                      stats: dict[str, Any]) -> tuple[str, float | None, bool]:
    """(status, best bound, whether the solver holds a solution) from the solver's own report (``answer``:
    CBC's log text, or HiGHS's report from :func:`baselines.highs_child.solve_highs`)."""
    bound: float | None = None
    if solver == "highs":
        status, has_sol, bound = answer["status"], answer["has_solution"], answer["bound"]
        stats["solver_status"] = status
        stats["nodes"] = answer["nodes"]
        if status == "Optimal":
            return "optimal", bound, has_sol
        if status in ("Infeasible", "Primal infeasible or unbounded"):
            return "infeasible", None, False
        if status == "Time limit reached":
            return "time_limit", bound, has_sol
        return ("feasible" if has_sol else "error"), bound, has_sol
    cbc_log = str(answer)
    parsed = _parse_cbc_log(cbc_log)
    stats["solver_status"] = parsed.get("result", pulp.LpStatus.get(lp.status, str(lp.status)))
    if "nodes" in parsed:
        stats["nodes"] = int(parsed["nodes"])
    result = parsed.get("result", "")
    if "lower_bound" in parsed:
        bound = float(parsed["lower_bound"])
    has_sol = (lp.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
               and "No feasible solution found" not in cbc_log)
    if "Stopped on time" in result:  # CBC's own account first: a run stopped on time proved nothing infeasible
        return "time_limit", bound, has_sol
    if lp.status == pulp.LpStatusInfeasible or "infeasible" in result.lower() or "says infeasible" in cbc_log:
        if cbc_ran_out_of_time(cbc_log, stats.get("solver_time_limit")):  # pre-processing cut short: no proof
            stats["cbc_infeasible_after_limit"] = True
            return "time_limit", bound, False
        return "infeasible", None, False
    if "Optimal" in result or lp.sol_status == pulp.LpSolutionOptimal:
        if bound is None and "objective" in parsed:
            bound = float(parsed["objective"])
        return "optimal", bound, has_sol
    if lp.sol_status == pulp.LpSolutionIntegerFeasible:
        return "feasible", bound, has_sol
    if lp.status == pulp.LpStatusNotSolved:
        return "time_limit", bound, has_sol
    return "error", bound, has_sol


def cbc_ran_out_of_time(cbc_log: str, solver_time_limit: float | None) -> bool:
    """Whether CBC had used up its ``-sec`` limit by its own wall clock when it ended. CBC's pre-processing, cut
    short by the limit, says "Pre-processing says infeasible or unbounded" (seen under load on (14, 14, 14) with a
    0.47 s limit): that is no proof, and the MILP reports such a run as "time_limit" (``stats["cbc_infeasible_after_limit"]``)."""
    wall = _parse_cbc_log(cbc_log).get("wallclock")
    return solver_time_limit is not None and wall is not None and wall >= float(solver_time_limit)
