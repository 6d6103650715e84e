"""One minimal real loop per outside RL client on ``hetserve_env/HetServeSmall-v1`` (used by check_clients.py).

Why: the env's ``info``, spaces, vector entry point, registration and ``close()`` are what outside clients
trip over (issue 15: Tianshou crashed on a variable-length ``info``, old gymnasium printed an ImportError from
``close()`` at exit). Each check runs a real loop through the client's own API and returns
``(client version, what was run)``; it raises on any failure. Each one imports its client lazily, so this
module imports with only the core install.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

import hetserve_env  # noqa: F401  (registers the ids)

ENV_ID = "hetserve_env/HetServeSmall-v1"
ROOT = Path(__file__).resolve().parent.parent


def _episodes_from_infos(infos: dict[str, Any]) -> list[float]:
    """Returns of the episodes that ``RecordEpisodeStatistics`` reports in one vector step's infos."""
    if "episode" not in infos:
        return []
    mask = infos["episode"]["_r"] if "_r" in infos["episode"] else infos["_episode"]
    return [float(r) for r in np.asarray(infos["episode"]["r"])[np.asarray(mask)]]


def _cleanrl_loop(envs: gym.vector.VectorEnv, steps: int, seed: int) -> int:
    """CleanRL's rollout: preallocated obs/reward storage, random actions, NEXT_STEP autoreset, episodic returns
    read from ``infos["episode"]``. Returns the number of finished episodes."""
    import torch

    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    n = envs.num_envs
    obs_buf = torch.zeros((steps, n) + envs.single_observation_space.shape)
    rew_buf = torch.zeros((steps, n))
    envs.action_space.seed(seed)
    next_obs, _ = envs.reset(seed=seed)
    finished: list[float] = []
    for t in range(steps):
        obs_buf[t] = torch.as_tensor(next_obs, dtype=torch.float32)
        next_obs, reward, term, trunc, infos = envs.step(envs.action_space.sample())
        rew_buf[t] = torch.as_tensor(reward, dtype=torch.float32)
        finished += _episodes_from_infos(infos)
    envs.close()
    if not torch.isfinite(obs_buf).all() or not torch.isfinite(rew_buf).all():
        raise RuntimeError("non-finite observation or reward in the rollout")
    return len(finished)


def check_cleanrl(steps: int = 300, num_envs: int = 2) -> tuple[str, str]:
    """CleanRL-style loop over ``SyncVectorEnv`` and over the native vector env; each must finish episodes."""
    sync = gym.vector.SyncVectorEnv([lambda: gym.make(ENV_ID) for _ in range(num_envs)])
    n_sync = _cleanrl_loop(sync, steps, seed=1)
    native = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point")
    n_native = _cleanrl_loop(native, steps, seed=1)
    if n_sync < num_envs or n_native != n_sync:
        raise RuntimeError(f"finished episodes: SyncVectorEnv {n_sync}, native {n_native} (want equal, >= {num_envs})")
    what = (f"SyncVectorEnv and make_vec(vector_entry_point), {num_envs} envs, RecordEpisodeStatistics, "
            f"{steps} random steps with autoreset ({n_sync} episodes each)")
    return f"gymnasium {gym.__version__}", what


def check_tianshou(steps: int = 300, num_envs: int = 2) -> tuple[str, str]:
    """Tianshou's Collector into a VectorReplayBuffer over DummyVectorEnv with a random MultiDiscrete policy."""
    import tianshou
    from tianshou.algorithm.algorithm_base import Policy
    from tianshou.data import Batch, Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv

    class RandomMultiDiscrete(Policy):  # Tianshou's RandomActionPolicy takes only Discrete and Box
        def forward(self, batch: Any, state: Any = None, **kwargs: Any) -> Any:
            return Batch(act=np.stack([self.action_space.sample() for _ in range(len(batch.obs))]), state=state)

    envs = DummyVectorEnv([lambda: gym.make(ENV_ID) for _ in range(num_envs)])
    envs.seed(0)
    policy = RandomMultiDiscrete(action_space=envs.action_space[0], observation_space=envs.observation_space[0])
    buffer = VectorReplayBuffer(steps, num_envs)
    collector = Collector(policy, envs, buffer)
    collector.reset()
    stats = collector.collect(n_step=steps)
    info = buffer.sample(8)[0].info
    if np.asarray(info.violations).shape[0] != 8 or stats.n_collected_steps < steps:
        raise RuntimeError(f"buffer info violations shape {np.asarray(info.violations).shape}, "
                           f"{stats.n_collected_steps} steps collected")
    envs.close()
    what = (f"Collector + VectorReplayBuffer over DummyVectorEnv ({num_envs} envs), random policy, "
            f"{stats.n_collected_steps} steps ({stats.n_collected_episodes} episodes); sampled info from the buffer")
    return f"tianshou {tianshou.__version__}", what


def check_torchrl(steps: int = 20) -> tuple[str, str]:
    """TorchRL's GymEnv with its default info reader on the array-valued info keys, and a rollout.

    TorchRL's ``default_info_dict_reader`` calls ``.dtype`` on every value it reads, so it takes the numpy
    arrays of ``info`` (fixed shapes at every step), not the Python scalars (``clip_reason``, ``clipped``, ...)
    nor the nested dicts (``cost``, ...); results/clients.md records that."""
    import torchrl
    from torchrl.envs import GymEnv
    from torchrl.envs.libs.gym import default_info_dict_reader

    keys = ["violations", "replicas", "demand", "action_mask"]
    env = GymEnv(ENV_ID)
    env.set_info_dict_reader(default_info_dict_reader(keys))
    env.set_seed(0)
    td = env.rollout(steps)
    viol = td["next", "violations"]
    if td.batch_size[0] != steps or viol.shape[0] != steps:
        raise RuntimeError(f"rollout batch {tuple(td.batch_size)}, violations {tuple(viol.shape)}")
    env.close()
    what = f"GymEnv + default_info_dict_reader({', '.join(keys)}), rollout of {steps} steps"
    return f"torchrl {torchrl.__version__}", what


def check_rllib() -> tuple[str, str]:
    """RLlib: register every id, then make the env from the registry's creator by its plain id and step it."""
    import ray
    from ray.tune.registry import ENV_CREATOR, _global_registry

    from hetserve_env.rllib import register_rllib_envs

    ids = register_rllib_envs()
    env = _global_registry.get(ENV_CREATOR, ENV_ID)({"split": "train"})
    env.reset(seed=0)
    for _ in range(5):
        env.step(env.action_space.sample())
    env.close()
    return f"ray {ray.__version__} (gymnasium {gym.__version__})", (
        f"register_rllib_envs() ({len(ids)} ids), creator by plain id, reset + 5 steps")


def _zoo(args: list[str], cwd: str) -> None:
    """Runs ``python -m rl_zoo3.<cmd>`` with this interpreter and path; raises with its last stderr line."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=900)
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit {out.returncode}")


def check_rl_zoo(timesteps: int = 576) -> tuple[str, str]:
    """RL Zoo: ``rl_zoo3.train`` with the project's ppo.yml for one rollout, then ``enjoy`` for one episode."""
    import rl_zoo3

    common = ["--algo", "ppo", "--env", ENV_ID, "--gym-packages", "hetserve_env"]
    with tempfile.TemporaryDirectory() as tmp:
        _zoo(["rl_zoo3.train", *common, "--conf-file", str(ROOT / "agents/hyperparams/ppo.yml"), "-n",
              str(timesteps), "--eval-freq", "-1", "-f", tmp, "--seed", "0"], cwd=tmp)
        _zoo(["rl_zoo3.enjoy", *common, "-f", tmp, "--exp-id", "1", "-n", "144", "--no-render"], cwd=tmp)
    return f"rl_zoo3 {rl_zoo3.__version__}", (
        f"rl_zoo3.train --conf-file agents/hyperparams/ppo.yml -n {timesteps}; rl_zoo3.enjoy -n 144 (one episode)")


def check_gymnasium() -> tuple[str, str]:
    """Env checker, make_vec(vector_entry_point), SyncVectorEnv; leaves a vector env unclosed for exit."""
    from gymnasium.utils.env_checker import check_env

    check_env(gym.make(ENV_ID).unwrapped, skip_render_check=True)
    native = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point")
    sync = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="sync")
    for venv in (native, sync):
        venv.reset(seed=0)
        for _ in range(5):
            venv.step(venv.action_space.sample())
    sync.close()
    check_gymnasium.keep = native  # type: ignore[attr-defined]  # closed by gymnasium at interpreter exit
    return f"gymnasium {gym.__version__}", ("check_env; make_vec(vector_entry_point) and make_vec(sync), 2 envs, "
                                            "5 steps; one vector env left for close() at exit")


CHECKS: dict[str, Callable[[], tuple[str, str]]] = {
    "cleanrl": check_cleanrl, "tianshou": check_tianshou, "torchrl": check_torchrl, "rllib": check_rllib,
    "rl_zoo": check_rl_zoo, "gymnasium": check_gymnasium}
#: the module each check needs (a check whose module does not import is reported as absent)
REQUIRES = {"cleanrl": "torch", "tianshou": "tianshou", "torchrl": "torchrl", "rllib": "ray",
            "rl_zoo": "rl_zoo3", "gymnasium": "gymnasium"}
