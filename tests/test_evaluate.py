"""evaluate(): the single source of truth for cost, feasibility and violations; Problem/Allocation JSON."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetserve_env.allocation import Allocation, evaluate
from hetserve_env.problem import Problem

from .factories import random_problem


def proportional(problem: Problem, replicas_per_template: float = 1.0) -> Allocation:
    """Send each type to its servable templates in proportion to capacity; enough replicas to carry it."""
    cap = problem.capacity
    share = cap / cap.sum(axis=1, keepdims=True)
    load = (problem.rate[:, None] * share / np.where(cap > 0, cap, 1) * (cap > 0)).sum(axis=0)
    return Allocation(np.ceil(load * replicas_per_template).astype(int), share, np.zeros(problem.n_types))


def test_empty_allocation_costs_only_unmet_and_violates_max_unmet():
    p = random_problem(1)
    ev = evaluate(p, Allocation.empty(p))
    assert ev.rental == 0 and ev.delay_penalty == 0
    assert ev.unmet_penalty == pytest.approx(3600 * float(p.rate @ p.unmet_penalty))
    assert {v.constraint for v in ev.violations} == {"max_unmet"}
    assert not ev.feasible


@pytest.mark.smoke
def test_hand_computed_objective():
    p = random_problem(2, n_types=1, n_templates=2)
    p.capacity[:] = [[4.0, 0.0]]
    p.rate[:] = 6.0
    p.error[:] = 0.1
    p.error_slo[:] = 0.2
    p.max_unmet[:] = 0.5
    a = Allocation(np.array([1, 0]), np.array([[0.6, 0.0]]), np.array([0.4]))
    ev = evaluate(p, a)
    assert ev.feasible, ev.violations
    assert ev.rental == pytest.approx(p.cost[0])
    assert ev.storage == pytest.approx(p.storage_cost * p.artifact_gb[p.template_artifact[0]])
    assert ev.unmet_penalty == pytest.approx(3600 * 6.0 * 0.02 * 0.4)
    assert ev.delay_penalty == pytest.approx(3600 * 6.0 * 2e-5 * 0.6 * p.latency[0, 0])
    assert ev.utilisation[0] == pytest.approx(6.0 * 0.6 / 4.0)
    assert ev.objective == pytest.approx(ev.rental + ev.storage + ev.unmet_penalty + ev.delay_penalty)


def test_each_constraint_is_named():
    p = random_problem(3, n_types=2, n_templates=3)
    p.capacity[:] = [[5.0, 5.0, 0.0], [5.0, 5.0, 5.0]]
    p.error[:] = 0.5
    p.error_slo[:] = 0.2
    p.budget = 1.0
    p.inventory[:] = 0
    p.storage_gb = 0.0
    x = np.array([[0.5, 0.4, 0.2], [1.0, 0.0, 0.0]])
    a = Allocation(np.array([0.5, 0, 1]), x, np.array([0.0, 0.0]))
    names = {v.constraint for v in evaluate(p, a).violations}
    assert {"coverage", "capacity", "error_slo", "unservable_route", "budget", "inventory", "storage", "integrality"} <= names
    assert all(v.amount > 0 for v in evaluate(p, a).violations)


def test_load_dependent_latency_and_cold_start():
    p = random_problem(4, n_types=1, n_templates=1)
    p.capacity[:] = 10.0
    p.rate[:] = 10.0
    p.load_slope[:] = 0.5
    p.error[:] = 0.0
    a = Allocation(np.array([2]), np.array([[1.0]]), np.array([0.0]))
    ev = evaluate(p, a, latency="load")
    assert ev.latency[0, 0] == pytest.approx(p.latency[0, 0] / (1 - 0.5 * 0.5))
    assert ev.feasible
    warm = evaluate(p, a, latency="load", available=np.array([1.0]))
    assert warm.utilisation[0] == pytest.approx(1.0)
    assert warm.cold_start == pytest.approx(p.cost[0]) and warm.rental == pytest.approx(p.cost[0])
    over = evaluate(p, a, latency="load", available=np.array([0.5]))
    assert [v.constraint for v in over.violations] == ["capacity", "delay_slo"]  # overload: served late
    assert over.on_time_share[0] == 0.0


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.2, 3.0))
def test_invariants(seed, scale):
    p = random_problem(seed)
    a = proportional(p, scale)
    ev = evaluate(p, a)
    terms = ev.rental + ev.cold_start + ev.storage + ev.unmet_penalty + ev.delay_penalty + ev.error_penalty
    assert ev.objective == pytest.approx(terms)
    assert ev.feasible == (len(ev.violations) == 0)
    assert np.all(ev.served_share + a.unmet == pytest.approx(1.0))
    # capacity is violated exactly when some template is over-utilised
    assert bool(ev.violation("capacity")) == bool((ev.utilisation > 1 + 1e-6).any())
    # more replicas never cost less and never add capacity violations
    more = Allocation(a.replicas + 1, a.routing, a.unmet)
    ev2 = evaluate(p, more)
    assert ev2.rental > ev.rental
    assert len(ev2.violation("capacity")) == 0
    # zero-load latency is a lower bound of load-dependent latency
    assert np.all(evaluate(p, more, latency="load").latency >= p.latency - 1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_json_round_trip(seed, tmp_path_factory):
    p = random_problem(seed, budget=float("inf") if seed % 2 else 500.0)
    q = Problem.from_json(p.to_json())
    for k, v in p.to_dict().items():
        assert np.array_equal(np.asarray(getattr(q, k), dtype=object), np.asarray(getattr(p, k), dtype=object)), k
    a = proportional(p)
    path = tmp_path_factory.mktemp("json") / "a.json"
    a.to_json(path)
    b = Allocation.from_json(path)
    assert evaluate(q, b).objective == pytest.approx(evaluate(p, a).objective)


def test_bad_json_and_shapes_are_named():
    p = random_problem(5)
    with pytest.raises(ValueError, match="missing field"):
        Problem.from_json('{"kind": "hetserve.Problem", "rate": [1]}')
    with pytest.raises(ValueError, match="unknown Problem field"):
        Problem.from_dict({**p.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="capacity has shape"):
        Problem.from_dict({**p.to_dict(), "capacity": [[1.0]]})
    with pytest.raises(ValueError, match="negative"):
        Problem.from_dict({**p.to_dict(), "rate": [-1.0] * p.n_types})
    with pytest.raises(ValueError, match="not a hetserve.Allocation"):
        Allocation.from_json('{"kind": "hetserve.Problem"}')
    with pytest.raises(ValueError, match="routing has shape"):
        evaluate(p, Allocation(np.zeros(2), np.zeros((1, 2)), np.zeros(1)))
