"""One-minute smoke (``make demo``): the environment, a reference solver and a plot written to a file.

    python scripts/demo.py [--out DIR]     # default: runs/demo-YYYYmmdd-HHMMSS/

1. makes ``hetserve_env/HetServeSmall-v1`` and takes a few random steps (reward and cost in $);
2. solves the small scenario's static problem with GH and AGH (cost, feasibility, runtime);
3. scores GH re-planning every window for one test day with the project's metrics (``agents.score_policy``);
4. plots that day's demand and GH's fleet to ``demo.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="output folder (default: a fresh runs/demo-YYYYmmdd-HHMMSS/)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    import gymnasium as gym
    import numpy as np

    import hetserve_env  # noqa: F401  (registers the ids)
    from agents.compare import plot_compare
    from agents.evaluation import run_policy, split_days, summarize, warm_up
    from agents.policies import load_policy
    from baselines import solve
    from hetserve_env.runs import atomic_write, resolve_out

    out = resolve_out(args.out, "demo")
    env = gym.make("hetserve_env/HetServeSmall-v1", split="test")
    obs, info = env.reset(seed=0)
    print(f"1. env {env.spec.id}: {env.unwrapped.n_templates} templates, action {env.action_space}, "
          f"observation {obs.shape}; compiling the kernels once (about 30 s on a fresh checkout) …")
    warm_up(env)
    obs, info = env.reset(seed=0)
    for t in range(3):
        obs, reward, term, trunc, info = env.step(env.action_space.sample())
        print(f"   random step {t}: reward {reward:.3f}, cost ${info['cost']['total']:,.2f} "
              f"(rental ${info['cost']['rental']:,.2f}, unmet penalty ${info['cost']['unmet_penalty']:,.2f})")

    problem = env.unwrapped.scenario.problem()
    for method in ("gh", "agh"):
        sol = solve(problem, method=method)
        print(f"2. {method.upper()} on the static (peak-demand) problem: {sol.status}, ${sol.objective:,.2f}/h, "
              f"{sol.runtime_s * 1e3:.0f} ms")

    day = split_days(env, 1)
    policy = load_policy("gh", env)
    eps = run_policy(policy, env, day)
    row = summarize(eps, "GH")
    print(f"3. GH re-planning every window, test day {day[0]}: ${row['mean_cost_usd']:,.2f}, SLO attainment "
          f"{row['slo_attainment_pct']:.2f} %, {row['gpu_hours']:.1f} GPU-hours, {row['decision_ms_per_step']:.2f} ms/step")

    import pandas as pd

    tr = eps[0].trace.copy()
    tr.insert(0, "day", day[0])
    tr.insert(0, "policy", "GH")
    result = {"table": pd.DataFrame([row]), "episodes": pd.DataFrame([eps[0].row()]), "traces": tr,
              "days": day, "env_id": env.spec.id, "split": "test", "scenario": "small"}
    png = atomic_write(out / "demo.png", lambda p: plot_compare(result, p))
    env.close()
    print(f"4. wrote {png}  ({time.perf_counter() - t0:.0f} s in all; next: make compare, docs/your-own.md)")
    return 0 if np.isfinite(row["mean_cost_usd"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
