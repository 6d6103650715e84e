"""Microseconds per ``env.step`` of one env id, warm, resets not counted: for comparing two checkouts.

    python scripts/bench_step.py [--env hetserve_env/HetServe-v1] [--episodes 40] [--clock wall|cpu]

Prints the best and the median over episodes of the mean step time (random actions, fixed seed). Run it on two
checkouts back to back (``PYTHONPATH=<checkout> python <checkout>/scripts/bench_step.py``), alternating, and
compare medians: on a shared machine a single run says little. ``--clock cpu`` times this process's CPU
time instead of wall time (less disturbed by other processes on a loaded machine, which deschedule it).
A measurement, not a test.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import hetserve_env  # noqa: F401  (registers the ids)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="hetserve_env/HetServe-v1")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: time.perf_counter (default); cpu: time.process_time")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    env = gym.make(args.env).unwrapped
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(512)]
    env.reset(seed=0)
    n = env.episode_length
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    per_step = []
    for episode in range(args.episodes):
        env.reset(seed=episode)
        t0 = clock()
        for j in range(n):
            env.step(actions[j % len(actions)])
        per_step.append((clock() - t0) / n)
    us = np.asarray(per_step) * 1e6
    print(f"{args.env}: {n} steps x {args.episodes} episodes, {args.clock} clock; us/step best {us.min():.2f}, median {np.median(us):.2f}")


if __name__ == "__main__":
    main()
