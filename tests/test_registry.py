"""The one registry of solvers and env policies, Scenario.replace, the shared episode runner and the CLI's
user-error / programming-error split (issue 12 §3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import baselines
import hetserve_env  # noqa: F401  (registers the env ids)
from baselines.policies import (RandomPolicy, SolverPolicy, make_policy, policy_label, policy_names,
                                register_policy, unregister_policy)
from baselines.registry import get_solver, register_solver, unregister_solver
from baselines.solution import SolverError
from hetserve_env.cli import main
from hetserve_env.episodes import COST_PARTS, EpisodeLog, policy_act, run_episode
from hetserve_env.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _dummy(problem, *, flavour: str = "plain", m1: bool = True):
    """A test solver: GH under another name, with an option of its own."""
    if flavour == "type-bug":
        raise TypeError("a programming error inside the solver")
    if flavour == "user":
        raise SolverError("the solver refuses this problem")
    return baselines.solve(problem, "gh", m1=m1)


@pytest.fixture
def dummy():
    register_solver("dummy", lambda: _dummy, label="Dummy")
    try:
        yield
    finally:
        unregister_solver("dummy")


def test_a_registered_solver_reaches_solve_policies_and_cli(dummy, capsys):
    assert "dummy" in baselines.METHODS and baselines.OPTIONS["dummy"] == {"flavour", "m1"}
    assert baselines.default_options("dummy") == {"flavour": "plain", "m1": True}
    p = load_scenario("small").problem()
    assert baselines.solve(p, "dummy").objective == pytest.approx(baselines.solve(p, "gh").objective, rel=0, abs=0)
    with pytest.raises(TypeError, match="unknown option"):
        baselines.solve(p, "dummy", seed=1)
    assert {"dummy", "dummy-headroom", "dummy-oracle"} <= set(policy_names())
    assert policy_label("dummy", "oracle") == "Dummy (next-window oracle)"
    with pytest.raises(SystemExit):
        main(["solve", "--help"])
    assert "dummy" in capsys.readouterr().out
    unregister_solver("dummy")
    assert "dummy" not in baselines.METHODS and "dummy" not in policy_names()
    with pytest.raises(ValueError, match="unknown method 'dummy'"):
        baselines.solve(p, "dummy")
    register_solver("dummy", lambda: _dummy, label="Dummy")  # for the fixture's clean-up


def test_registry_rejects_bad_names_and_keeps_builtins():
    with pytest.raises(ValueError, match="already registered"):
        register_solver("gh", lambda: _dummy)
    with pytest.raises(ValueError, match="-oracle"):
        register_solver("x-oracle", lambda: _dummy)
    with pytest.raises(ValueError, match="built-in"):
        unregister_solver("agh")
    assert get_solver("milp").options() == {"solver", "time_limit", "gap", "warm_start", "msg", "threads"}


def test_policy_table_makes_solver_policies_by_name():
    env = gym.make("hetserve_env/HetServeSmall-v1", split="test")
    pol = make_policy("gh-oracle", env)
    assert isinstance(pol, SolverPolicy) and pol.estimate == "oracle" and pol.name == "GH (next-window oracle)"
    assert make_policy("agh-headroom", env, headroom=0.2).name == "AGH (headroom 20%)"
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("nope", env)


def test_a_registered_policy_reaches_the_table_and_evaluate_help(capsys):
    env = gym.make("hetserve_env/HetServeSmall-v1", split="test")
    register_policy("lucky", lambda e: RandomPolicy(e, seed=7))
    try:
        assert "lucky" in policy_names() and isinstance(make_policy("lucky", env), RandomPolicy)
        with pytest.raises(ValueError, match="already registered"):
            register_policy("lucky", lambda e: None)
        with pytest.raises(SystemExit):
            main(["evaluate", "--help"])
        assert "lucky" in capsys.readouterr().out
    finally:
        unregister_policy("lucky")
    assert "lucky" not in policy_names()


def test_scenario_replace_validates_and_derives():
    sc = load_scenario("small")
    assert sc.replace(budget_per_hour=77.0).budget == 77.0 and sc.budget != 77.0
    with pytest.raises(ScenarioError, match="budget_per_hour"):
        sc.replace(budget_per_hour=-1)
    with pytest.raises(ScenarioError, match="bogus"):
        sc.replace(bogus=1)
    qts = [{**q, "error_slo": 2.0} for q in sc.raw["query_types"]]
    with pytest.raises(ScenarioError, match="error_slo"):
        sc.replace(query_types=qts)


def test_runner_sums_the_env_money_and_stops_at_max_windows():
    env = gym.make("hetserve_env/HetServeSmall-v1", split="test")
    zeros = np.zeros(env.action_space.shape, dtype=np.int64)
    log = run_episode(env, lambda obs: (zeros, 0.5), day=env.unwrapped.split_days[0], seed=0)
    assert log.steps == env.unwrapped.episode_length and log.decision_s == [0.5] * log.steps
    total = sum(info["cost"]["total"] for info in log.infos)
    assert sum(log.cost_parts().values()) == pytest.approx(total, rel=1e-12)
    assert set(log.cost_parts()) == set(COST_PARTS)
    assert run_episode(env, lambda obs: (zeros, None), day=env.unwrapped.split_days[0], seed=0, max_windows=3).steps == 3
    with pytest.raises(ValueError, match="max_windows"):
        run_episode(env, lambda obs: (zeros, None), day=0, seed=0, max_windows=0)


def test_episode_total_cost_is_the_sum_of_the_step_totals():
    """One episode cost for every caller: the log's total_cost is Σ info["cost"]["total"], and the rolling study,
    the agents' scoring and the gap script read it."""
    from agents.evaluation import score_episode
    from baselines.experiments.rolling import episode_metrics

    env = gym.make("hetserve_env/HetServeSmall-v1", split="test")
    day = env.unwrapped.split_days[0]
    log = run_episode(env, policy_act(RandomPolicy(env, seed=0)), day=day, seed=0, max_windows=4)
    totals = [info["cost"]["total"] for info in log.infos]
    assert log.steps == 4 and log.total_cost == sum(totals) > 0
    assert log.total_cost == pytest.approx(sum(log.cost_parts().values()), rel=1e-12)
    assert episode_metrics(log)["cost_usd"] == log.total_cost
    assert EpisodeLog(day, None).total_cost == 0.0
    ep = score_episode(RandomPolicy(env, seed=0), env, day, seed=0)
    full = run_episode(env, policy_act(RandomPolicy(env, seed=0)), day=day, seed=0)
    assert ep.cost == full.total_cost == sum(info["cost"]["total"] for info in full.infos)


def test_cli_user_error_is_one_line_exit_2(dummy, capsys):
    assert main(["solve", "small", "--method", "agh", "--window", "999999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hetserve solve: error:") and err.count("\n") == 1


def test_cli_solver_error_is_a_user_error(dummy, capsys):
    register_solver("dummy", lambda: _dummy_user, replace=True)
    assert main(["solve", "small", "--method", "dummy"]) == 2
    assert "the solver refuses" in capsys.readouterr().err


def _dummy_user(problem, *, flavour: str = "user"):
    return _dummy(problem, flavour=flavour)


def _dummy_bug(problem, *, flavour: str = "type-bug"):
    return _dummy(problem, flavour=flavour)


def test_cli_programming_error_keeps_its_traceback(dummy):
    register_solver("dummy", lambda: _dummy_bug, replace=True)
    with pytest.raises(TypeError, match="programming error"):
        main(["solve", "small", "--method", "dummy"])


def test_cli_programming_error_exits_non_2_with_a_traceback():
    code = ("import baselines.registry as r\n"
            "def bug(problem, *, x=1):\n    raise AttributeError('a bug, not a user error')\n"
            "r.register_solver('bug', lambda: bug)\n"
            "from hetserve_env.cli import main\nraise SystemExit(main(['solve', 'small', '--method', 'bug']))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode not in (0, 2) and "Traceback" in res.stderr and "AttributeError" in res.stderr


def test_cli_policy_that_fails_to_import_is_one_line(capsys):
    assert main(["evaluate", "no_such_module_xyz:Policy", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert "cannot import module 'no_such_module_xyz'" in err and err.count("\n") == 1
