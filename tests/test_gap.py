"""The gap decomposition's pieces (baselines/gap.py) and the MPC with k=1 against the next-window planner
(docs/hindsight.md, "Where the gap goes" and "MPC with k = 1")."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import hetserve_env  # noqa: F401
from baselines.gap import (CHAIN, NextWindowPlanner, choose_headroom, free_cold_start_env, gap_chain,
                           plan_model_value, played_plan)
from baselines.mpc import MPCPolicy
from baselines.policies import SolverPolicy
from hetserve_env.episodes import policy_act, run_episode

SMALL = "hetserve_env/HetServeSmall-v1"
W = 6  # windows of the MPC comparison
REL = 1e-6


@pytest.fixture(scope="module")
def env():
    e = gym.make(SMALL, split="test")
    yield e
    e.close()


@pytest.fixture(scope="module")
def free(env):
    f = free_cold_start_env(env)
    yield f
    f.close()


def test_free_cold_start_env_changes_only_cold_starts(env, free):
    base = env.unwrapped
    assert base.cold_start_s.min() > 60 and free.cold_start_s.max() < 1e-6 and free.cold_start_windows == 1
    assert (free.split, free.split_days, free.max_replicas) == (base.split, base.split_days, base.max_replicas)
    base.reset(seed=0, options={"day": 12})
    free.reset(seed=0, options={"day": 12})
    a, b = base.window_problem(3), free.window_problem(3)
    assert np.array_equal(a.rate, b.rate) and np.array_equal(a.cost, b.cost) and np.array_equal(a.latency, b.latency)
    # the same plan: no cold-start cost and no less served in the free env
    plan = np.zeros((W, base.n_templates), dtype=np.int64)
    plan[:, np.argsort(a.cost)[:2]] = 1
    costs = {}
    for name, e in (("env", base), ("free", free)):
        log = run_episode(e, lambda obs, e=e: (e.action_from_replicas(plan[e.elapsed_steps]), None), 12, 0,
                          max_windows=W)
        costs[name] = log.cost_parts()
        assert np.array_equal(played_plan(log), plan)
    assert costs["env"]["cold_start"] > 0 and costs["free"]["cold_start"] < 1e-9
    assert costs["free"]["unmet_penalty"] <= costs["env"]["unmet_penalty"] + 1e-9


def test_next_window_planner_plans_true_next_window_with_headroom(env):
    pol = NextWindowPlanner(env, "gh", 0.5)
    assert pol.name == "GH (next-window oracle, headroom 50%)" and pol.is_oracle
    obs, _ = env.reset(seed=0, options={"day": 12})
    nxt = env.unwrapped.next_window_problem()
    assert np.array_equal(pol.planning_problem(0).rate, nxt.rate)
    pol.predict(obs)
    ref = SolverPolicy(env, "gh", estimate="oracle")  # the same window without headroom
    ref.predict(obs)
    with_h, without = (p.last_solutions[0].allocation.replicas for p in (pol, ref))
    assert with_h @ nxt.cost > without @ nxt.cost  # 50 % more demand planned: a dearer fleet


def test_choose_headroom_picks_least_validation_cost(env):
    val = gym.make(SMALL, split="validation")
    try:
        h, costs = choose_headroom(lambda e, h: NextWindowPlanner(e, "gh", h), val, grid=(0.0, 0.5, 3.0),
                                   windows=W)
        assert set(costs) == {0.0, 0.5, 3.0} and costs[h] == min(costs.values())
        pol = NextWindowPlanner(val, "gh", 3.0)  # a cost is the mean over the validation days
        days = val.unwrapped.split_days
        assert costs[3.0] == pytest.approx(np.mean([run_episode(val, policy_act(pol), d, None,
                                                                 max_windows=W).total_cost for d in days]))
        with pytest.raises(ValueError, match="headrooms must be finite and >= 0"):
            choose_headroom(lambda e, h: NextWindowPlanner(e, "gh", h), val, grid=(-0.1,))
    finally:
        val.close()


def test_plan_model_value_at_most_env_cost(env):
    """The model charges a played fleet at most the env's cost (the bound's argument, on one trajectory)."""
    log = run_episode(env, policy_act(NextWindowPlanner(env, "gh", 0.2)), 12, 0, max_windows=W)
    plan = played_plan(log)
    env.reset(seed=0, options={"day": 12})
    v = plan_model_value(env, plan)
    assert 0 < v <= log.total_cost * (1 + REL)
    assert plan_model_value(env, plan, load_cuts=False) <= v * (1 + REL)  # the cuts only add
    with pytest.raises(ValueError, match="plan must have shape"):
        plan_model_value(env, plan[:, :2])
    with pytest.raises(ValueError, match="integer replica counts"):
        plan_model_value(env, plan - 1)
    with pytest.raises(ValueError, match="breaks the fleet limits"):
        plan_model_value(env, np.full_like(plan, env.unwrapped.max_replicas + 1))


def test_plan_model_value_without_a_value_is_no_verdict_on_the_plan(env, monkeypatch):
    """A fixed-replica LP stopped by its time limit says nothing about the plan: RuntimeError naming the status."""
    import baselines.gap as gap

    monkeypatch.setattr(gap, "fixed_plan_lp", lambda *a, **k: "Time limit reached")
    env.reset(seed=0, options={"day": 12})
    with pytest.raises(RuntimeError, match="'Time limit reached', no value"):
        gap.plan_model_value(env, np.zeros((1, env.unwrapped.n_templates), dtype=np.int64))


def test_gap_chain_sums_to_the_gap():
    costs = {"online": 10.0, "next_window": 8.0, "next_window_free": 7.5, "next_window_free_model": 5.0,
             "hindsight_free_plan": 4.0, "hindsight_free_lp": 3.9, "bound": 4.5}
    steps = gap_chain(costs)
    assert [s.cause for s in steps] == [c for c, _, _ in CHAIN]
    assert sum(s.delta for s in steps) == pytest.approx(costs["online"] - costs["bound"])
    assert steps[0].delta == 2.0 and steps[-1].delta == pytest.approx(-0.6)
    with pytest.raises(KeyError, match="bound"):
        gap_chain({k: v for k, v in costs.items() if k != "bound"})
    with pytest.raises(ValueError, match="not finite"):
        gap_chain({**costs, "online": float("nan")})


def _mpc_vs_next_window(e, windows: int) -> list[tuple[float, float, float]]:
    """Per window, along MPC k=1's own trajectory: (model value of MPC's plan, of the next-window MILP's plan, the
    MILP's own objective in $ per window), all in the one-window model from the current fleet."""
    mpc = MPCPolicy(e, k=1, forecaster="oracle", time_limit=20, mip_rel_gap=1e-7)
    nw = SolverPolicy(e, "milp", estimate="oracle", solve_options={"solver": "highs", "time_limit": 20, "gap": 1e-7})
    obs, _ = e.reset(seed=0, options={"day": 12})
    hours, out = e.window_s / 3600.0, []
    for _ in range(windows):
        p_mpc = mpc.plan()
        nw.predict(obs)
        sol = nw.last_solutions[0]
        assert sol.status == "optimal"
        p_nw = np.asarray(sol.allocation.replicas)[None]
        out.append((plan_model_value(e, p_mpc[None], load_cuts=False), plan_model_value(e, p_nw, load_cuts=False),
                    hours * sol.objective))
        obs, *_ = e.step(e.action_from_replicas(p_mpc))
    return out


def test_mpc_k1_oracle_equals_next_window_milp_when_cold_starts_are_free(free):
    """k=1, the true next window and no cold starts: the MPC's one-window model is the next-window MILP's
    problem (same objective; the MILP's unmet cap and error-SLO rows do not bind here), so both optima agree."""
    for t, (v_mpc, v_nw, milp_obj) in enumerate(_mpc_vs_next_window(free, W)):
        assert v_mpc == pytest.approx(v_nw, rel=1e-5), f"window {t}"
        assert v_nw == pytest.approx(milp_obj, rel=1e-5), f"window {t}"


def test_mpc_k1_never_costlier_in_its_model_and_cheaper_from_a_cold_fleet(env):
    """With the env's cold starts equality cannot hold: the next-window planner is blind to them. MPC k=1's plan
    is never costlier in the (cold-start aware) model, and strictly cheaper at the first window (empty fleet)."""
    vals = _mpc_vs_next_window(env.unwrapped, W)
    for t, (v_mpc, v_nw, _) in enumerate(vals):
        assert v_mpc <= v_nw * (1 + 1e-6), f"window {t}"
    assert vals[0][0] < 0.5 * vals[0][1]


def _gap_script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "gap_decomposition.py"
    spec = importlib.util.spec_from_file_location("gap_decomposition", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gap_resume_computes_what_a_stopped_run_left_out(tmp_path, capsys):
    """scripts/gap_decomposition.py --resume after a run stopped inside a day's hindsight rows: the rows of the
    solve it stopped in and every later row are computed (once each), the rest kept, and the report is written."""
    gd = _gap_script()
    csv = tmp_path / "gap.csv"
    argv = ["--env", SMALL, "--days", "12", "--windows", "3", "--time-limit", "10", "--out", str(tmp_path / "gap.md"),
            "--compare", str(tmp_path / "none.csv"), "--resume"]
    # the online planners' rows are given (gh-hw calibrates for long); the first run computes all the others
    pd.DataFrame([{"day": 12, "key": k, "label": k, "value": v}
                  for k, v in (("online_gh_headroom", 10.0), ("online_gh_hw", 11.0))]).to_csv(csv, index=False)
    assert gd.main(argv) == 0
    full = pd.read_csv(csv)
    keys = list(full["key"])
    group_start = {f"{k}_{w}": f"{g[0]}_{w}" for w in ("env", "free") for g in gd.HINDSIGHT_GROUPS for k in g}
    assert len(keys) == len(set(keys)) and set(group_start) <= set(keys)
    for stop in ("lp_cuts_free", "milp_plan_free", "milp_plan_env_env"):  # stopped just before saving this row
        full.iloc[:keys.index(stop)].to_csv(csv, index=False)
        capsys.readouterr()
        assert gd.main(argv) == 0
        computed = re.findall(r"^day 12 (\S+):", capsys.readouterr().out, flags=re.M)
        assert computed == keys[keys.index(group_start[stop]):], stop
        again = pd.read_csv(csv)
        assert sorted(again["key"]) == sorted(keys)
        assert again.set_index("key")["value"].to_dict() == pytest.approx(full.set_index("key")["value"].to_dict(),
                                                                           rel=REL)
        assert "**bound**" in (tmp_path / "gap.md").read_text()

