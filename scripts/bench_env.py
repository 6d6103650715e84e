"""Environment speed: steps per second of every registered id against CartPole-v1, measured in one run.

For each ``hetserve_env/*`` id:

* **random**: ``env.step`` with uniformly random MultiDiscrete actions (pre-sampled, so sampling is not timed),
  resets included when the day ends; raw (``env.unwrapped.step``) and through ``gym.make``'s wrappers.
  Random targets far exceed the budget, so every step also runs the clipping path, and the fleets are
  large and mixed (the router's slowest case).
* **reactive AGH**: each step the policy re-plans the next window on the last observed window
  (``env.last_window_problem()`` → ``baselines.solve(problem, "agh")`` → ``env.action_from_replicas``).
  Reported: end-to-end steps/s (policy + env) and the env's own steps/s on those actions (the recorded
  action sequence replayed from the same reset, env time only).

CartPole-v1 is timed the same way (raw ``unwrapped.step`` and via ``gym.make``). Each figure is the best
of ``--repeats`` runs (the machine is shared; the best run is the least disturbed). Ratios are HetServe
raw steps/s ÷ CartPole raw steps/s.

Usage: ``python scripts/bench_env.py [--steps 3000] [--agh-steps 24] [--repeats 3] [--env ID ...] [--out results/bench_env.md]``

``--vector`` instead measures vector envs (writes ``results/bench_vector.md``): env-steps/s for N = 1, 8, 64,
256 (``--vector-sizes``) of the native vector env (``vectorization_mode="vector_entry_point"``, one and two
threads), of N single envs in Gymnasium's ``SyncVectorEnv`` and of CartPole-v1's own vector env and its
``SyncVectorEnv`` at the same N, all in one run, random actions (pre-sampled), autoresets included.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hetserve_env  # noqa: E402,F401  (registers the ids)
from hetserve_env.registration import ENV_IDS  # noqa: E402


def cartpole(steps: int, raw: bool) -> float:
    env = gym.make("CartPole-v1")
    target = env.unwrapped if raw else env
    target.reset(seed=0)
    t0 = time.perf_counter()
    for k in range(steps):
        _, _, term, trunc, _ = target.step(k % 2)
        if term or trunc:
            target.reset()
    return steps / (time.perf_counter() - t0)


def random_actions(env_id: str, steps: int, raw: bool, pool: int = 512) -> float:
    env = gym.make(env_id)
    target = env.unwrapped if raw else env
    target.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(pool)]
    t0 = time.perf_counter()
    for k in range(steps):
        _, _, term, trunc, _ = target.step(actions[k % pool])
        if term or trunc:
            target.reset()
    return steps / (time.perf_counter() - t0)


def reactive_agh(env_id: str, steps: int) -> tuple[list[np.ndarray], float, float]:
    """Drive ``steps`` windows with the reactive AGH policy; returns (actions, end-to-end sps, policy s/step)."""
    import baselines

    env = gym.make(env_id).unwrapped
    env.reset(seed=0, options={"day": env.split_days[0]})
    actions = []
    t_policy = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        t1 = time.perf_counter()
        sol = baselines.solve(env.last_window_problem(), "agh")
        action = env.action_from_replicas(sol.allocation.replicas)
        t_policy += time.perf_counter() - t1
        actions.append(action)
        _, _, _, trunc, _ = env.step(action)
        if trunc:
            break
    wall = time.perf_counter() - t0
    return actions, len(actions) / wall, t_policy / len(actions)


def replay(env_id: str, actions: list[np.ndarray], rounds: int) -> float:
    """Env-only steps/s on a recorded action sequence (same reset, so the same states)."""
    env = gym.make(env_id).unwrapped
    total, n = 0.0, 0
    for _ in range(rounds):
        env.reset(seed=0, options={"day": env.split_days[0]})
        t0 = time.perf_counter()
        for a in actions:
            env.step(a)
        total += time.perf_counter() - t0
        n += len(actions)
    return n / total


def vector_rate(env_id: str, n: int, mode: str, env_steps: int, repeats: int, **kwargs) -> float:
    """Env-steps/s of ``gym.make_vec(env_id, n, mode)`` on pre-sampled random batched actions: the best of
    ``repeats`` timed runs of ``env_steps`` env-steps on one vector env (built once: N single envs take a
    while to build)."""
    envs = gym.make_vec(env_id, num_envs=n, vectorization_mode=mode, **kwargs)
    envs.reset(seed=0)
    envs.action_space.seed(0)
    actions = [envs.action_space.sample() for _ in range(8)]
    envs.step(actions[0])  # the first call binds the compiled entry point
    k = max(4, env_steps // n)
    rate = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for j in range(k):
            envs.step(actions[j % 8])
        rate = max(rate, k * n / (time.perf_counter() - t0))
    envs.close()
    return rate


def vector_table(env_id: str, sizes: list[int], env_steps: int, repeats: int) -> tuple[list[str], list[dict]]:
    """The vector benchmark's Markdown rows and raw figures (best of ``repeats`` per cell)."""
    rows = []
    for n in sizes:
        r = {"N": n,
             "native": vector_rate(env_id, n, "vector_entry_point", env_steps, repeats),
             "native 2 threads": (vector_rate(env_id, n, "vector_entry_point", env_steps, repeats, threads=2)
                                  if n >= 2 else float("nan")),
             "sync": vector_rate(env_id, n, "sync", env_steps, repeats),
             "cartpole vector": vector_rate("CartPole-v1", n, "vector_entry_point", env_steps * 4, repeats),
             "cartpole sync": vector_rate("CartPole-v1", n, "sync", env_steps, repeats)}
        rows.append(r)
        print({k: (round(v) if isinstance(v, float) and v == v else v) for k, v in r.items()}, flush=True)
    head = ["N", "native (1 thread)", "native (2 threads)", "SyncVectorEnv", "native / Sync",
            "CartPole-v1 vector_entry_point", "CartPole-v1 SyncVectorEnv", "native / CartPole Sync"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        fast = max(r["native"], r["native 2 threads"]) if r["N"] >= 2 else r["native"]
        two = fmt(r["native 2 threads"]) if r["N"] >= 2 else ""
        lines.append(f"| {r['N']} | {fmt(r['native'])} | {two} | {fmt(r['sync'])} | {fast / r['sync']:.2f} | "
                     f"{fmt(r['cartpole vector'])} | {fmt(r['cartpole sync'])} | {fast / r['cartpole sync']:.2f} |")
    return lines, rows


def vector_main(args: argparse.Namespace) -> None:
    sizes = [int(x) for x in args.vector_sizes.split(",")]
    env_id = "hetserve_env/HetServe-v1"
    lines, rows = vector_table(env_id, sizes, args.vector_steps, args.repeats)
    verdicts = []
    for r in rows:
        if r["N"] == 64:
            fast = max(r["native"], r["native 2 threads"])
            verdicts.append(f"N = 64: native {fmt(fast)} env-steps/s = {fast / r['sync']:.2f} x its SyncVectorEnv "
                            f"(target >= 3: {'met' if fast >= 3 * r['sync'] else 'NOT met'}) and "
                            f"{fast / r['cartpole sync']:.2f} x CartPole-v1's SyncVectorEnv (target >= 1: "
                            f"{'met' if fast >= r['cartpole sync'] else 'NOT met'})")
    cmd = (f"python scripts/bench_env.py --vector --vector-sizes {args.vector_sizes} --vector-steps {args.vector_steps} "
           f"--repeats {args.repeats}")
    text = ("# Vector env speed\n\n"
            f"`{cmd}` — {env_id}, random actions; Python {platform.python_version()}, numpy {np.__version__}, "
            f"numba {_numba_version()}, gymnasium {gym.__version__}, {platform.machine()}; env-steps/s (N x batch "
            f"steps/s), best of {args.repeats} timed runs per cell. Ratios use the faster native column.\n\n"
            + "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n")
    print(text)
    out = Path(args.vector_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")


def _numba_version() -> str:
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return "none"
    return numba.__version__


def best(fn, repeats: int, *args, **kwargs) -> float:
    return max(fn(*args, **kwargs) for _ in range(repeats))


def fmt(x: float) -> str:
    return f"{x:,.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000, help="random-action steps per measurement")
    ap.add_argument("--cartpole-steps", type=int, default=50_000)
    ap.add_argument("--agh-steps", type=int, default=24, help="windows driven by the reactive AGH policy per id")
    ap.add_argument("--replay-rounds", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-agh", action="store_true", help="skip the AGH policy (no baselines needed)")
    ap.add_argument("--env", action="append", choices=tuple(ENV_IDS), default=None,
                    help="measure only this id (repeatable; default: every registered id)")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench_env.md"))
    ap.add_argument("--vector", action="store_true", help="measure vector envs instead (results/bench_vector.md)")
    ap.add_argument("--vector-sizes", default="1,8,64,256")
    ap.add_argument("--vector-steps", type=int, default=4096, help="env-steps per vector measurement")
    ap.add_argument("--vector-out", default=str(ROOT / "results" / "bench_vector.md"))
    args = ap.parse_args()
    if args.vector:
        vector_main(args)
        return

    cp_raw_before = best(cartpole, args.repeats, args.cartpole_steps, True)
    cp_make = best(cartpole, args.repeats, args.cartpole_steps, False)
    rows = []
    for env_id in args.env or ENV_IDS:
        env = gym.make(env_id).unwrapped
        r_raw = best(random_actions, args.repeats, env_id, args.steps, True)
        r_make = best(random_actions, args.repeats, env_id, args.steps, False)
        row = {"id": env_id, "D": env.n_templates, "I": env.n_types, "random raw": r_raw, "random make": r_make}
        if not args.no_agh:
            actions, e2e, per_plan = reactive_agh(env_id, args.agh_steps)
            row.update({"AGH env-only": best(replay, args.repeats, env_id, actions, args.replay_rounds),
                        "AGH end-to-end": e2e, "AGH plan s": per_plan})
        rows.append(row)
        print(env_id, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items() if k != "id"}, flush=True)
    cp_raw_after = best(cartpole, args.repeats, args.cartpole_steps, True)
    cp_raw = (cp_raw_before + cp_raw_after) / 2

    head = ["env id", "templates D", "types I", "random: steps/s raw", "ratio to CartPole raw", "random: via gym.make"]
    if not args.no_agh:
        head += ["reactive AGH: env steps/s", "ratio", "AGH end-to-end steps/s", "AGH plan (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [f"`{r['id']}`", str(r["D"]), str(r["I"]), fmt(r["random raw"]), f"{r['random raw'] / cp_raw:.3f}", fmt(r["random make"])]
        if not args.no_agh:
            cells += [fmt(r["AGH env-only"]), f"{r['AGH env-only'] / cp_raw:.3f}", f"{r['AGH end-to-end']:.1f}", f"{r['AGH plan s']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| `CartPole-v1` | | | " + fmt(cp_raw) + " | 1 | " + fmt(cp_make) + " |" + (" | | | |" if not args.no_agh else ""))
    text = "\n".join(lines)
    main_row = next((r for r in rows if r["id"] == "hetserve_env/HetServe-v1"), rows[0])
    target = main_row["random raw"] / cp_raw
    verdict = (f"{main_row['id'].split('/')[1]} random-action raw step rate = {target:.3f} x CartPole-v1 raw "
               f"(target >= 0.1: {'met' if target >= 0.1 else 'NOT met'})")
    print()
    print(text)
    print()
    print(f"CartPole-v1 raw steps/s: {fmt(cp_raw_before)} before, {fmt(cp_raw_after)} after the HetServe runs")
    print(verdict)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = (f"python scripts/bench_env.py --steps {args.steps} --agh-steps {args.agh_steps} --repeats {args.repeats}"
           + (" --no-agh" if args.no_agh else "") + "".join(f" --env {e}" for e in args.env or ())
           + ("" if Path(args.out).resolve() == (ROOT / "results" / "bench_env.md").resolve() else f" --out {args.out}"))
    out.write_text(
        "# Environment speed\n\n"
        f"`{cmd}` — Python {platform.python_version()}, numpy {np.__version__}, numba {_numba_version()}, gymnasium {gym.__version__}, "
        f"{platform.machine()} ({platform.processor() or 'cpu'}); best of {args.repeats} runs per figure.\n\n"
        + text + "\n\n"
        f"CartPole-v1 raw steps/s: {fmt(cp_raw_before)} before and {fmt(cp_raw_after)} after the HetServe runs "
        f"(ratios use the mean). {verdict}.\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
