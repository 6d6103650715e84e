"""The one model of cost and limits (hetserve_env.fleet_cost, hetserve_env.formulation) pinned to ``evaluate``,
and every solver's internal objective pinned to it, on generated instances."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import baselines
from baselines.fleet_search import FleetSearch
from baselines.gh import construct
from baselines.gh_state import Context, DecisionLog, GHOptions
from baselines.instances import generate
from baselines.relaxation import RelaxationModel
from baselines.routing_lp import state_from_lp
from hetserve_env import fleet_cost
from hetserve_env.allocation import TOL, Allocation, evaluate
from hetserve_env.formulation import csc, fleet_objective, fleet_rows, routing_block
from hetserve_env.problem import Problem
from hetserve_env.routing import route, router_objective

SIZES = [(2, 0), (3, 1), (4, 2), (5, 0)]


@pytest.fixture(scope="module", params=SIZES, ids=[f"gen{n}-{s}" for n, s in SIZES])
def case(request: pytest.FixtureRequest) -> tuple[Problem, Allocation]:
    n, seed = request.param
    p = generate(n, n, n, seed=seed)
    p = dataclasses.replace(p, storage_cost=0.01)  # storage priced, so the storage term is pinned too
    sol = baselines.solve(p, "agh")
    assert sol.feasible
    return p, sol.allocation


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


def test_limit_tolerance_is_evaluates() -> None:
    assert fleet_cost.LIMIT_TOL == TOL


def test_fleet_and_routing_cost_equal_evaluate(case: tuple[Problem, Allocation]) -> None:
    p, alloc = case
    ev = evaluate(p, alloc)
    assert fleet_cost.fleet_cost(p, alloc.replicas) == pytest.approx(ev.rental + ev.storage, rel=1e-12)
    unmet, delay, error = fleet_cost.routing_cost_terms(p, alloc.routing, alloc.unmet)
    assert (unmet, delay, error) == pytest.approx((ev.unmet_penalty, ev.delay_penalty, ev.error_penalty), rel=1e-12)
    assert fleet_cost.routing_cost(p, alloc.routing, alloc.unmet) == pytest.approx(
        router_objective(p, alloc.routing, alloc.unmet), rel=1e-12)
    # an error-SLO breach is priced the same way too
    x = alloc.routing.copy()
    worst = np.argmax(np.where(p.capacity > 0, p.error, -1.0), axis=1)
    x[np.arange(p.n_types), worst] += 0.5
    ev2 = evaluate(p, Allocation(alloc.replicas, x, alloc.unmet))
    assert ev2.error_penalty > 0
    assert fleet_cost.routing_cost_terms(p, x, alloc.unmet)[2] == pytest.approx(ev2.error_penalty, rel=1e-12)


def test_limit_report_matches_evaluate(case: tuple[Problem, Allocation]) -> None:
    p, alloc = case
    R = alloc.replicas
    rental, gb = float(p.cost @ R), float(p.artifact_gb[fleet_cost.stored_artifacts(p, R)].sum())
    used = fleet_cost.gpus_used(p, R)
    for slack in (0.5 * TOL, 2 * TOL):  # within and beyond the one tolerance
        q = dataclasses.replace(p, budget=rental - slack, storage_gb=gb - slack, inventory=np.ceil(used).astype(np.int64))
        rep = fleet_cost.check_limits(q, R)
        ev = evaluate(q, Allocation(R, alloc.routing, alloc.unmet))
        limits = [v.name for v in ev.violations if v.constraint in ("budget", "inventory", "storage")]
        assert rep.broken() == limits
        assert rep.ok == (slack < TOL) == fleet_cost.fits(q, R)
        if not rep.ok:
            assert rep.budget == pytest.approx(ev.violation("budget")[0].amount)
    tight = dataclasses.replace(p, inventory=np.maximum(np.ceil(used).astype(np.int64) - 1, 0))
    rep = fleet_cost.check_limits(tight, R)
    assert rep.broken() == [v.name for v in evaluate(tight, alloc).violations if v.constraint == "inventory"]
    assert (rep.inventory > 0).any()


def test_new_replicas_within_is_check_limits(case: tuple[Problem, Allocation]) -> None:
    p, alloc = case
    R = alloc.replicas
    q = dataclasses.replace(p, budget=float(p.cost @ R) + 3.3 * float(p.cost.min()))
    stored = fleet_cost.stored_artifacts(q, R)
    new_gb = np.where(stored[q.template_artifact], 0.0, q.artifact_gb[q.template_artifact])
    gb = float(q.artifact_gb[stored].sum())
    left = q.inventory - fleet_cost.gpus_used(q, R)
    k = fleet_cost.new_replicas_within(q.cost, q.gpus, q.budget - float(q.cost @ R), left[q.template_gpu], new_gb,
                                       q.storage_gb - gb)
    for d in range(q.n_templates):
        more = R.copy()
        more[d] += int(k[d])
        assert fleet_cost.fits(q, more)
        more[d] += 1
        assert not fleet_cost.fits(q, more)


def test_cost_per_request_is_evaluates(case: tuple[Problem, Allocation]) -> None:
    p, _ = case
    cpr = fleet_cost.cost_per_request(p)
    assert np.isinf(cpr[p.capacity <= 0]).all()
    i, d = np.argwhere(p.capacity > 0)[0]
    rate = np.zeros(p.n_types)
    rate[i] = p.capacity[i, d]  # one replica of d fully used by type i
    q = p.with_rates(rate)
    R = np.zeros(p.n_templates, dtype=np.int64)
    R[d] = 1
    x = np.zeros((p.n_types, p.n_templates))
    x[i, d] = 1.0
    u = np.ones(p.n_types)
    u[i] = 0.0
    ev = evaluate(q, Allocation(R, x, u))
    assert cpr[i, d] * 3600.0 * rate[i] == pytest.approx(ev.objective - ev.storage, rel=1e-12)


def test_gh_state_objective_is_evaluate(case: tuple[Problem, Allocation]) -> None:
    p, _ = case
    ctx = Context(p)
    for kind in ("load", "slo", "error"):
        st = construct(ctx, ctx.order(kind), GHOptions(), DecisionLog(False))
        assert _rel(st.objective(ctx), evaluate(p, st.allocation()).objective) < 1e-12


def test_agh_fleet_search_cost_is_evaluate(case: tuple[Problem, Allocation]) -> None:
    p, alloc = case
    ctx = Context(p)
    fs = FleetSearch(ctx, DecisionLog(False), deadline=float("inf"))
    R = alloc.replicas
    assert fs.fixed_cost(R) == pytest.approx(fleet_cost.fleet_cost(p, R), rel=1e-12)
    total, res = fs.price_any_fleet(R)
    assert res["shortfall"] <= 1e-9
    st = state_from_lp(ctx, R, res)
    ev = evaluate(p, st.allocation())
    assert ev.feasible
    assert _rel(total, ev.objective) < 1e-7  # HiGHS's objective vs evaluate of its (clipped) solution
    assert _rel(st.objective(ctx), ev.objective) < 1e-12
    assert total <= evaluate(p, alloc).objective + 1e-7  # the LP routes that fleet at least as well as AGH did


def test_relaxation_value_at_integral_fleet_is_evaluate(case: tuple[Problem, Allocation]) -> None:
    p, alloc = case
    model = RelaxationModel(p, colgen=False)
    R = alloc.replicas.astype(float)
    model.set_replica_bounds(R, R)
    rel = model.solve(price=False)
    assert rel.optimal
    stored = fleet_cost.stored_artifacts(p, alloc.replicas)
    value = rel.bound + float(fleet_cost.storage_add_cost(p) @ (stored - rel.z))  # storage charged per artifact
    ev = evaluate(p, Allocation(alloc.replicas, rel.x, rel.u))
    assert _rel(value, ev.objective) < 1e-7
    assert value <= evaluate(p, alloc).objective + 1e-7


def test_milp_objective_is_evaluate(case: tuple[Problem, Allocation]) -> None:
    import pulp

    from baselines.milp import build_model

    p, alloc = case
    lp, var = build_model(p)
    stored = fleet_cost.stored_artifacts(p, alloc.replicas)
    for d, v in enumerate(var["R"]):
        v.varValue = int(alloc.replicas[d])
    for a, v in enumerate(var["z"]):
        v.varValue = int(stored[a])
    for i, v in enumerate(var["u"]):
        v.varValue = float(alloc.unmet[i])
    for (i, d), v in var["x"].items():
        v.varValue = float(alloc.routing[i, d])
    assert _rel(float(pulp.value(lp.objective)), evaluate(p, alloc).objective) < 1e-12
    assert lp.valid(eps=1e-6)  # the allocation evaluate calls feasible satisfies every MILP row


def test_route_lp_objective_is_evaluate(case: tuple[Problem, Allocation]) -> None:
    p, alloc = case
    avail = alloc.replicas.astype(float) * 0.8  # a tighter fleet, so capacity binds
    got = route(p, avail, "lp", replicas=alloc.replicas)
    blk = routing_block(p)
    x, u = got.routing, got.unmet
    lp_value = (blk.delay_cost @ x[blk.ii, blk.dd] + blk.unmet_cost @ u
                + float(3600.0 * p.rate * p.error_penalty
                        @ np.maximum(np.bincount(blk.ii, blk.error * x[blk.ii, blk.dd], p.n_types), 0.0)))
    ev = evaluate(p, got, available=avail)
    assert _rel(lp_value, ev.unmet_penalty + ev.delay_penalty + ev.error_penalty) < 1e-12
    greedy = route(p, avail, "greedy", replicas=alloc.replicas)
    assert router_objective(p, x, u) <= router_objective(p, greedy.routing, greedy.unmet) + 1e-7


def test_formulation_blocks(case: tuple[Problem, Allocation]) -> None:
    p, alloc = case
    blk = routing_block(p)
    assert blk.n == int((p.capacity > 0).sum())
    x = alloc.routing[blk.ii, blk.dd]
    load = np.bincount(blk.dd, blk.load * x, p.n_templates)  # capacity rows: Σ_i λ_i x_id / μ_id
    ev = evaluate(p, alloc)
    assert np.allclose(np.where(alloc.replicas > 0, load / np.maximum(alloc.replicas, 1), 0.0), ev.utilisation)
    fleet = fleet_rows(p, p.max_replicas())
    c_R, c_z = fleet_objective(p)
    stored = fleet_cost.stored_artifacts(p, alloc.replicas)
    col = np.concatenate([alloc.replicas, stored]).astype(float)
    lhs = np.bincount(fleet.rows, fleet.values * col[fleet.cols], len(fleet.upper))
    assert (lhs <= fleet.upper + TOL).all()  # a feasible fleet keeps every fleet row
    assert c_R @ alloc.replicas + c_z @ stored == pytest.approx(fleet_cost.fleet_cost(p, alloc.replicas), rel=1e-12)
    start, index, value = csc(np.array([2, 0, 1]), np.array([1, 0, 1]), np.array([3.0, 1.0, 2.0]), 3)
    assert start.tolist() == [0, 1, 3, 3] and index.tolist() == [0, 1, 2] and value.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("name", ["small", "default"])
def test_env_limit_checks_are_check_limits(name: str) -> None:
    """The env's compiled budget, inventory and storage checks (tolerance ``fleet_cost.LIMIT_TOL``, passed in the
    kernels' limits record) judge every fleet as ``fleet_cost.check_limits`` does: random fleets, many over a limit."""
    from hetserve_env.env import HetServeEnv

    env = HetServeEnv(name)
    env.reset(seed=0)
    p = env.last_window_problem()
    rng = np.random.default_rng(3)
    n_broken = 0
    for _ in range(200):
        k = int(rng.integers(1, 12))  # templates with replicas
        R = np.zeros(env.n_templates, dtype=np.int64)
        R[rng.choice(env.n_templates, size=k, replace=False)] = rng.integers(1, env.max_replicas + 1, size=k)
        want = fleet_cost.check_limits(p, R).broken()
        assert env.limits_broken(R) == want
        n_broken += bool(want)
    assert 10 <= n_broken <= 190, n_broken  # both sides of the limits are exercised
