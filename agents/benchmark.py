"""``hetserve benchmark``: every policy on the test days × noise seeds, scored against BAU and a reference.

The protocol (docs/benchmark.md, DESIGN §10): episodes are the split's days × noise seeds
(:mod:`agents.bench_protocol`; noise seed 0 = exact replay); every policy runs every episode through the one
episode runner; the business-as-usual static plan (``bau``, :mod:`baselines.static_plan`) and the 100-point
reference (:mod:`agents.bench_refs`: the hindsight bound, or a labelled stand-in) are computed per episode; the
normalised score, its IQM and 95 % stratified-bootstrap interval come from :mod:`agents.bench_stats`. Headroom
and checkpoints are chosen on validation days (:mod:`agents.bench_select`). Outputs: :mod:`agents.bench_report`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .bench_cache import RunCache, cached, files_digest, imports_code
from .bench_protocol import (DEFAULT_NOISE_SEEDS, NOISE_SIGMA, EpisodeKey, PolicyEntry, check_noise_seeds,
                             check_sigma, episode_keys, group_runs, parse_entry)
from .bench_refs import Reference, parse_reference
from .bench_select import HEADROOM_GRID, Selection, select_headroom
from .bench_stats import aggregate, normalised_scores
from .evaluation import Episode, policy_notes, score_episode, split_days, warm_up

#: the default policies: the reactive planners, GH with headroom (chosen on validation days) and the shipped agent
DEFAULT_POLICIES = ("gh", "agh", "gh-headroom", "model")
BAU_SPEC = "bau"


@dataclass
class Run:
    """One run of one policy group (a seed of an agent, or the one run of a deterministic planner)."""

    group: str
    seed: int | None
    spec: str
    episodes: list[Episode] = field(default_factory=list)
    notes: str = ""


def _entry_policies(entries: Sequence[PolicyEntry], env_id: str, extra: dict[str, Any], split: str,
                    selections: dict[str, Selection], load: Callable[..., Any]) -> list[tuple[str, int | None, Any]]:
    """``(group, seed, (entry, env kwargs, load kwargs))`` per entry, checked by building each policy once."""
    from .compare import SCORE_NEUTRAL_KWARGS
    from .policies import make_env, policy_env_kwargs, read_record

    out = []
    for e in entries:
        mkw = policy_env_kwargs(e.spec)
        rec = read_record(e.spec) if e.is_model else {}
        if rec.get("env_id") and rec["env_id"] != env_id:
            raise ValueError(f"{e.spec} was trained on {rec['env_id']}, not {env_id}")
        differs = {k: v for k, v in mkw.items() if k not in SCORE_NEUTRAL_KWARGS and extra.get(k) != v}
        if differs:
            raise ValueError(f"{e.spec} was trained with env kwargs {differs} that change the problem; the "
                             f"benchmark runs {env_id} with {extra or 'its defaults'} (pass env_kwargs)")
        lkw: dict[str, Any] = {}
        sel = selections.get(e.spec.lower())
        if sel is not None and sel.parameter == "headroom":
            lkw["headroom"] = float(sel.value)
        probe = make_env(env_id, split, **{**mkw, **extra})
        try:
            policy = load(e.spec, probe, **lkw)  # unknown names, bad files: an error before anything runs
        finally:
            probe.close()
        out.append((e.group or getattr(policy, "name", None) or e.spec, rec.get("seed"), (e, mkw, lkw)))
    return out


def _selections(entries: Sequence[PolicyEntry], given: Sequence[Selection], env_id: str, extra: dict[str, Any],
                test_days: Sequence[int], seeds: Sequence[int], sigma: float, grid: Sequence[float],
                log: Callable[[str], None]) -> tuple[list[PolicyEntry], dict[str, Selection]]:
    """Check the given records, add checkpoint choices as entries and choose missing headrooms on validation days."""
    by_policy: dict[str, Selection] = {}
    entries = list(entries)
    for s in given:
        # a checkpoint's record holds its model's env kwargs; those are checked against the benchmark's when loaded
        s.check(env_id, test_days, None if s.parameter == "checkpoint" else extra)
        if s.parameter == "checkpoint":
            entries.append(PolicyEntry(str(s.value), s.policy))
            by_policy[str(s.value).lower()] = s
        elif s.parameter == "headroom":
            if not any(e.spec.lower() == s.policy for e in entries):
                raise ValueError(f"selection record for {s.policy!r} matches no listed policy")
            by_policy[s.policy] = s
        else:
            raise ValueError(f"selection record for {s.policy!r}: unknown parameter {s.parameter!r}")
    for e in entries:
        key = e.spec.lower()
        if key.endswith("-headroom") and key not in by_policy:
            log(f"choosing the headroom of {key} on the validation days from {list(grid)} …")
            s = select_headroom(key, env_id, grid, env_kwargs=extra, noise_seeds=seeds, noise=sigma)
            s.check(env_id, test_days, extra)
            by_policy[key] = s
            log(f"  {key}: headroom {s.value:g} (validation days {s.days})")
    return entries, by_policy


def benchmark(scenario: str = "default", policies: Sequence[str] = DEFAULT_POLICIES,
              noise_seeds: Sequence[int] = DEFAULT_NOISE_SEEDS, noise: float = NOISE_SIGMA, split: str = "test",
              episodes: int | None = None, reference: str | Reference = "hindsight",
              selections: Sequence[Selection] = (), headroom_grid: Sequence[float] = HEADROOM_GRID,
              intervals: bool = True, reps: int = 10_000, milp_time_limit: float = 10.0,
              hindsight_time_limit: float = 60.0, model: str | Path | None = None,
              env_kwargs: dict[str, Any] | None = None, log: Callable[[str], None] | None = print,
              command: str | None = None, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Run the benchmark; returns ``table`` (the scorecard), ``episodes`` (per run × episode), the settings.

    ``policies``: ``[GROUP=]SPEC`` entries (:mod:`agents.bench_protocol`); ``"model"`` = ``model`` or the shipped
    agent. ``reference``: ``"hindsight"``, ``"hindsight-lp"``, ``"policy:SPEC"`` or a :class:`Reference`.
    ``intervals=False``: means only (no rliable needed). ``env_kwargs``: for every env (e.g. ``router``,
    ``window_minutes``); ``noise`` and ``split`` belong to the protocol and are refused there. ``cache_dir``: a folder
    of earlier runs and reference values to reuse when nothing they depend on changed (:mod:`agents.bench_cache`)."""
    from .compare import scenario_env
    from .policies import load_policy, make_env

    log = log or (lambda s: None)
    if intervals:
        from .bench_stats import require_iqm

        require_iqm()  # fail before hours of episodes, not after
    t_start = time.perf_counter()
    env_id, base_kw = scenario_env(scenario)
    owned = sorted(set(env_kwargs or {}) & {"noise", "split"})
    if owned:
        raise ValueError(f"env_kwargs {owned}: set by the protocol (--noise, --noise-seeds, --split), not per env")
    base_kw = {**base_kw, **(env_kwargs or {})}
    seeds = check_noise_seeds(noise_seeds)
    sigma = check_sigma(noise, seeds)
    ref = reference if isinstance(reference, Reference) else parse_reference(reference, hindsight_time_limit)
    specs = _parse_entries(policies, model, env_id)
    probe = make_env(env_id, split, **base_kw)
    days = split_days(probe, episodes)
    keys = episode_keys(days, seeds)
    warm_up(probe)
    probe.close()
    specs, chosen = _selections(specs, selections, env_id, base_kw, days, seeds, sigma, headroom_grid, log)

    def load(spec: str, env: Any, **kw: Any) -> Any:
        return load_policy(spec, env, milp_time_limit=milp_time_limit, cache=cache, **kw)

    cache: dict = {}
    labelled = _entry_policies([PolicyEntry(BAU_SPEC, None), *specs], env_id, base_kw, split, chosen, load)
    groups = group_runs(labelled)
    log(f"hetserve benchmark: {env_id}, {split} days {days} × noise seeds {list(seeds)} (σ = {sigma:g}; 0 = exact "
        f"replay): {len(keys)} episodes, {sum(len(r) for r in groups.values())} runs of {len(groups)} policies; "
        f"reference: {ref.name}")
    rc = RunCache(cache_dir) if cache_dir is not None else None
    same = {"env_id": env_id, "split": split, "env_kwargs": base_kw, "sigma": sigma,
            "episodes": [k.label for k in keys]}
    runs: list[Run] = []
    for group, members in groups.items():
        for seed, (entry, mkw, lkw) in members:
            label = f"{group}{'' if seed is None else f' (seed {seed})'}"
            run = cached(None if imports_code(entry.spec) else rc, label,
                         lambda: _run(group, seed, entry, mkw, lkw, keys, env_id, base_kw, sigma, load, split),
                         kind="run", **same, group=group, seed=seed, spec=entry.spec, mkw=mkw, lkw=lkw,
                         files=files_digest(entry.spec), milp_time_limit=milp_time_limit)
            sel = chosen.get(entry.spec.lower())
            if sel is not None:
                what = (f"headroom {sel.value:g}" if sel.parameter == "headroom" else
                        f"checkpoint {Path(str(sel.value)).name} (of {len(sel.candidates)})")
                run.notes = "; ".join(x for x in (f"{what} chosen on validation days {sel.days}", run.notes) if x)
            runs.append(run)
            log(f"  {label}: mean ${np.mean([e.cost for e in run.episodes]):,.2f}/episode over {len(run.episodes)} "
                "episodes")
    ref_spec = _reference_spec(reference)
    ref_vals, ref.achieved[:] = cached(
        None if ref_spec and imports_code(ref_spec) else rc, f"reference: {ref.name}",
        lambda: (_reference_values(ref, keys, env_id, split, base_kw, sigma), list(ref.achieved)),
        kind="reference", **same, reference=ref.name, files=ref_spec and files_digest(ref_spec))
    result = _score(runs, keys, ref, ref_vals, intervals, reps)
    result.update({"env_id": env_id, "scenario": scenario, "split": split, "days": days, "noise_seeds": list(seeds),
                   "noise": sigma, "command": command, "wall_s": time.perf_counter() - t_start,
                   "selections": [vars(s) for s in chosen.values()], "intervals": intervals, "reps": reps,
                   "cached": list(rc.hits) if rc else []})
    return result


def _reference_spec(reference: str | Reference) -> str | None:
    """The policy spec of a ``policy:SPEC`` reference (its files key the cached values), else ``None``."""
    text = reference.strip() if isinstance(reference, str) else ""
    return text[len("policy:"):].strip() if text.startswith("policy:") else None


def _parse_entries(policies: Sequence[str], model: str | Path | None, env_id: str) -> list[PolicyEntry]:
    """The listed entries; ``model`` (also ``GROUP=model``) becomes ``model`` or the env id's shipped agent."""
    from .policies import shipped_model

    specs = []
    for p in policies:
        if str(p).split("=", 1)[-1].strip() == "model":
            m = model or shipped_model(env_id)
            if m is None:
                raise ValueError(f"no shipped agent for {env_id}: pass a model .zip instead of 'model'")
            p = str(p).rsplit("model", 1)[0] + str(m)
        specs.append(parse_entry(p))
    if any(e.spec.lower() == BAU_SPEC for e in specs):
        raise ValueError("'bau' is the benchmark's 0-point reference and always runs; do not list it")
    return specs


def _reference_values(ref: Reference, keys: Sequence[EpisodeKey], env_id: str, split: str, base_kw: dict,
                      sigma: float) -> list[tuple[float, str]]:
    """``(value, kind)`` of the reference on every episode, each on a fresh env with the episode's noise."""
    from .policies import make_env

    out = []
    ref.achieved.clear()  # one entry per episode of this benchmark
    for k in keys:
        env = make_env(env_id, split, **{**base_kw, "noise": k.noise(sigma)})
        try:
            out.append(ref(env, k.day, k.noise_seed))
        finally:
            env.close()
    return out


def _run(group: str, seed: int | None, entry: PolicyEntry, mkw: dict, lkw: dict, keys: Sequence[EpisodeKey],
         env_id: str, base_kw: dict, sigma: float, load: Callable[..., Any], split: str) -> Run:
    """Every episode of one run; one env (and policy) per noise level, the policy's own env kwargs included."""
    from .policies import make_env

    run = Run(group, seed, entry.spec)
    envs: dict[float, tuple[Any, Any]] = {}
    try:
        for k in keys:
            lvl = k.noise(sigma)
            if lvl not in envs:
                env = make_env(env_id, split, **{**mkw, **base_kw, "noise": lvl})
                envs[lvl] = (env, load(entry.spec, env, **lkw))
            env, policy = envs[lvl]
            ep = score_episode(policy, env, k.day, seed=k.noise_seed)
            ep.policy = group
            run.episodes.append(ep)
        notes = (getattr(p, "note", None) or policy_notes(p) for _, p in envs.values())
        run.notes = "; ".join(dict.fromkeys(n for n in notes if n))
    finally:
        for env, _ in envs.values():
            env.close()
    return run


def _score(runs: Sequence[Run], keys: Sequence[EpisodeKey], ref: Reference, ref_vals: Sequence[tuple[float, str]],
           intervals: bool, reps: int) -> dict[str, Any]:
    """Normalised scores, the scorecard rows and the per-episode rows."""
    labels = [k.label for k in keys]
    bau_runs = [r for r in runs if r.spec == BAU_SPEC]
    bau = np.array([e.cost for e in bau_runs[0].episodes])
    refv = np.array([v for v, _ in ref_vals])
    if ref.is_bound:
        for r in runs:
            c = np.array([e.cost for e in r.episodes])
            low = np.flatnonzero(c < refv - 1e-6 * np.maximum(1.0, np.abs(refv)))
            if low.size:
                k = int(low[0])
                raise ValueError(f"{r.group} costs ${c[k]:,.4f} on {labels[k]}, below the bound ${refv[k]:,.4f}: "
                                 "the bound is not valid there (report it)")
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(r.group, []).append(r)
    matrices, rows, ep_rows = {}, [], []
    for g, rs in groups.items():
        cost = np.array([[e.cost for e in r.episodes] for r in rs])
        matrices[g] = normalised_scores(cost, bau, refv, labels)
        for r, srow in zip(rs, matrices[g]):
            for k, e, s in zip(keys, r.episodes, srow):
                ep_rows.append({**e.row(), "policy": g, "run_seed": r.seed, "noise_seed": k.noise_seed,
                                "episode": k.label, "bau_cost": float(bau[labels.index(k.label)]),
                                "reference": float(refv[labels.index(k.label)]), "score": float(s)})
    stats = aggregate(matrices, intervals=intervals, reps=reps)
    for g, rs in groups.items():
        eps = [e for r in rs for e in r.episodes]
        seeds = [r.seed for r in rs if r.seed is not None]
        rows.append({"policy": g, "runs": len(rs), "seeds": " ".join(map(str, seeds)), "episodes": len(eps),
                     "mean_cost_usd": float(np.mean([e.cost for e in eps])),
                     "slo_attainment_pct": float(np.mean([e.slo_pct for e in eps])),
                     "unmet_pct": float(np.mean([e.unmet_pct for e in eps])),
                     "gpu_hours": float(np.mean([e.gpu_hours for e in eps])),
                     "decision_ms_per_step": float(np.mean([e.decision_ms for e in eps])), **stats[g],
                     "notes": "; ".join(dict.fromkeys(r.notes for r in rs if r.notes))})
    if len(ref.achieved) == len(keys) and all(v is not None for v in ref.achieved):
        rows.append(_achieved_row(ref, np.array(ref.achieved, dtype=np.float64), bau, refv, labels, intervals, reps))
    kinds = sorted(set(k for _, k in ref_vals))
    rows.append({"policy": f"Reference: {ref.name}", "runs": 0, "seeds": "", "episodes": len(keys),
                 "mean_cost_usd": float(refv.mean()), "slo_attainment_pct": None, "unmet_pct": None,
                 "gpu_hours": None, "decision_ms_per_step": None, "score_mean": 100.0,
                 "score_iqm": 100.0 if intervals else None, "score_ci_low": None, "score_ci_high": None,
                 "notes": ("a valid lower bound on every policy's cost; " if ref.is_bound else "not a bound; ")
                 + "kinds: " + ", ".join(kinds)})
    return {"table": pd.DataFrame(rows), "episodes": pd.DataFrame(ep_rows), "scores": matrices,
            "reference": {"name": ref.name, "is_bound": ref.is_bound, "values": refv.tolist(),
                          "kinds": [k for _, k in ref_vals], "episodes": labels,
                          "achieved_env_cost": list(ref.achieved)}}


def _achieved_row(ref: Reference, cost: np.ndarray, bau: np.ndarray, refv: np.ndarray, labels: list[str],
                  intervals: bool, reps: int) -> dict[str, Any]:
    """The scorecard row of the plan the reference produced (the hindsight incumbent played in the env)."""
    scores = normalised_scores(cost[None, :], bau, refv, labels)
    name = "Hindsight incumbent (clairvoyant plan, env cost)"
    return {"policy": name, "runs": 1, "seeds": "", "episodes": len(labels), "mean_cost_usd": float(cost.mean()),
            "slo_attainment_pct": None, "unmet_pct": None, "gpu_hours": None, "decision_ms_per_step": None,
            **aggregate({name: scores}, intervals=intervals, reps=reps)[name],
            "notes": "knows the whole episode's demand: achievable only in hindsight, not a policy"}


__all__ = ["BAU_SPEC", "DEFAULT_POLICIES", "Run", "benchmark"]
