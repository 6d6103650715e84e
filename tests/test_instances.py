"""Synthetic instances: sizes, calibration ranges, determinism, feasibility by construction, no PuLP."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from baselines.gh import solve_gh
from baselines.instances import generate, gh_budget, parse_spec
from hetserve_env.catalog import TASKS, load_catalog
from hetserve_env.problem import Problem


@pytest.mark.parametrize("sizes", [(2, 2, 2), (3, 5, 4), (6, 6, 6)])
def test_sizes_and_ranges(sizes):
    n_i, n_j, n_k = sizes
    p = generate(*sizes, seed=1)
    assert isinstance(p, Problem)
    assert p.n_types == n_i
    assert len(p.meta["models"]) == n_j and len(p.meta["tiers"]) == n_k
    assert ((p.rate * 3600 >= 1000 - 1e-9) & (p.rate * 3600 <= 25000 + 1e-9)).all()
    assert (p.delay_slo >= 1.5 - 1e-9).all()
    assert ((p.input_tokens >= 100) & (p.input_tokens <= 2000)).all()
    assert ((p.output_tokens >= 50) & (p.output_tokens <= 500)).all()
    assert ((p.max_unmet >= 0.02) & (p.max_unmet <= 0.08)).all()
    assert all(name.split("-", 1)[1] in TASKS for name in p.type_names)
    # every type has a pure path: a template meeting its delay SLO within its error SLO
    assert (p.servable & (p.error <= p.error_slo[:, None])).any(axis=1).all()
    # every template serves some type, and templates are within the catalog's price range per GPU
    assert p.servable.any(axis=0).all()
    cat = load_catalog()
    prices = [g.price_per_hour for g in cat.gpus.values()]
    per_gpu = p.cost / p.gpus
    assert (per_gpu >= 0.8 * min(prices) - 1e-9).all() and (per_gpu <= 1.2 * max(prices) + 1e-9).all()
    assert np.isfinite(p.budget) and p.storage_gb == 1000.0


def test_beyond_the_catalog():
    cat = load_catalog()
    n_models, n_tiers = len(cat.models) + 2, len(cat.gpus) * len(cat.precisions) + 3
    p = generate(2, n_models, n_tiers, seed=0)
    assert len(p.meta["models"]) == n_models and len(p.meta["tiers"]) == n_tiers
    assert any("~v" in m for m in p.meta["models"])  # synthetic model variants
    assert any("~v" in g for g in p.gpu_names)  # synthetic GPU variants (own inventory)
    assert solve_gh(p).feasible


def test_deterministic_and_seed_dependent():
    a, b = generate(3, 3, 3, seed=5), generate(3, 3, 3, seed=5)
    assert a.to_json() == b.to_json()
    c = generate(3, 3, 3, seed=6)
    assert a.to_json() != c.to_json()


def test_feasible_by_construction_and_budget_binds_moderately():
    for seed in range(8):
        p = generate(3, 3, 3, seed=seed)
        sol = solve_gh(p)
        assert sol.feasible, (seed, sol.reason)
        assert sol.evaluation.rental <= p.budget + 1e-9
        if p.meta["budget_rule"].startswith("1.3"):
            assert p.budget == pytest.approx(1.3 * p.meta["gh_rental_unbounded"], abs=0.011)


def test_given_budget_and_spec():
    p = generate(2, 2, 2, seed=3, budget=123.0)
    assert p.budget == 123.0 and p.meta["budget_rule"] == "given"
    q = parse_spec("instance:2x2x2:seed=3:budget=123")
    assert q.to_json() == p.to_json()
    assert parse_spec("instance:2x2x2").to_json() == generate(2, 2, 2).to_json()
    with pytest.raises(ValueError):
        parse_spec("instance:2x2:seed=1")
    with pytest.raises(ValueError):
        generate(0, 2, 2)


def test_json_roundtrip():
    p = generate(2, 3, 2, seed=4)
    q = Problem.from_json(p.to_json())
    assert q.to_json() == p.to_json()


def test_no_pulp_import():
    code = ("import sys; from baselines.instances import generate; generate(3, 3, 3, seed=2); "
            "assert 'pulp' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_drawing_layer_needs_a_budget_and_no_solver():
    """hetserve_env.instances draws without any solver: budget None is an error pointing to baselines, a number or
    a rule gives the same instance as baselines.instances.generate with that budget, and baselines is not imported."""
    code = ("import sys; from hetserve_env import instances as d; "
            "p = d.generate(2, 2, 2, seed=3, budget=123.0); assert p.meta['budget_rule'] == 'given'; "
            "q = d.generate(2, 2, 2, seed=3, budget=lambda pr: (77.0, {'budget_rule': 'mine'})); "
            "assert q.budget == 77.0 and q.meta['budget_rule'] == 'mine'; "
            "assert not any(m == 'baselines' or m.startswith('baselines.') for m in sys.modules); print(p.to_json())")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == generate(2, 2, 2, seed=3, budget=123.0).to_json().strip()
    from hetserve_env import instances as drawing
    with pytest.raises(ValueError, match="baselines.instances.generate"):
        drawing.generate(2, 2, 2, seed=3)
    assert drawing.generate(2, 2, 2, seed=3, budget=gh_budget).to_json() == generate(2, 2, 2, seed=3).to_json()
