"""Episode metrics, saved agents as policies, and the main job (``hetserve compare``).

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

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import gymnasium as gym
import numpy as np
import pandas as pd

from baselines.experiments import COST_TERMS

from . import MODELS_DIR
from .train import TemplateSubset, algo_class, start_days

#: scenario name -> registered env id
SCENARIO_ENV = {
    "default": "hetserve_env/HetServe-v0",
    "small": "hetserve_env/HetServeSmall-v0",
    "paper": "hetserve_env/HetServePaper-v0",
}

#: the shipped model per env id (``agents/models/<name>.zip`` + ``.json``)
SHIPPED_MODELS = {"hetserve_env/HetServe-v0": MODELS_DIR / "ppo_HetServe-v0.zip"}

#: env kwargs that change how a policy acts, not what it is scored on (a model may differ from the others in them)
SCORE_NEUTRAL_KWARGS = ("action_mode", "render_mode")


# ============================================================================================ saved agents
def read_record(path: str | Path) -> dict[str, Any]:
    """The JSON record written next to a model by :func:`agents.train.train` (``{}`` if there is none)."""
    p = Path(path)
    j = p.with_suffix(".json")
    return json.loads(j.read_text()) if j.exists() else {}


def shipped_model(env_id: str = "hetserve_env/HetServe-v0") -> Path | None:
    p = SHIPPED_MODELS.get(env_id)
    return p if p is not None and p.exists() else None


class AgentPolicy:
    """A saved SB3 model (PPO, A2C, MaskablePPO) as a policy on the *unwrapped* env, like a SolverPolicy.

    Reads ``<model>.json`` (written by ``hetserve train``) for the algorithm, the env kwargs it was trained
    with (e.g. ``action_mode``), its action wrapper (:class:`agents.train.TemplateSubset`: the model sees
    the candidate templates' part of the observation and its action is expanded to all templates) and the
    VecNormalize statistics file if observations were normalised. Without a JSON the algorithm is found by
    trying PPO, MaskablePPO, A2C and no wrapper is applied.

    ``env``: a single Gymnasium env (wrapped or not) or an SB3 VecEnv of the same env id and kwargs;
    ``predict`` takes its observations and returns its actions (``(D,)`` or ``(n, D)``).
    """

    def __init__(self, path: str | Path, env: Any, name: str | None = None, device: str = "cpu") -> None:
        path = Path(path)
        if not path.exists() and path.with_suffix(".zip").exists():
            path = path.with_suffix(".zip")
        if not path.exists():
            raise FileNotFoundError(f"no model at {path}")
        self.path = path
        self.record = read_record(path)
        self.model = self._load(path, self.record.get("algo"), device)
        self.algo = self.record.get("algo") or type(self.model).__name__.lower()
        self.name = name or self.record.get("label") or {"ppo": "PPO", "a2c": "A2C", "ppo_mask": "MaskablePPO"}.get(self.algo, self.algo)
        self.is_vec = hasattr(env, "env_method") and hasattr(env, "num_envs")
        self.env = env
        proto = self._prototype(env)
        base = proto.unwrapped
        want_mode = (self.record.get("env_kwargs") or {}).get("action_mode", "target")
        if base.action_mode != want_mode:
            raise ValueError(f"{path.name} was trained with action_mode={want_mode!r}; the env has "
                             f"action_mode={base.action_mode!r} (make it with the record's env_kwargs)")
        self.wrapper: TemplateSubset | None = None
        spec = self.record.get("env_wrapper")
        if spec:
            name_, kw = spec[0], dict(spec[1] or {})
            if not name_.endswith("TemplateSubset"):
                raise ValueError(f"unsupported wrapper {name_!r} in {path.with_suffix('.json').name}")
            labels = self.record.get("template_labels")
            if labels:  # map by label: robust to a re-ordered template list
                idx = {lab: k for k, lab in enumerate(base.template_labels)}
                missing = [lab for lab in labels if lab not in idx]
                if missing:
                    raise ValueError(f"{path.name}: templates {missing[:3]} are not in this env's scenario")
                kw = {"templates": [idx[lab] for lab in labels]}
            self.wrapper = TemplateSubset(proto, **kw)
        self.obs_rms = None
        vn = self.record.get("vecnormalize")
        if vn:
            import pickle

            with open(path.with_name(vn), "rb") as f:
                self.obs_rms = pickle.load(f)  # a VecNormalize; only normalize_obs is used
        space = self.wrapper.observation_space if self.wrapper else base.observation_space
        if self.model.observation_space.shape != space.shape:
            raise ValueError(f"{path.name} expects observations of shape {self.model.observation_space.shape}, "
                             f"the env gives {space.shape}")
        self.maskable = self.algo == "ppo_mask" or type(self.model).__name__ == "MaskablePPO"
        self.decision_times: list[float] = []
        from collections import Counter

        self.stats: Counter = Counter()

    @staticmethod
    def _load(path: Path, algo: str | None, device: str):
        if algo:
            return algo_class(algo).load(path, device=device)
        last: Exception | None = None
        for algo in ("ppo", "ppo_mask", "a2c"):
            try:
                return algo_class(algo).load(path, device=device)
            except Exception as exc:  # noqa: PERF203
                last = exc
        raise ValueError(f"could not load {path} as PPO, MaskablePPO or A2C: {last}")

    def _prototype(self, env: Any) -> gym.Env:
        if not self.is_vec:
            return env
        env_id = self.record.get("env_id") or env.get_attr("spec")[0].id
        kwargs = dict(self.record.get("env_kwargs") or {})
        return gym.make(env_id, **kwargs)

    def _masks(self, n: int) -> np.ndarray | None:
        if not self.maskable:
            return None
        if self.is_vec:
            m = np.stack(self.env.env_method("action_masks"))
        else:
            m = self.env.unwrapped.action_masks()[None, :]
        if self.wrapper is not None:
            m = self.wrapper.mask(m)
        return m if n > 1 else m[0]

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        t0 = time.perf_counter()
        obs = np.asarray(observation, dtype=np.float32)
        batched = obs.ndim >= 2
        x = self.wrapper.observation(obs) if self.wrapper is not None else obs
        if self.obs_rms is not None:
            x = self.obs_rms.normalize_obs(x)
        kw = {}
        masks = self._masks(obs.shape[0] if batched else 1)
        if masks is not None:
            kw["action_masks"] = masks
        a, state = self.model.predict(x, state=state, episode_start=episode_start, deterministic=deterministic, **kw)
        a = np.asarray(a, dtype=np.int64)
        if self.wrapper is not None:
            a = self.wrapper.full_action(a)
        self.decision_times.append((time.perf_counter() - t0) / (obs.shape[0] if batched else 1))
        self.stats["calls"] += 1
        return a, state

    def reset_stats(self) -> None:
        self.decision_times.clear()
        self.stats.clear()


# ============================================================================================ policies by name
def make_env(env_id: str, split: str = "test", **kwargs: Any) -> gym.Env:
    import hetserve_env  # noqa: F401  (registers the ids)

    return gym.make(env_id, split=split, **kwargs)


def load_policy(spec: str, env: Any, *, milp_time_limit: float | None = None, headroom: float = 0.1,
                cache: dict | None = None, seed: int = 0, name: str | None = None) -> Any:
    """A policy from a name (``gh``, ``agh``, ``milp``, ``…-headroom``, ``…-oracle``, ``random``) or the path
    of a saved model (``.zip``)."""
    from baselines.policies import POLICY_NAMES, make_policy

    key = str(spec).lower()
    if key in POLICY_NAMES or key == "random":
        kw: dict[str, Any] = {"seed": seed} if key == "random" else {"cache": cache, "name": name}
        if "headroom" in key:
            kw["headroom"] = headroom
        if key.startswith("milp") and milp_time_limit is not None:
            kw["solve_options"] = {"time_limit": float(milp_time_limit)}
        return make_policy(key, env, **kw)
    p = Path(spec)
    if p.suffix == ".zip" or p.with_suffix(".zip").exists():
        return AgentPolicy(p, env, name=name)
    raise ValueError(f"unknown policy {spec!r}: give gh, agh, milp, agh-oracle, agh-headroom, random, or a model .zip")


def policy_env_kwargs(spec: str) -> dict[str, Any]:
    """The env kwargs a policy needs (a saved model's training kwargs; none for the solvers)."""
    p = Path(spec)
    if p.suffix == ".zip" or p.with_suffix(".zip").exists():
        kw = dict(read_record(p).get("env_kwargs") or {})
        kw.pop("split", None)
        return kw
    return {}


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


def run_episode(policy: Any, env: gym.Env, day: int, seed: int | None = None) -> Episode:
    """Run one deterministic episode of ``policy`` on ``env`` starting at ``day``."""
    obs, info = env.reset(seed=seed, options={"day": int(day)})
    base = env.unwrapped
    hours = base.window_s / 3600.0
    times = getattr(policy, "decision_times", None)
    rows = []
    terms = dict.fromkeys(COST_TERMS, 0.0)
    reward_sum = 0.0
    clipped = 0
    t = 0
    while True:
        n_before = len(times) if times is not None else 0
        t0 = time.perf_counter()
        action, _ = policy.predict(obs, deterministic=True)
        wall = time.perf_counter() - t0
        dt = times[-1] if times is not None and len(times) > n_before else wall
        obs, reward, terminated, truncated, info = env.step(action)
        reward_sum += float(reward)
        c = info["cost"]
        for k in COST_TERMS:
            terms[k] += float(c.get(k, 0.0))
        demand = float(np.sum(info["demand"]))
        gpus = float(sum(info["gpus_by_type"].values()))
        clipped += bool(info["clipped"])
        rows.append({
            "step": t, "window": info["window"], "demand_rps": demand, "served_rps": info["served_rate"],
            "unmet_rps": info["unmet_rate"], "slo": info["slo_attainment"]["overall"], "cost_usd": float(c["total"]),
            "rental_usd": float(c["rental"] + c["cold_start"]),
            "penalty_usd": float(c["unmet_penalty"] + c["delay_penalty"] + c["error_penalty"] + c["clip_penalty"]),
            "gpus": gpus, "replicas": int(np.sum(info["replicas"])), "decision_ms": dt * 1e3,
            "clipped": bool(info["clipped"]),
        })
        t += 1
        if terminated or truncated:
            break
    tr = pd.DataFrame(rows)
    dem = tr["demand_rps"].to_numpy()
    tot = dem.sum()
    return Episode(
        policy=getattr(policy, "name", type(policy).__name__), day=int(day), steps=t,
        cost=float(tr["cost_usd"].sum()),
        slo_pct=100.0 * float((tr["slo"].to_numpy() * dem).sum() / tot) if tot > 0 else 100.0,
        unmet_pct=100.0 * float(tr["unmet_rps"].sum() / tot) if tot > 0 else 0.0,
        gpu_hours=float(tr["gpus"].sum() * hours),
        decision_ms=float(tr["decision_ms"].mean()),
        reward=reward_sum, breakdown=terms, clipped_steps=clipped, trace=tr,
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


def evaluate(policy: Any, env: gym.Env, days: Sequence[int], progress: Callable[[str], None] | None = None) -> list[Episode]:
    """One episode per day; seeds 0, 1, … so noisy envs are reproducible and equal across policies."""
    out = []
    for k, d in enumerate(days):
        ep = run_episode(policy, env, d, seed=k)
        out.append(ep)
        if progress:
            progress(f"  {ep.policy}: day {d}: ${ep.cost:,.2f}, SLO {ep.slo_pct:.2f}%, unmet {ep.unmet_pct:.2f}%, "
                     f"{ep.gpu_hours:.1f} GPU-h, {ep.decision_ms:.1f} ms/step")
    return out


def summarize(episodes: Sequence[Episode], name: str | None = None, notes: str = "") -> dict[str, Any]:
    """Means over the episodes (the table row)."""
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
        **{f"{k}_usd": float(np.mean([e.breakdown[k] for e in episodes])) for k in COST_TERMS},
        "clipped_steps": int(sum(e.clipped_steps for e in episodes)),
        "notes": notes,
    }


def _policy_notes(policy: Any) -> str:
    st = getattr(policy, "stats", None) or {}
    notes = []
    if getattr(policy, "is_oracle", False):
        notes.append("knows the next window's true demand: an upper bound on what a perfect forecast is worth to "
                     "this per-window planner, not a realisable policy (and not a bound on the best achievable cost: "
                     "it still re-plans each window from scratch, blind to cold starts)")
    method = getattr(policy, "method", None)
    if method == "milp":
        tl = policy.solve_options.get("time_limit")
        n_tl = st.get("status:time_limit", 0)
        notes.append(f"HiGHS, time limit {tl:g} s/window, AGH warm start (its time included); {n_tl} window(s) "
                     "stopped at the limit" if tl is not None else "HiGHS, no time limit")
    fb = st.get("fallback_keep_fleet", 0) + st.get("fallback_infeasible_plan", 0) + st.get("error", 0)
    if method is not None:
        notes.append(f"{fb} fallback(s)" if fb else "no fallbacks")
    if st.get("time_limit_overrun", 0):
        notes.append(f"{st['time_limit_overrun']} window(s) past the time limit")
    if isinstance(policy, AgentPolicy):
        rec = policy.record
        if rec:
            notes.append(f"{rec.get('algo', '').upper()} {rec.get('timesteps', 0):,} steps, seed {rec.get('seed')}, "
                         f"trained {rec.get('train_wall_s', 0) / 60:.0f} min wall")
    return "; ".join(notes)


# ============================================================================================ compare
DEFAULT_POLICIES = ("gh", "agh", "milp", "agh-oracle", "gh-headroom", "model")
#: headroom of the ``-headroom`` policies in ``compare``: the best of 20-80 % for GH on the validation days
#: (docs/agents.md), so the reactive heuristic with a margin is tuned like the agent, on the same days
COMPARE_HEADROOM = 0.5


def compare(scenario: str = "default", episodes: int | None = None, split: str = "test",
            out: str | Path | None = "results/compare", milp_time_limit: float = 10.0, model: str | Path | None = None,
            policies: Sequence[str] = DEFAULT_POLICIES, router: str | None = None, headroom: float = COMPARE_HEADROOM,
            trace_day: int | None = None, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """The main job: every policy on the same days of ``split``; a table, CSV, Markdown and a plot.

    ``policies``: names for :func:`load_policy` plus ``"model"`` (the shipped agent of the scenario's env id,
    or ``model``). Solver policies share one plan cache (see :mod:`baselines.policies`). Returns a dict with
    the summary ``table`` (DataFrame), per-``episodes`` rows, per-step ``traces`` and the output ``files``.
    """
    log = log or (lambda s: None)
    if scenario not in SCENARIO_ENV:
        raise ValueError(f"scenario must be one of {sorted(SCENARIO_ENV)}, got {scenario!r}")
    env_id = SCENARIO_ENV[scenario]
    extra = {"router": router} if router else {}
    cache: dict = {}
    t_start = time.perf_counter()
    summaries, episode_rows, traces = [], [], []
    days: list[int] | None = None
    model_record = None
    mpath, mkw = None, {}
    if "model" in policies:  # check the model before running anything
        mpath = Path(model) if model is not None else shipped_model(env_id)
        if mpath is not None:
            if not mpath.exists() and not mpath.with_suffix(".zip").exists():
                raise FileNotFoundError(f"no model at {mpath}")
            mkw = policy_env_kwargs(str(mpath))
            rec_env = read_record(mpath).get("env_id")
            if rec_env and rec_env != env_id:
                raise ValueError(f"{mpath} was trained on {rec_env}, not {env_id} (scenario {scenario!r})")
            differs = {k: v for k, v in mkw.items() if k not in SCORE_NEUTRAL_KWARGS and extra.get(k) != v}
            if differs:
                raise ValueError(f"{mpath} was trained with env kwargs {differs} that change the problem; the "
                                 f"comparison runs {env_id} with {extra or 'its defaults'}")
    for spec in policies:
        if spec == "model":
            if mpath is None:
                log(f"(no shipped model for {env_id}: skipping the learned agent; pass --model PATH)")
                continue
            env = make_env(env_id, split, **{**mkw, **extra})
            policy = load_policy(str(mpath), env)
            model_record = policy.record
        else:
            env = make_env(env_id, split, **extra)
            policy = load_policy(spec, env, milp_time_limit=milp_time_limit, headroom=headroom, cache=cache)
        if days is None:
            days = split_days(env, episodes)
            log(f"hetserve compare: scenario {scenario} ({env_id}), split {split}, days {days}"
                + (f", router {router}" if router else ""))
        t0 = time.perf_counter()
        eps = evaluate(policy, env, days, progress=log)
        row = summarize(eps, policy.name, _policy_notes(policy))
        row["eval_wall_s"] = time.perf_counter() - t0
        summaries.append(row)
        for e in eps:
            episode_rows.append(e.row())
            tr = e.trace.copy()
            tr.insert(0, "day", e.day)
            tr.insert(0, "policy", e.policy)
            traces.append(tr)
        env.close()
    table = pd.DataFrame(summaries)
    result: dict[str, Any] = {"table": table, "episodes": pd.DataFrame(episode_rows),
                              "traces": pd.concat(traces, ignore_index=True) if traces else pd.DataFrame(),
                              "days": days, "env_id": env_id, "scenario": scenario, "split": split,
                              "wall_s": time.perf_counter() - t_start, "model_record": model_record,
                              "milp_time_limit": milp_time_limit, "router": router or "greedy"}
    result["gap"] = gap_summary(table)
    if out is not None:
        result["files"] = write_outputs(result, Path(out), trace_day=trace_day)
    return result


def gap_summary(table: pd.DataFrame, agent: str | None = None, reference: str = "AGH") -> dict[str, Any] | None:
    """The learned agent's cost gap to ``reference`` (relative, + = more expensive) and both SLO attainments."""
    if table.empty or reference not in set(table["policy"]):
        return None
    ref = table[table["policy"] == reference].iloc[0]
    cands = [p for p in table["policy"] if p not in ("GH", "AGH", "MILP", "Random") and "oracle" not in p
             and "headroom" not in p]
    if agent is None:
        if not cands:
            return None
        agent = cands[0]
    a = table[table["policy"] == agent].iloc[0]
    return {"agent": agent, "reference": reference,
            "cost_gap_pct": 100.0 * (a["mean_cost_usd"] - ref["mean_cost_usd"]) / ref["mean_cost_usd"],
            "agent_cost_usd": float(a["mean_cost_usd"]), "reference_cost_usd": float(ref["mean_cost_usd"]),
            "agent_slo_pct": float(a["slo_attainment_pct"]), "reference_slo_pct": float(ref["slo_attainment_pct"]),
            "within_10pct_at_equal_or_better_slo": bool(a["mean_cost_usd"] <= 1.1 * ref["mean_cost_usd"]
                                                        and a["slo_attainment_pct"] >= ref["slo_attainment_pct"] - 1e-9)}


def headroom_gaps(table: pd.DataFrame, agent: str) -> list[dict[str, Any]]:
    """:func:`gap_summary` of ``agent`` against each ``-headroom`` policy in ``table``."""
    gaps = (gap_summary(table, agent, ref) for ref in table["policy"] if "headroom" in ref)
    return [g for g in gaps if g]


# ============================================================================================ outputs
TABLE_COLUMNS = {
    "policy": "policy",
    "mean_cost_usd": "mean episode cost ($)",
    "slo_attainment_pct": "SLO attainment (%)",
    "unmet_pct": "unmet demand (%)",
    "gpu_hours": "GPU-hours",
    "decision_ms_per_step": "decision time (ms/step)",
}


def format_table(table: pd.DataFrame, markdown: bool = False) -> str:
    df = table[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS).copy()
    fmt = {
        "mean episode cost ($)": lambda v: f"{v:,.2f}",
        "SLO attainment (%)": lambda v: f"{v:.2f}",
        "unmet demand (%)": lambda v: f"{v:.3f}",
        "GPU-hours": lambda v: f"{v:,.1f}",
        "decision time (ms/step)": lambda v: f"{v:,.2f}" if v < 100 else f"{v:,.0f}",
    }
    for col, f in fmt.items():
        df[col] = df[col].map(f)
    if markdown:
        head = "| " + " | ".join(df.columns) + " |"
        sep = "|" + "|".join(["---"] + ["---:"] * (len(df.columns) - 1)) + "|"
        body = ["| " + " | ".join(str(v) for v in r) + " |" for r in df.itertuples(index=False)]
        return "\n".join([head, sep, *body])
    return df.to_string(index=False)


def write_outputs(result: dict[str, Any], out: Path, trace_day: int | None = None) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    table: pd.DataFrame = result["table"]
    files = {}
    files["csv"] = str(out / "compare.csv")
    table.to_csv(files["csv"], index=False)
    files["episodes"] = str(out / "episodes.csv")
    result["episodes"].to_csv(files["episodes"], index=False)
    files["traces"] = str(out / "traces.csv")
    result["traces"].to_csv(files["traces"], index=False)
    files["markdown"] = str(out / "compare.md")
    Path(files["markdown"]).write_text(markdown_report(result))
    if not table.empty:
        files["plot"] = str(out / "compare.png")
        plot_compare(result, files["plot"], trace_day=trace_day)
    meta = {k: result[k] for k in ("env_id", "scenario", "split", "days", "wall_s", "milp_time_limit", "router", "gap")}
    meta["model_record"] = result.get("model_record")
    meta["command"] = result.get("command")
    files["json"] = str(out / "compare.json")
    Path(files["json"]).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return files


def markdown_report(result: dict[str, Any]) -> str:
    table = result["table"]
    lines = [f"# hetserve compare: scenario `{result['scenario']}` ({result['env_id']}), {result['split']} days "
             f"{result['days']}", ""]
    if result.get("command"):
        lines += [f"Command: `{result['command']}`", ""]
    lines += [format_table(table, markdown=True), ""]
    lines.append("Means over one deterministic episode per day (144 ten-minute windows per day on the default "
                 "scenario). Cost = rental + cold starts + storage + unmet/delay/error/clip penalties, in $; "
                 "SLO attainment = request-weighted share served within the delay SLO; GPU-hours = GPUs billed × "
                 "hours; decision time = the policy's time per window (solver time for GH/AGH/MILP).")
    lines.append("")
    for _, r in table.iterrows():
        if r["notes"]:
            lines.append(f"* **{r['policy']}**: {r['notes']}")
    gap = result.get("gap")
    gaps = [gap, *headroom_gaps(table, gap["agent"])] if gap else []
    if gaps:
        lines.append("")
    for g in gaps:
        lines.append(f"**{g['agent']} vs. {'reactive ' if g['reference'] == 'AGH' else ''}{g['reference']}**: mean "
                     f"episode cost ${g['agent_cost_usd']:,.2f} vs. ${g['reference_cost_usd']:,.2f} "
                     f"({g['cost_gap_pct']:+.1f} %), SLO attainment {g['agent_slo_pct']:.2f} % vs. "
                     f"{g['reference_slo_pct']:.2f} %.")
    rec = result.get("model_record")
    if rec:
        lines += ["", f"Learned agent: `{rec.get('model')}` — {rec.get('algo', '').upper()}, "
                      f"{rec.get('timesteps', 0):,} steps, seed {rec.get('seed')}, trained in "
                      f"{rec.get('train_wall_s', 0) / 60:.1f} min wall / {rec.get('train_cpu_s', 0) / 60:.1f} min CPU; "
                      f"command `{rec.get('command')}`."]
    lines += ["", "Cost breakdown (mean $ per episode):", ""]
    cols = ["policy", *[f"{k}_usd" for k in COST_TERMS]]
    bd = table[cols].copy()
    lines.append("| " + " | ".join(c.replace("_usd", "") for c in cols) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|")
    for r in bd.itertuples(index=False):
        lines.append("| " + " | ".join([str(r[0]), *[f"{v:,.2f}" for v in r[1:]]]) + " |")
    lines += ["", f"Total wall time of the comparison: {result['wall_s'] / 60:.1f} min.", ""]
    return "\n".join(lines)


def plot_compare(result: dict[str, Any], path: str | Path, trace_day: int | None = None) -> None:
    """Cost vs. SLO attainment (means and episodes) and, for one day, per-step cost and fleet traces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table: pd.DataFrame = result["table"]
    eps: pd.DataFrame = result["episodes"]
    traces: pd.DataFrame = result["traces"]
    day = trace_day if trace_day is not None else (result["days"][0] if result["days"] else None)
    fig = plt.figure(figsize=(13, 7.5), layout="constrained")
    gs = fig.add_gridspec(2, 2, width_ratios=[1, 1.35])
    ax0 = fig.add_subplot(gs[:, 0])
    colors = {p: f"C{k}" for k, p in enumerate(table["policy"])}
    for _, r in table.iterrows():
        p = r["policy"]
        e = eps[eps["policy"] == p]
        oracle = "oracle" in p
        ax0.scatter(e["slo_pct"], e["cost"], color=colors[p], alpha=0.35, s=18, marker="o")
        ax0.scatter([r["slo_attainment_pct"]], [r["mean_cost_usd"]], color=colors[p], s=110,
                    marker="*" if oracle else "D", edgecolor="k", label=p, zorder=3)
    ax0.set_xlabel("SLO attainment (%, request-weighted)")
    ax0.set_ylabel("episode cost ($)")
    ax0.set_title("cost vs. SLO attainment (large: mean; small: days)")
    ax0.legend(fontsize=8, loc="best")
    ax0.grid(alpha=0.3)
    ax1 = fig.add_subplot(gs[0, 1])
    ax2 = fig.add_subplot(gs[1, 1], sharex=ax1)
    if day is not None and not traces.empty:
        td = traces[traces["day"] == day]
        for p in table["policy"]:
            tp = td[td["policy"] == p]
            ls = ":" if "oracle" in p else "-"
            ax1.plot(tp["step"], tp["cost_usd"], ls, color=colors[p], lw=1.1, label=p)
            ax2.plot(tp["step"], tp["gpus"], ls, color=colors[p], lw=1.1, label=p)
        ax1.set_yscale("symlog", linthresh=10)
        ax1.set_ylabel("cost per window ($)")
        ax1.set_title(f"day {day}: per-window cost and fleet")
        ax1.grid(alpha=0.3)
        ax2.set_ylabel("GPUs billed")
        ax2.set_xlabel("window (10 min)" if result.get("scenario") != "paper" else "window (5 min)")
        ax2.grid(alpha=0.3)
        first = td[td["policy"] == table["policy"].iloc[0]]
        axd = ax2.twinx()
        axd.fill_between(first["step"], first["demand_rps"], color="0.6", alpha=0.25, step="mid", label="demand")
        axd.set_ylabel("demand (req/s)", color="0.4")
        ax1.legend(fontsize=7, ncol=2, loc="upper left")
    fig.suptitle(f"hetserve compare — {result['env_id']}, {result['split']} days {result['days']}")
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["AgentPolicy", "Episode", "SCENARIO_ENV", "compare", "evaluate", "format_table", "gap_summary",
           "headroom_gaps", "load_policy", "make_env", "read_record", "run_episode", "shipped_model", "split_days", "summarize"]
