"""hetserve compare's default policies come from the registries (solvers' ``compare`` flags, registered extras)."""

from __future__ import annotations

import pytest

from baselines.policies import RandomPolicy, compare_policies, register_policy, unregister_policy
from baselines.registry import register_solver, unregister_solver


def test_defaults_are_read_from_the_registries():
    from agents.compare import DEFAULT_POLICIES

    assert DEFAULT_POLICIES == (*compare_policies(), "model")
    assert compare_policies() == ("gh", "agh", "milp", "agh-oracle", "gh-headroom", "gh-hw")


def test_registered_extras_and_solvers_join_and_leave_the_defaults():
    register_solver("dummy2", lambda: (lambda problem: None), compare=("reactive", "oracle"))
    register_policy("lucky2", lambda env: RandomPolicy(env), compare=True)
    try:
        names = compare_policies()
        assert "dummy2" in names and "dummy2-oracle" in names and names[-1] == "lucky2"
        assert names.index("dummy2") < names.index("agh-oracle")  # reactive ones first, then oracles
    finally:
        unregister_solver("dummy2")
        unregister_policy("lucky2")
    assert "dummy2" not in compare_policies() and "lucky2" not in compare_policies()
    with pytest.raises(ValueError, match="unknown estimate"):
        register_solver("dummy3", lambda: (lambda problem: None), compare=("forecast",))
