"""The benchmark's 100-point reference per episode: the hindsight bound, or a labelled stand-in.

A reference is a callable ``ref(env, day, noise_seed) -> (value, kind)``: ``env`` is a fresh env of the
benchmark's env id and kwargs for that episode (its ``noise`` already set: 0 for exact replay), ``day`` the start
day, ``noise_seed`` the reset seed; ``value`` is in $ over the episode and ``kind`` says what it is. ``is_bound``
tells the scorecard whether the value is a valid lower bound on every policy's cost (then a policy that costs
less is an error, not a score above 100) and whether the word "bound" may be printed next to it.

* :func:`hindsight_reference` — the hindsight MILP of the whole episode (``baselines.hindsight``): its best
  bound, a valid lower bound (or the LP relaxation's value when the MILP gives none; ``kind`` says which); the
  env cost of its incumbent plan (clairvoyant, achievable) is kept in ``achieved`` for the scorecard.
* :func:`policy_reference` — a stand-in: a policy's own env cost on the episode (never called a bound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Reference:
    """A named per-episode reference (see the module docstring)."""

    name: str
    is_bound: bool
    fn: Callable[[Any, int, int], tuple[float, str]]
    #: per episode, the env cost of an achievable plan the reference also produced (the hindsight incumbent)
    achieved: list[float | None] = field(default_factory=list)

    def __call__(self, env: Any, day: int, noise_seed: int) -> tuple[float, str]:
        value, kind = self.fn(env, day, noise_seed)[:2]
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"reference {self.name!r} gave {value!r} on day {day}, noise seed {noise_seed}")
        return value, str(kind)


def hindsight_reference(time_limit: float = 60.0, lp_only: bool = False) -> Reference:
    """The hindsight bound of each episode (``baselines.hindsight.hindsight``; its ``bound`` and
    ``solution.bound_kind``). ImportError when this installation has no ``baselines.hindsight``."""
    try:
        from baselines.hindsight import hindsight
    except ImportError as exc:
        raise ImportError(f"the hindsight bound needs baselines.hindsight, which cannot be imported ({exc}); "
                          "pass a stand-in reference (--reference policy:SPEC) meanwhile") from None

    def bound(env: Any, day: int, noise_seed: int) -> tuple[float, str]:
        r = hindsight(env, day, seed=noise_seed, time_limit=time_limit, lp_only=lp_only)
        if r.bound is None:
            raise ValueError(f"hindsight: no bound on day {day}, noise seed {noise_seed} (status "
                             f"{r.solution.status!r}); raise --hindsight-time-limit or use the LP relaxation")
        ref.achieved.append(r.env_cost)
        return float(r.bound), f"hindsight {r.solution.bound_kind}"

    ref = Reference(f"hindsight bound ({'LP' if lp_only else 'MILP'}, {time_limit:g} s)", True, bound)
    return ref


def policy_reference(spec: str, **load_kwargs: Any) -> Reference:
    """A stand-in reference: the env cost of policy ``spec`` (a :func:`agents.policies.load_policy` spec) on each
    episode. Not a bound: labelled ``"<policy>'s env cost (stand-in, not a bound)"``."""
    from .evaluation import score_episode
    from .policies import load_policy

    def cost(env: Any, day: int, noise_seed: int) -> tuple[float, str]:
        policy = load_policy(spec, env, **load_kwargs)
        ep = score_episode(policy, env, day, seed=noise_seed)
        return ep.cost, f"{ep.policy}'s env cost (stand-in, not a bound)"

    return Reference(f"stand-in: {spec} (not a bound)", False, cost)


def parse_reference(text: str, time_limit: float = 60.0) -> Reference:
    """``hindsight`` | ``hindsight-lp`` | ``policy:SPEC`` -> :class:`Reference`."""
    t = str(text).strip()
    if t == "hindsight":
        return hindsight_reference(time_limit)
    if t == "hindsight-lp":
        return hindsight_reference(time_limit, lp_only=True)
    if t.startswith("policy:") and t[len("policy:"):].strip():
        return policy_reference(t[len("policy:"):].strip())
    raise ValueError(f"reference must be 'hindsight', 'hindsight-lp' or 'policy:SPEC', got {text!r}")


__all__ = ["Reference", "hindsight_reference", "parse_reference", "policy_reference"]
