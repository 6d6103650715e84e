"""Scoring a policy on the project's metrics: :func:`score_policy` (one call) or :func:`run_policy` +
:func:`summarize` (per-episode rows). Policies: :mod:`agents.policies`; the main job: :mod:`agents.compare`.

Every policy — a reference solver (:class:`baselines.policies.SolverPolicy`), a random policy or a trained
model (:class:`AgentPolicy`) — is scored the same way: one deterministic episode per day of the split
(``env.reset(seed=k, options={"day": d})``, the same days for every policy), stepping the registered env
and reading its ``info``:

* **episode cost ($)**: Σ ``info["cost"]["total"]`` (rental, cold starts, storage and every penalty, in
  dollars; = −Σ reward × ``reward_scale``, what ``evaluate_policy`` reports in reward units);
* **SLO attainment (%)**: the request-weighted share of demand served within its delay SLO over the episode
  (Σ_t attainment_t · demand_t / Σ_t demand_t, with ``info["slo_attainment"]["overall"]`` and the demand in
  req/s; every window has the same length);
* **unmet (%)**: Σ_t unmet_t / Σ_t demand_t (req/s, ``info["unmet_rate"]``);
* **GPU-hours**: Σ_t GPUs billed (``info["gpus_by_type"]``) × window hours;
* **decision time (ms/step)**: the policy's time per decision. Solver policies report their solve time
  (a plan shared through the cache is charged the time it took to compute); others are timed around
  ``predict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import pandas as pd

from hetserve_env.episodes import COST_PARTS, policy_act, run_episode

from .policies import (SCENARIO_ENV, AgentPolicy, Policy, import_policy, load_policy, make_env,  # noqa: F401
                       policy_env_kwargs, read_record, shipped_model)
from .wrappers import start_days

# ============================================================================================ episodes
@dataclass
class Episode:
    """One episode's metrics (see the module docstring) and its per-step trace."""

    policy: str
    day: int
    steps: int
    cost: float
    slo_pct: float
    unmet_pct: float
    gpu_hours: float
    decision_ms: float
    reward: float
    breakdown: dict[str, float]
    clipped_steps: int
    trace: pd.DataFrame = field(repr=False)

    def row(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("trace", "breakdown")}
        d.update({f"{k}_usd": v for k, v in self.breakdown.items()})
        return d


def score_episode(policy: Any, env: gym.Env, day: int, seed: int | None = None,
                  on_step: Callable[[], None] | None = None) -> Episode:
    """One deterministic episode of ``policy`` on ``env`` from ``day`` (:func:`hetserve_env.episodes.run_episode`),
    with its metrics and per-step trace (``on_step`` after each step)."""
    log = run_episode(env, policy_act(policy), day, seed, on_step=on_step)
    hours = env.unwrapped.window_s / 3600.0
    rows = []
    for t, (info, dt) in enumerate(zip(log.infos, log.decision_s)):
        c = info["cost"]
        rows.append({
            "step": t, "window": info["window"], "demand_rps": float(np.sum(info["demand"])),
            "served_rps": info["served_rate"], "unmet_rps": info["unmet_rate"],
            "slo": info["slo_attainment"]["overall"], "cost_usd": float(c["total"]),
            "rental_usd": float(c["rental"] + c["cold_start"]),
            "penalty_usd": float(c["unmet_penalty"] + c["delay_penalty"] + c["error_penalty"] + c["clip_penalty"]),
            "gpus": float(sum(info["gpus_by_type"].values())), "replicas": int(np.sum(info["replicas"])),
            "decision_ms": dt * 1e3, "clipped": bool(info["clipped"]),
        })
    tr = pd.DataFrame(rows)
    dem = tr["demand_rps"].to_numpy()
    tot = dem.sum()
    reward_sum = 0.0
    for r in log.rewards:
        reward_sum += r
    return Episode(
        policy=getattr(policy, "name", type(policy).__name__), day=int(day), steps=log.steps,
        cost=log.total_cost,
        slo_pct=100.0 * float((tr["slo"].to_numpy() * dem).sum() / tot) if tot > 0 else 100.0,
        unmet_pct=100.0 * float(tr["unmet_rps"].sum() / tot) if tot > 0 else 0.0,
        gpu_hours=float(tr["gpus"].sum() * hours),
        decision_ms=float(tr["decision_ms"].mean()),
        reward=reward_sum, breakdown=log.cost_parts(), clipped_steps=int(tr["clipped"].sum()), trace=tr,
    )


def split_days(env: gym.Env, episodes: int | None = None) -> list[int]:
    """The start days of the env's split (the first ``episodes`` of them)."""
    base = env.unwrapped
    days = start_days(env)
    if episodes is not None:
        if episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {episodes}")
        if episodes > len(days):
            raise ValueError(f"split {base.split!r} has {len(days)} start day(s) {days}; asked for {episodes} episodes")
        days = days[:episodes]
    return days


def run_policy(policy: Any, env: gym.Env, days: Sequence[int], progress: Callable[[str], None] | None = None,
               bar: Any = None) -> list[Episode]:
    """One episode per day; seeds 0, 1, … so noisy envs are reproducible and equal across policies.

    ``progress`` gets one line per day; ``bar`` (a tqdm bar, see :func:`progress_bar`) is advanced every step.
    """
    out = []
    for k, d in enumerate(days):
        if bar is not None:
            bar.set_postfix_str(f"{getattr(policy, 'name', type(policy).__name__)}, day {d}", refresh=False)
        ep = score_episode(policy, env, d, seed=k, on_step=None if bar is None else bar.update)
        out.append(ep)
        if progress:
            progress(f"  {ep.policy}: day {d}: ${ep.cost:,.2f}, SLO {ep.slo_pct:.2f}%, unmet {ep.unmet_pct:.2f}%, "
                     f"{ep.gpu_hours:.1f} GPU-h, {ep.decision_ms:.1f} ms/step")
    return out


def progress_bar(total: int, desc: str, enabled: bool | None = None) -> Any:
    """A tqdm bar over ``total`` env steps (ETA within days). ``enabled=None``: only on a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=None if enabled is None else not enabled,
                dynamic_ncols=True, leave=False)


def warm_up(env: gym.Env) -> None:
    """Compile the numba kernels (env step, router, ``evaluate``, GH's calls) before anything is timed, so the
    first policy is not charged the one-time compile (≈ 30 s on a fresh machine)."""
    from baselines import solve

    env.reset(seed=0)
    base = env.unwrapped
    solve(base.last_window_problem(), method="gh")
    env.step(np.zeros(base.action_space.shape, dtype=np.int64))


def one_line(row: dict[str, Any], wall_s: float | None = None) -> str:
    """A table row as one line: ``GH: $2,863.51/episode, SLO 98.60 %, unmet 1.399 %, 216.6 GPU-h, 2.82 ms/step``."""
    line = (f"{row['policy']}: ${row['mean_cost_usd']:,.2f}/episode over {row['episodes']} day(s), SLO "
            f"{row['slo_attainment_pct']:.2f} %, unmet {row['unmet_pct']:.3f} %, {row['gpu_hours']:,.1f} GPU-h, "
            f"{row['decision_ms_per_step']:,.2f} ms/step")
    return line + (f" ({wall_s:.0f} s)" if wall_s is not None else "")


def summarize(episodes: Sequence[Episode], name: str | None = None, notes: str = "") -> dict[str, Any]:
    """Means over the episodes (the table row; columns in :data:`agents.compare.TABLE_COLUMNS`)."""
    if not episodes:
        raise ValueError("no episodes")
    costs = np.array([e.cost for e in episodes])
    return {
        "policy": name or episodes[0].policy,
        "episodes": len(episodes),
        "mean_cost_usd": float(costs.mean()),
        "std_cost_usd": float(costs.std()),
        "slo_attainment_pct": float(np.mean([e.slo_pct for e in episodes])),
        "unmet_pct": float(np.mean([e.unmet_pct for e in episodes])),
        "gpu_hours": float(np.mean([e.gpu_hours for e in episodes])),
        "decision_ms_per_step": float(np.mean([e.decision_ms for e in episodes])),
        "mean_reward": float(np.mean([e.reward for e in episodes])),
        **{f"{k}_usd": float(np.mean([e.breakdown[k] for e in episodes])) for k in COST_PARTS},
        "clipped_steps": int(sum(e.clipped_steps for e in episodes)),
        "notes": notes,
    }


def policy_notes(policy: Any) -> str:
    st = getattr(policy, "stats", None) or {}
    notes = []
    if getattr(policy, "is_oracle", False):
        notes.append("knows the next window's true demand: what a perfect one-window forecast is worth to this "
                     "per-window planner; not a realisable policy and not a bound on the best achievable cost (it "
                     "still re-plans each window from scratch, blind to cold starts)")
    method = getattr(policy, "method", None)
    if method == "milp":
        tl = policy.solve_options.get("time_limit")
        n_tl = st.get("status:time_limit", 0)
        notes.append(f"HiGHS, time limit {tl:g} s/window, AGH warm start (its time included); {n_tl} window(s) "
                     "stopped at the limit" if tl is not None else "HiGHS, no time limit")
    settings = getattr(policy, "settings", None)
    if settings is not None and hasattr(settings, "line"):
        notes.append(settings.line())  # a forecast planner: what it was calibrated on (validation days)
    elif getattr(policy, "estimate", None) == "headroom":
        # where the value came from is the caller's to say (compare's default, a benchmark selection record)
        notes.append(f"plans for the last window × (1 + {policy.headroom:.0%})")
    if st.get("headroom_dropped", 0):
        notes.append(f"{st['headroom_dropped']} window(s) re-planned without headroom (no feasible plan with it)")
    fb = st.get("fallback_keep_fleet", 0) + st.get("fallback_infeasible_plan", 0) + st.get("error", 0)
    if method is not None:
        notes.append(f"{fb} fallback(s)" if fb else "no fallbacks")
    for name, message in getattr(policy, "error_messages", {}).items():
        notes.append(f"{st.get('error:' + name, 0)} window(s) raised {name}: {message}")
    if st.get("time_limit_overrun", 0):
        notes.append(f"{st['time_limit_overrun']} window(s) past the time limit")
    if isinstance(policy, AgentPolicy):
        rec = policy.record
        if rec:
            notes.append(f"{rec.get('algo', '').upper()} {rec.get('timesteps', 0):,} steps, seed {rec.get('seed')}, "
                         f"trained {rec.get('train_wall_s', 0) / 60:.0f} min wall")
    return "; ".join(notes)


def score_policy(policy: Any, env: str | gym.Env = "hetserve_env/HetServe-v1", split: str = "test",
                 episodes: int | None = None, progress: bool | None = None, **env_kwargs: Any) -> dict[str, Any]:
    """Score any policy on the project's metrics: one deterministic episode per day of ``split``.

    ``policy``: an object with SB3's ``predict`` (:class:`agents.policies.Policy`), a class or factory taking
    the env, or a :func:`load_policy` spec (``"agh"``, ``"model.zip"``, ``"my_module:MyPolicy"``). ``env``: a
    registered id (made with ``split`` and ``env_kwargs``, e.g. ``scenario="my.yaml"``) or an env (its own
    split is used). Returns the table row: mean episode cost ($), SLO attainment (%), unmet (%), GPU-hours,
    decision time (ms/step), the mean cost of every term, …

    >>> from agents import score_policy                               # doctest: +SKIP
    >>> score_policy("gh", "hetserve_env/HetServeSmall-v1")["mean_cost_usd"]   # doctest: +SKIP
    """
    made = isinstance(env, str)
    e = make_env(env, split, **env_kwargs) if made else env
    try:
        if isinstance(policy, str):
            pol = load_policy(policy, e)
        elif isinstance(policy, type) or (callable(policy) and not isinstance(policy, Policy)):
            pol = policy(e)
        else:
            pol = policy
        if not isinstance(pol, Policy):
            raise TypeError(f"{type(pol).__name__} is not a policy: it needs predict(observation, state=None, "
                            "episode_start=None, deterministic=True) -> (action, state)")
        days = split_days(e, episodes)
        warm_up(e)
        name = getattr(pol, "name", None) or type(pol).__name__
        bar = progress_bar(len(days) * e.unwrapped.episode_length, name, progress)
        try:
            eps = run_policy(pol, e, days, bar=bar)
        finally:
            bar.close()
        return summarize(eps, name, policy_notes(pol))
    finally:
        if made:
            e.close()


__all__ = ["Episode", "one_line", "policy_notes", "progress_bar", "run_policy", "score_episode", "score_policy",
           "split_days", "summarize", "warm_up"]
