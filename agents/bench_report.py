"""The benchmark's scorecard files: ``scorecard.{csv,md,json,png}`` and ``episodes.csv`` (written atomically).

The plot (matplotlib, one figure): the IQM of the normalised score with its 95 % interval per policy, drawn like
rliable's ``plot_interval_estimates``, and the performance profile (share of runs × episodes scoring above τ).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hetserve_env.runs import atomic_write, atomic_write_text

from .bench_stats import performance_profile

SCORECARD_COLUMNS = {
    "policy": "policy",
    "runs": "runs",
    "episodes": "episodes",
    "score": "normalised score, IQM [95 % CI]",
    "mean_cost_usd": "mean episode cost ($)",
    "slo_attainment_pct": "SLO attainment (%)",
    "unmet_pct": "unmet (%)",
    "gpu_hours": "GPU-hours",
    "decision_ms_per_step": "decision time (ms/window)",
}


def _num(v: Any, fmt: str) -> str:
    return "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, fmt)


def _score_cell(r: pd.Series) -> str:
    if r.get("score_iqm") is None or pd.isna(r.get("score_iqm")):
        return f"mean {_num(r['score_mean'], '.1f')} (no intervals)"
    if r.get("score_ci_low") is None or pd.isna(r.get("score_ci_low")):
        return _num(r["score_iqm"], ".1f")
    return f"{r['score_iqm']:.1f} [{r['score_ci_low']:.1f}, {r['score_ci_high']:.1f}]"


def format_scorecard(table: pd.DataFrame, markdown: bool = False) -> str:
    """The scorecard as text (``markdown``: a pipe table)."""
    rows = []
    for _, r in table.iterrows():
        rows.append([str(r["policy"]), str(r["runs"]) if r["runs"] else "—", str(r["episodes"]), _score_cell(r),
                     _num(r["mean_cost_usd"], ",.2f"), _num(r["slo_attainment_pct"], ".2f"),
                     _num(r["unmet_pct"], ".3f"), _num(r["gpu_hours"], ",.1f"),
                     _num(r["decision_ms_per_step"], ",.2f")])
    cols = list(SCORECARD_COLUMNS.values())
    if markdown:
        out = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])
    return pd.DataFrame(rows, columns=cols).to_string(index=False)


def markdown_scorecard(result: dict[str, Any]) -> str:
    """The scorecard page: settings, the table, what each number means, notes and the selection records."""
    ref = result["reference"]
    lines = [f"# hetserve benchmark: {result['env_id']}, {result['split']} days {result['days']} × noise seeds "
             f"{result['noise_seeds']}", ""]
    if result.get("command"):
        lines += [f"Command: `{result['command']}`", ""]
    lines += [format_scorecard(result["table"], markdown=True), ""]
    lines.append(f"Episodes: {len(ref['episodes'])} = days × noise seeds (noise seed 0 = exact replay; others: "
                 f"log-normal demand noise σ = {result['noise']:g} seeded by the noise seed). Normalised score per "
                 "episode = 100 · (BAU cost − cost) / (BAU cost − reference): 0 = the static plan sized for the "
                 f"training days' peak (BAU), 100 = the reference ({ref['name']}). IQM = interquartile mean over "
                 "runs × episodes; [95 % CI] = percentile interval of rliable's stratified bootstrap over episodes "
                 f"and, within each, runs ({result['reps']:,} replicates). Cost, SLO attainment, unmet, GPU-hours "
                 "and decision time are means over runs × episodes.")
    lines.append("")
    for _, r in result["table"].iterrows():
        if r["notes"]:
            lines.append(f"* **{r['policy']}**: {r['notes']}")
    for s in result.get("selections", []):
        lines.append(f"* selection: {s['policy']} {s['parameter']} = {s['value']} chosen on the {s['split']} days "
                     f"{s['days']} × noise seeds {s['noise_seeds']} (lowest mean cost among "
                     f"{', '.join(str(c['value']) for c in s['candidates'])})")
    wall = f"Wall time: {result['wall_s'] / 60:.1f} min"
    if result.get("cached"):
        wall += (f" (this command; reused from its cache, computed by an earlier run of the same code and settings: "
                 f"{', '.join(result['cached'])})")
    lines += ["", wall + ".", ""]
    return "\n".join(lines)


def plot_scorecard(result: dict[str, Any], path: str | Path) -> None:
    """IQM with 95 % intervals (left) and performance profiles (right) of the normalised score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores: dict[str, np.ndarray] = result["scores"]
    table = result["table"].set_index("policy")
    names = list(scores)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 0.5 * len(names) + 3), layout="constrained")
    for k, n in enumerate(names):
        r = table.loc[n]
        has_ci = r["score_ci_low"] is not None and not pd.isna(r["score_ci_low"])
        point = r["score_iqm"] if has_ci else r["score_mean"]
        if has_ci:
            ax0.plot([r["score_ci_low"], r["score_ci_high"]], [k, k], color=f"C{k}", lw=6, alpha=0.5)
        ax0.plot([point], [k], "|", color="k", ms=14, mew=2)
    ax0.set_yticks(range(len(names)), names)
    ax0.axvline(0, color="0.5", ls=":")
    ax0.axvline(100, color="0.5", ls=":")
    ax0.set_xlabel("normalised score (0 = BAU, 100 = reference): IQM and 95 % CI")
    ax0.invert_yaxis()
    allv = np.concatenate([np.ravel(m) for m in scores.values()])
    taus = np.linspace(min(allv.min(), 0.0), max(allv.max(), 100.0), 201)
    for k, n in enumerate(names):
        ax1.plot(taus, performance_profile(scores[n], taus), color=f"C{k}", label=n)
    ax1.set_xlabel("normalised score τ")
    ax1.set_ylabel("share of runs × episodes with score > τ")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    fig.suptitle(f"hetserve benchmark — {result['env_id']}, reference: {result['reference']['name']}")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_scorecard(result: dict[str, Any], out: Path) -> dict[str, str]:
    """Every scorecard file in ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    table: pd.DataFrame = result["table"]
    files = {"csv": str(atomic_write(out / "scorecard.csv", lambda p: table.to_csv(p, index=False))),
             "episodes": str(atomic_write(out / "episodes.csv", lambda p: result["episodes"].to_csv(p, index=False))),
             "markdown": str(atomic_write_text(out / "scorecard.md", markdown_scorecard(result))),
             "plot": str(atomic_write(out / "scorecard.png", lambda p: plot_scorecard(result, p)))}
    meta = {k: result[k] for k in ("env_id", "scenario", "split", "days", "noise_seeds", "noise", "wall_s", "command",
                                   "selections", "intervals", "reps", "reference")}
    meta["cached"] = result.get("cached", [])
    meta["table"] = json.loads(table.to_json(orient="records"))
    meta["complete"] = True
    files["json"] = str(atomic_write_text(out / "scorecard.json", json.dumps(meta, indent=2, default=str) + "\n"))
    return files


__all__ = ["SCORECARD_COLUMNS", "format_scorecard", "markdown_scorecard", "plot_scorecard", "write_scorecard"]
