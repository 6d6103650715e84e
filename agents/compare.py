"""The main job (``hetserve compare``): every policy on the same days, one table, CSV/Markdown/JSON and a plot.

Outputs go to a fresh run folder (``runs/compare-YYYYmmdd-HHMMSS/``) unless ``out`` names one; files are
written atomically and the folder holds an ``INCOMPLETE`` marker until the run has finished
(:mod:`hetserve_env.runs`). The committed ``results/compare/`` is written only with ``out="results/compare"``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

import baselines.forecast_planner  # noqa: F401  (registers the forecast planners before the defaults are read)
from baselines.policies import compare_policies
from baselines.registry import get_solver, solver_names
from hetserve_env.episodes import COST_PARTS
from hetserve_env.runs import atomic_write, atomic_write_text, run_marker

from .evaluation import run_policy, one_line, policy_notes, progress_bar, split_days, summarize, warm_up
from .policies import SCENARIO_ENVS, load_policy, make_env, policy_env_kwargs, read_record, shipped_model

#: env kwargs that change how a policy acts, not what it is scored on (a model may differ from the others in them)
SCORE_NEUTRAL_KWARGS = ("action_mode", "render_mode")

#: from the registries (:func:`baselines.policies.compare_policies`), then the shipped agent
DEFAULT_POLICIES = (*compare_policies(), "model")
#: headroom of the ``-headroom`` policies in ``compare``: the least-cost headroom for GH on the validation days of
#: HetServe-v1 (``python scripts/tune_headroom.py --method gh --out results/headroom_validation.md``), so the
#: reactive heuristic with a margin is tuned like the agent, on the same days
COMPARE_HEADROOM = 1.5
#: the same choice per env id (``scripts/tune_headroom.py --env <id>``); an id without one gets COMPARE_HEADROOM
COMPARE_HEADROOMS: dict[str, tuple[float, str]] = {
    "hetserve_env/HetServe-v1": (COMPARE_HEADROOM, "results/headroom_validation.md"),
    "hetserve_env/HetServe-v2": (1.6, "results/headroom_validation_v2.md"),
}
#: the env id a custom scenario (a YAML path) runs under, with ``scenario=<path>``, per performance model
CUSTOM_SCENARIO_ENVS = {perf: envs["default"] for perf, envs in SCENARIO_ENVS.items()}


def scenario_env(scenario: str, perf_model: str = "v1") -> tuple[str, dict[str, Any]]:
    """``(env id, env kwargs)`` of a built-in scenario name or a scenario YAML path under performance model
    ``perf_model`` (the registered ids of that version)."""
    if perf_model not in SCENARIO_ENVS:
        raise ValueError(f"perf_model must be one of {sorted(SCENARIO_ENVS)}, got {perf_model!r}")
    if scenario in SCENARIO_ENVS[perf_model]:
        return SCENARIO_ENVS[perf_model][scenario], {}
    p = Path(scenario)
    if p.suffix.lower() in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise FileNotFoundError(f"scenario file {scenario!r} does not exist")
        return CUSTOM_SCENARIO_ENVS[perf_model], {"scenario": str(p.resolve())}
    raise ValueError(f"scenario must be one of {sorted(SCENARIO_ENVS[perf_model])} or a YAML path, got {scenario!r}")


def default_headroom(env_id: str) -> tuple[float, str | None]:
    """The ``-headroom`` policies' default for ``env_id`` and the results file it was chosen in (``None``: no
    choice for this id, COMPARE_HEADROOM is used)."""
    return COMPARE_HEADROOMS.get(env_id, (COMPARE_HEADROOM, None))


def _check_model(model: str | Path | None, env_id: str, custom: bool, extra: dict[str, Any]) -> tuple[Path | None, dict]:
    """The model to compare and its env kwargs, checked before anything runs."""
    mpath = Path(model) if model is not None else (None if custom else shipped_model(env_id))
    if mpath is None:
        return None, {}
    if not mpath.exists() and not mpath.with_suffix(".zip").exists():
        raise FileNotFoundError(f"no model at {mpath}")
    mkw = policy_env_kwargs(str(mpath))
    rec_env = read_record(mpath).get("env_id")
    if rec_env and rec_env != env_id:
        raise ValueError(f"{mpath} was trained on {rec_env}, not {env_id}")
    differs = {k: v for k, v in mkw.items() if k not in SCORE_NEUTRAL_KWARGS and extra.get(k) != v}
    if differs:
        raise ValueError(f"{mpath} was trained with env kwargs {differs} that change the problem; the "
                         f"comparison runs {env_id} with {extra or 'its defaults'}")
    return mpath, mkw


def compare(scenario: str = "default", episodes: int | None = None, split: str = "test",
            out: str | Path | None = None, milp_time_limit: float = 10.0, model: str | Path | None = None,
            policies: Sequence[str] = DEFAULT_POLICIES, router: str | None = None, headroom: float | None = None,
            trace_day: int | None = None, log: Callable[[str], None] | None = print,
            progress: bool | None = None, command: str | None = None, perf_model: str = "v1") -> dict[str, Any]:
    """The main job: every policy on the same days of ``split``; a table, CSV, Markdown and a plot.

    ``scenario``: a built-in name or a scenario YAML path, run under performance model ``perf_model`` (its
    registered ids, e.g. ``v2`` -> ``hetserve_env/HetServe-v2``). ``headroom``: of the ``-headroom`` policies
    (``None``: the one chosen on the validation days for the env id, :func:`default_headroom`). ``policies``:
    :func:`load_policy` specs (names, ``.zip`` paths, ``module:attr``) plus ``"model"`` (the shipped agent of a
    built-in scenario's env id, or ``model``). Solver policies share one plan cache (see
    :mod:`baselines.policies`). The numba kernels are compiled before the first policy is timed. ``out``:
    ``None`` writes nothing; else a folder (see :func:`write_outputs`). ``progress``: a per-step bar (``None``:
    only on a terminal). Returns a dict with the summary ``table`` (DataFrame), per-``episodes`` rows, per-step ``traces`` and the output ``files``.
    """
    if out is None:
        return _compare(scenario, episodes, split, milp_time_limit, model, policies, router, headroom, log, progress,
                        command, perf_model)
    with run_marker(Path(out), command or "") as folder:
        result = _compare(scenario, episodes, split, milp_time_limit, model, policies, router, headroom, log,
                          progress, command, perf_model)
        result["files"] = write_outputs(result, folder, trace_day=trace_day)
    return result


def _compare(scenario: str, episodes: int | None, split: str, milp_time_limit: float, model: str | Path | None,
             policies: Sequence[str], router: str | None, headroom: float | None, log: Callable[[str], None] | None,
             progress: bool | None, command: str | None, perf_model: str) -> dict[str, Any]:
    log = log or (lambda s: None)
    env_id, base_kw = scenario_env(scenario, perf_model)
    chosen, chosen_in = default_headroom(env_id)
    headroom = chosen if headroom is None else headroom
    custom = bool(base_kw)
    extra = {**base_kw, **({"router": router} if router else {})}
    mpath, mkw = _check_model(model, env_id, custom, extra) if "model" in policies else (None, {})
    cache: dict = {}
    t_start = time.perf_counter()
    summaries, episode_rows, traces = [], [], []
    model_record = None
    probe = make_env(env_id, split, **extra)
    days = split_days(probe, episodes)
    n_pol = sum(1 for s in policies if s != "model" or mpath is not None)
    log(f"hetserve compare: scenario {scenario} ({env_id}), split {split}, days {days}, {n_pol} policies"
        + (f", router {router}" if router else ""))
    warm_up(probe)
    bar = progress_bar(n_pol * len(days) * probe.unwrapped.episode_length, "compare", progress)
    probe.close()
    try:
        for spec in policies:
            if spec == "model":
                if mpath is None:
                    log("(no shipped model for this scenario: skipping the learned agent; pass --model PATH)")
                    continue
                env = make_env(env_id, split, **{**mkw, **extra})
                policy = load_policy(str(mpath), env)
                model_record = policy.record
            else:
                env = make_env(env_id, split, **extra)
                policy = load_policy(spec, env, milp_time_limit=milp_time_limit, headroom=headroom, cache=cache)
            t0 = time.perf_counter()
            eps = run_policy(policy, env, days, bar=bar)
            notes = policy_notes(policy)
            if spec.endswith("-headroom") and headroom == chosen and chosen_in:  # forecast planners choose their own
                notes += f"; the default headroom, chosen on the validation days ({chosen_in})"
            row = summarize(eps, getattr(policy, "name", None) or spec, notes)
            row["eval_wall_s"] = time.perf_counter() - t0
            (bar.write if not bar.disable else log)(one_line(row, row["eval_wall_s"]))
            summaries.append(row)
            for e in eps:
                episode_rows.append(e.row())
                tr = e.trace.copy()
                tr.insert(0, "day", e.day)
                tr.insert(0, "policy", e.policy)
                traces.append(tr)
            env.close()
    finally:
        bar.close()
    table = pd.DataFrame(summaries)
    result: dict[str, Any] = {"table": table, "episodes": pd.DataFrame(episode_rows),
                              "traces": pd.concat(traces, ignore_index=True) if traces else pd.DataFrame(),
                              "days": days, "env_id": env_id, "scenario": scenario, "split": split,
                              "wall_s": time.perf_counter() - t_start, "model_record": model_record,
                              "milp_time_limit": milp_time_limit, "router": router or "greedy", "command": command}
    result["gap"] = gap_summary(table)
    return result


def gap_summary(table: pd.DataFrame, agent: str | None = None, reference: str = "AGH") -> dict[str, Any] | None:
    """The learned agent's cost gap to ``reference`` (relative, + = more expensive) and both SLO attainments."""
    if table.empty or reference not in set(table["policy"]):
        return None
    ref = table[table["policy"] == reference].iloc[0]
    solvers = {get_solver(m).label for m in solver_names()} | {"Random"}
    cands = [p for p in table["policy"] if p not in solvers and "oracle" not in p and "headroom" not in p]
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
    """``compare.{csv,md,json,png}``, ``episodes.csv`` and ``traces.csv`` in ``out``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    table: pd.DataFrame = result["table"]
    files = {"csv": str(atomic_write(out / "compare.csv", lambda p: table.to_csv(p, index=False))),
             "episodes": str(atomic_write(out / "episodes.csv", lambda p: result["episodes"].to_csv(p, index=False))),
             "traces": str(atomic_write(out / "traces.csv", lambda p: result["traces"].to_csv(p, index=False))),
             "markdown": str(atomic_write_text(out / "compare.md", markdown_report(result)))}
    if not table.empty:
        files["plot"] = str(atomic_write(out / "compare.png", lambda p: plot_compare(result, p, trace_day=trace_day)))
    meta = {k: result[k] for k in ("env_id", "scenario", "split", "days", "wall_s", "milp_time_limit", "router", "gap")}
    meta["model_record"] = result.get("model_record")
    meta["command"] = result.get("command")
    meta["complete"] = True  # an interrupted run never gets here; its folder keeps the INCOMPLETE marker
    files["json"] = str(atomic_write_text(out / "compare.json", json.dumps(meta, indent=2, default=str) + "\n"))
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
    cols = ["policy", *[f"{k}_usd" for k in COST_PARTS]]
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


__all__ = ["COMPARE_HEADROOM", "COMPARE_HEADROOMS", "DEFAULT_POLICIES", "compare", "default_headroom", "format_table",
           "gap_summary", "headroom_gaps", "markdown_report", "plot_compare", "scenario_env", "write_outputs"]
