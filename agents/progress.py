"""Training progress bar whose total is the number of steps SB3 will actually run."""

from __future__ import annotations

import math

from stable_baselines3.common.callbacks import ProgressBarCallback


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
