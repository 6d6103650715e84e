"""Make the figures of docs/concepts.md from the project's own code.

    python scripts/make_figures.py                    # all figures into docs/figures/
    python scripts/make_figures.py --out /tmp/figs --windows 12 --only fleet_over_day

Every number in a figure comes from the package: the performance model (``hetserve_env.perf``), the scenarios'
compiled problems (``Scenario.problem``), the environment (``HetServeSmall-v1``) and the AGH policy
(``baselines.policies.SolverPolicy``). Figures (PNG, 100 dpi, each well under 200 KB):

* ``latency_vs_load.png``   end-to-end latency vs arrival rate for one template and its TP sibling (chat type,
                              `small`), with the delay SLO and the capacity μ where the binding limit is hit;
* ``capacity_per_gpu.png``  capacity μ of one replica of Qwen2.5-7B (TP1) per GPU type and precision, and its
                              rental cost per 1,000 requests at full load (`default` scenario, chat type);
* ``cost_per_request.png``  every template of `small` for the chat type: $ per 1,000 requests at full load,
                              coloured by GPU type, hollow when its error is above the type's error SLO;
* ``fleet_over_day.png``    the fleet the reactive AGH policy rents over one test day of HetServeSmall-v1
                              (GPUs by type) against the demand per type.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import hetserve_env  # noqa: E402
from hetserve_env.perf import BINDING_NAMES, latency_at_utilisation  # noqa: E402

DPI = 100
GPU_COLOURS = {"L4": "#4C72B0", "A10G": "#64B5CD", "L40S": "#55A868", "A100-80GB": "#CCB974",
               "H100-SXM": "#C44E52", "H200": "#8172B2", "T4": "#937860", "A100-40GB": "#DA8BC3"}
FIGURES = ("latency_vs_load", "capacity_per_gpu", "cost_per_request", "fleet_over_day")


def _colour(gpu: str) -> str:
    return GPU_COLOURS.get(gpu, "#777777")


def _gpu_of(label: str) -> str:
    return label.split("@", 1)[1].split("/", 1)[0]


def fig_latency_vs_load(scenario: str = "small", type_name: str = "chat",
                        templates: tuple[str, ...] = ("Qwen2.5-32B@L40S/fp16 TP2 PP1", "Qwen2.5-32B@L40S/fp16 TP4 PP1")):
    """Latency vs load: E2E(λ) = E0 / (1 − u·s) with u = λ/μ (perf.latency_at_utilisation), per template."""
    sc = hetserve_env.load_scenario(scenario)
    p = sc.problem()
    perf = sc.perf(p.input_tokens, p.output_tokens)
    i = p.type_names.index(type_name)
    fig, ax = plt.subplots(figsize=(7, 4))
    x_max = 0.0
    for k, label in enumerate(templates):
        d = p.template_labels.index(label)
        mu, e0, s = p.capacity[i, d], p.latency[i, d], p.load_slope[i, d]
        u = np.linspace(0.0, 1.0, 200)
        lat = latency_at_utilisation(np.full_like(u, e0), np.full_like(u, s), u)
        colour = ("#4C72B0", "#C44E52", "#55A868")[k % 3]
        ax.plot(u * mu, lat, color=colour, lw=2, label=f"{label}: {p.gpus[d]} GPU(s), ${p.cost[d]:.2f}/h")
        # beyond capacity: the queueing curve goes on, but a limit (delay SLO, KV memory or prefill) is hit
        u2 = np.linspace(1.0, min(0.97 / s, 3.0), 100) if s > 0 else np.linspace(1.0, 3.0, 100)
        ax.plot(u2 * mu, latency_at_utilisation(np.full_like(u2, e0), np.full_like(u2, s), u2), color=colour,
                lw=1, ls=":")
        ax.plot([mu], [latency_at_utilisation(np.array([e0]), np.array([s]), np.array([1.0]))[0]], "o", color=colour)
        ax.annotate(f"μ = {mu:.2f} req/s\n({BINDING_NAMES[perf.binding[i, d]]} limit)", (mu, e0 / (1 - s)),
                    textcoords="offset points", xytext=(8, -28), fontsize=8, color=colour)
        ax.annotate(f"zero-load {e0:.1f} s", (0, e0), textcoords="offset points", xytext=(4, 4), fontsize=8,
                    color=colour)
        x_max = max(x_max, float(u2[-1] * mu))
    ax.axhline(p.delay_slo[i], color="k", ls="--", lw=1)
    ax.text(0.55 * x_max, p.delay_slo[i] * 1.02, f"delay SLO Δ = {p.delay_slo[i]:g} s", fontsize=8)
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, p.delay_slo[i] * 1.6)
    ax.set_xlabel(f"arrival rate of type '{type_name}' on one replica λ (req/s)")
    ax.set_ylabel("mean end-to-end latency (s)")
    ax.set_title(f"Latency vs load ({scenario}, '{type_name}': {p.input_tokens[i]:.0f} in / "
                 f"{p.output_tokens[i]:.0f} out tokens)", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def fig_capacity_per_gpu(scenario: str = "default", model: str = "Qwen2.5-7B", type_name: str = "chat", tp: int = 1):
    """Capacity μ of one replica per GPU type and precision, and $ per 1,000 requests at full load."""
    sc = hetserve_env.load_scenario(scenario)
    p = sc.problem()
    i = p.type_names.index(type_name)
    gpus = [g for g in dict.fromkeys(g for g, _ in sc.tiers)]
    precs = [q for q in dict.fromkeys(q for _, q in sc.tiers)]
    mu = np.full((len(precs), len(gpus)), np.nan)
    cost = np.full_like(mu, np.nan)
    for a, q in enumerate(precs):
        for b, g in enumerate(gpus):
            label = f"{model}@{g}/{q} TP{tp} PP1"
            if label in p.template_labels:
                d = p.template_labels.index(label)
                mu[a, b] = p.capacity[i, d]
                cost[a, b] = p.cost[d] / (3600 * p.capacity[i, d]) * 1000 if p.capacity[i, d] > 0 else np.nan
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
    width = 0.8 / len(precs)
    x = np.arange(len(gpus))
    hatches = ("", "//", "..")
    for a, q in enumerate(precs):
        for ax, val in ((ax1, mu[a]), (ax2, cost[a])):
            ax.bar(x + (a - (len(precs) - 1) / 2) * width, np.nan_to_num(val), width, label=q,
                   color=[_colour(g) for g in gpus], hatch=hatches[a % 3], edgecolor="k", lw=0.5)
    for ax in (ax1, ax2):
        ax.set_xticks(x, gpus, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, title="precision", title_fontsize=8)
    ax1.set_ylabel("capacity μ (req/s per replica)")
    ax1.set_title(f"{model} TP{tp}, type '{type_name}': capacity", fontsize=10)
    ax2.set_ylabel("$ per 1,000 requests at full load")
    ax2.set_title("rental cost per request (lower is better)", fontsize=10)
    fig.suptitle(f"{scenario}: {p.input_tokens[i]:.0f} in / {p.output_tokens[i]:.0f} out tokens, "
                 f"delay SLO {p.delay_slo[i]:g} s", fontsize=9)
    fig.tight_layout()
    return fig


def fig_cost_per_request(scenario: str = "small", type_name: str = "chat"):
    """$ per 1,000 requests at full load for every template serving the type; hollow = above the error SLO."""
    sc = hetserve_env.load_scenario(scenario)
    p = sc.problem()
    i = p.type_names.index(type_name)
    serv = np.flatnonzero(p.capacity[i] > 0)
    per_k = p.cost[serv] / (3600 * p.capacity[i, serv]) * 1000
    order = np.argsort(per_k, kind="stable")
    serv, per_k = serv[order], per_k[order]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for k, (d, v) in enumerate(zip(serv, per_k)):
        g = _gpu_of(p.template_labels[d])
        ok = p.error[i, d] <= p.error_slo[i]
        ax.bar(k, v, color=_colour(g) if ok else "white", edgecolor=_colour(g), lw=1.2)
    ax.set_yscale("log")
    step = max(1, len(serv) // 25)
    ax.set_xticks(range(0, len(serv), step), [p.template_labels[d].replace(" PP1", "") for d in serv[::step]],
                  rotation=75, ha="right", fontsize=6)
    handles = [plt.Rectangle((0, 0), 1, 1, color=_colour(g)) for g in p.gpu_names]
    handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="k"))
    ax.legend(handles, list(p.gpu_names) + [f"error > SLO {p.error_slo[i]:g} (blend only)"], fontsize=8)
    ax.set_ylabel("$ per 1,000 requests at full load (log)")
    ax.set_title(f"{scenario}: rental cost per request of every template for type '{type_name}'", fontsize=10)
    ax.grid(axis="y", alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def fleet_day(env_id: str = "hetserve_env/HetServeSmall-v1", method: str = "agh", windows: int | None = None,
              day: int | None = None) -> dict:
    """Run the reactive solver policy over (the first ``windows`` windows of) one test day; per-window arrays."""
    import gymnasium as gym

    from baselines.policies import SolverPolicy

    env = gym.make(env_id, split="test")
    base = env.unwrapped
    day = int(base.split_days[0] if day is None else day)
    policy = SolverPolicy(env, method=method)
    obs, info = env.reset(seed=0, options={"day": day})
    n = base.windows_per_day if windows is None else min(int(windows), base.windows_per_day)
    demand, gpus, cost, slo = [], [], [], []
    for _ in range(n):
        action, _ = policy.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        demand.append(np.asarray(info["demand"], dtype=float))
        gpus.append(dict(info["gpus_by_type"]))
        cost.append(float(info["cost"]["total"]))
        slo.append(float(info["slo_attainment"]["overall"]))
        if terminated or truncated:
            break
    names = sorted({g for row in gpus for g in row}, key=lambda g: list(GPU_COLOURS).index(g) if g in GPU_COLOURS else 99)
    G = np.array([[row.get(g, 0) for g in names] for row in gpus], dtype=float).reshape(len(gpus), len(names))
    used = G.sum(axis=0) > 0  # GPU types the policy actually rented
    names, G = [g for g, u in zip(names, used) if u], G[:, used]
    env.close()
    return {"day": day, "types": list(base.type_names), "demand": np.array(demand), "gpu_names": names, "gpus": G,
            "cost": np.array(cost), "slo": np.array(slo), "window_min": base.window_s / 60, "method": policy.name}


def fig_fleet_over_day(windows: int | None = None, data: dict | None = None):
    """Stacked GPUs by type rented by reactive AGH over one test day, against the demand per type."""
    r = data or fleet_day(windows=windows)
    t = np.arange(len(r["cost"])) * r["window_min"] / 60.0
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})
    ax1.stackplot(t, r["demand"].T, labels=r["types"], alpha=0.8, colors=["#8172B2", "#CCB974", "#64B5CD"][:len(r["types"])])
    ax1.set_ylabel("demand (req/s)")
    ax1.legend(fontsize=8, loc="upper left")
    ax1.grid(alpha=0.3)
    ax1.set_title(f"{r['method']} (reactive) on HetServeSmall-v1, test day {r['day']}: "
                  f"${r['cost'].sum():,.0f} for the day, SLO attainment {100 * r['slo'].mean():.1f}%", fontsize=10)
    if len(r["gpu_names"]):
        ax2.stackplot(t, r["gpus"].T, labels=r["gpu_names"], colors=[_colour(g) for g in r["gpu_names"]], step="post")
    ax2.set_ylabel("GPUs rented")
    ax2.set_xlabel("hour of the day")
    ax2.legend(fontsize=8, loc="upper left", title="GPU type", title_fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def make(out: Path, only: list[str] | None = None, windows: int | None = None) -> dict[str, Path]:
    """Write the figures; returns name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    makers = {"latency_vs_load": fig_latency_vs_load, "capacity_per_gpu": fig_capacity_per_gpu,
              "cost_per_request": fig_cost_per_request, "fleet_over_day": lambda: fig_fleet_over_day(windows)}
    written = {}
    for name in only or FIGURES:
        if name not in makers:
            raise ValueError(f"unknown figure {name!r}; known: {list(FIGURES)}")
        t0 = time.perf_counter()
        fig = makers[name]()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        written[name] = path
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB  {time.perf_counter() - t0:.1f} s")
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures"), help="output folder (default docs/figures)")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(FIGURES)}")
    ap.add_argument("--windows", type=int, default=None, help="windows of the test day for fleet_over_day (default: all)")
    args = ap.parse_args(argv)
    make(Path(args.out), args.only.split(",") if args.only else None, args.windows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
