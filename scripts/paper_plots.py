"""Figures of scripts/reproduce_paper.py (one function per experiment; PNG via matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from baselines import experiments as ex

#: scaling methods and their labels (tables and figures; labels from baselines.registry)
SCALING_METHODS = tuple((m, ex.method_label(m)) for m in ("gh", "agh", "agh-paper"))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt



def plot_scaling(rows: Sequence[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    methods = list(dict.fromkeys(r["method"] for r in rows if r["method"] != "agh-tb"))
    sizes = sorted({int(r["size"]) for r in rows})
    for m in methods:
        t = [ex.mean_finite(float(r["runtime_s"]) for r in rows if r["method"] == m and int(r["size"]) == n) for n in sizes]
        o = [ex.mean_finite(float(r["objective"]) for r in rows if r["method"] == m and int(r["size"]) == n) for n in sizes]
        lab = dict(SCALING_METHODS).get(m, m.upper())
        ax.plot(sizes, t, marker="o", label=lab)
        ax2.plot(sizes, o, marker="o", label=lab)
    ax.set_yscale("log")
    ax.set_xlabel("instance size n  (|I| = |J| = |K| = n)")
    ax.set_ylabel("runtime (s, mean over seeds, log)")
    ax.set_title("Runtime vs. size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax2.set_xlabel("instance size n")
    ax2.set_ylabel("$/h (mean over seeds)")
    ax2.set_title("Cost vs. size")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- figures
def plot_stress(rows: Sequence[dict[str, Any]], factors: Sequence[float], path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    styles = {"planned": "-", "rerouted": "--"}
    for m in dict.fromkeys(r["method"] for r in rows):
        for rt in ("planned", "rerouted"):
            def series(sel, key, rel=False):
                out = []
                for f in factors:
                    cell = [r for r in rows if sel(r) and r["method"] == m and r["routing"] == rt and r["factor"] == f
                            and r["inflate"] in ("both", "none")]
                    if rel:
                        nom = {r["instance"]: r["realised_cost"] for r in rows if sel(r) and r["method"] == m
                               and r["routing"] == rt and r["factor"] == 1.0}
                        out.append(ex.mean_finite(r["realised_cost"] / nom[r["instance"]] for r in cell if r["instance"] in nom))
                    else:
                        out.append(ex.mean_finite(r[key] for r in cell))
                return out
            paper = lambda r: r["instance"] == "paper"  # noqa: E731
            gen = lambda r: r["instance"] != "paper"  # noqa: E731
            lab = f"{m} ({rt})"
            axes[0].plot(factors, series(paper, "realised_cost"), styles[rt], marker="o", label=lab)
            axes[1].plot(factors, series(gen, None, rel=True), styles[rt], marker="o", label=lab)
            axes[2].plot(factors, series(lambda r: True, "slo_miss_pct"), styles[rt], marker="o", label=lab)
    axes[0].set_title("paper scenario: realised $/h")
    axes[1].set_title("generated instances: realised cost / nominal")
    axes[2].set_title("all instances: SLO miss % (mean)")
    for a in axes:
        a.set_xlabel("inflation factor (latency and error)")
        a.grid(True, alpha=0.3)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_rolling(rows: Sequence[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    sigmas = list(dict.fromkeys(r["sigma"] for r in rows))
    colds = list(dict.fromkeys(r.get("cold_starts", "on") for r in rows))
    for cold in colds:
        for p in dict.fromkeys(r["policy"] for r in rows):
            sel = [r for r in rows if r["policy"] == p and r.get("cold_starts", "on") == cold]
            cost = [sum(r.get("cost_usd", float("nan")) for r in sel if r["sigma"] == s) for s in sigmas]
            slo = [ex.mean_finite(r.get("slo_attainment_pct", float("nan")) for r in sel if r["sigma"] == s) for s in sigmas]
            lab = p + (f" (cold starts {cold})" if len(colds) > 1 else "")
            ls = "-" if cold == "on" else "--"
            ax.plot(sigmas, cost, ls, marker="o", label=lab)
            ax2.plot(sigmas, slo, ls, marker="o", label=lab)
    ax.set_xlabel("demand volatility σ")
    ax.set_ylabel("total episode cost ($, summed over test days)")
    ax.set_title("Rolling re-planning vs. static plan")
    ax2.set_xlabel("demand volatility σ")
    ax2.set_ylabel("SLO attainment (%)")
    ax2.set_title("SLO attainment")
    for a in (ax, ax2):
        a.grid(True, alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sensitivity(rows: Sequence[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    params = list(dict.fromkeys(r["parameter"] for r in rows))
    fig, axes = plt.subplots(2, len(params), figsize=(4.5 * len(params), 6.5), squeeze=False)
    for k, param in enumerate(params):
        for m in dict.fromkeys(r["method"] for r in rows):
            sub = sorted((r for r in rows if r["parameter"] == param and r["method"] == m
                          and not (param == "budget" and r["scale"] > 5)), key=lambda r: r["scale"])
            xs = [r["scale"] for r in sub]
            axes[0][k].plot(xs, [r["objective"] if r["feasible"] else np.nan for r in sub], marker="o", label=m)
            axes[1][k].plot(xs, [r["unmet_pct"] if r["feasible"] else np.nan for r in sub], marker="o", label=m)
            bad = [r["scale"] for r in sub if not r["feasible"]]
            if bad:
                axes[0][k].scatter(bad, [0] * len(bad), marker="x", color="red", zorder=3,
                                   label="infeasible" if m == "AGH" else None)
        xl = {"budget": "budget / nominal rental", "delay_slo": "delay SLO scale", "error_slo": "error SLO scale"}[param]
        axes[0][k].set_title(f"cost vs. {param.replace('_', ' ')}")
        axes[1][k].set_title(f"unmet demand vs. {param.replace('_', ' ')}")
        axes[1][k].set_xlabel(xl)
        axes[0][k].set_ylabel("$/h")
        axes[1][k].set_ylabel("unmet (% of requests)")
        for a in (axes[0][k], axes[1][k]):
            a.grid(True, alpha=0.3)
        axes[0][k].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
