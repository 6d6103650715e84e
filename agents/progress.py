"""Training progress: a bar whose total is the number of steps SB3 will actually run, and a CPU-time budget."""

from __future__ import annotations

import math

from stable_baselines3.common.callbacks import BaseCallback, ProgressBarCallback

from .runs import cpu_seconds


class RolloutProgressBar(ProgressBarCallback):
    """SB3's ``ProgressBarCallback`` with the total rounded up to whole rollouts.

    Why: on-policy ``learn()`` stops after the rollout that crosses ``total_timesteps``, so with 4 envs x
    ``n_steps`` 144 (= 576 per rollout) a 2,000-step run does 2,304 steps and SB3's bar read 2,304/2,000.
    """

    def _on_training_start(self) -> None:
        super()._on_training_start()
        per_rollout = int(getattr(self.model, "n_steps", 1)) * int(self.training_env.num_envs)
        if per_rollout > 1 and self.pbar is not None:
            self.pbar.total = math.ceil(self.pbar.total / per_rollout) * per_rollout
            self.pbar.refresh()


class CpuBudget(BaseCallback):
    """Stop training once the process has used ``seconds`` of CPU since training started.

    Why: the benchmark protocol gives every seed of every algorithm the same CPU budget (DESIGN §10, issue 14), not
    the same number of steps: A2C, PPO and MaskablePPO do different work per step. The check runs after every
    vectorised step (and after an evaluation made at that step), not during a policy update, so a run stops at
    most one policy update plus one step past the budget; the steps it reached are in ``model.num_timesteps``,
    and ``stopped`` says whether the budget (rather than the step count) ended it.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__()
        if not seconds > 0:
            raise ValueError(f"CPU budget must be > 0 seconds, got {seconds!r}")
        self.seconds = float(seconds)
        self.start = 0.0
        self.stopped = False

    def _on_training_start(self) -> None:
        self.start = cpu_seconds()

    def _on_step(self) -> bool:
        self.stopped = cpu_seconds() - self.start >= self.seconds
        return not self.stopped
