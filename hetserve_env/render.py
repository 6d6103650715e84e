"""Rendering of :class:`~hetserve_env.env.HetServeEnv`: a text report and a picture.

* ``render_ansi(env)``: the fleet table (billed, serving replica-equivalents, utilisation and $/h per deployed
  template), the routing table (where each type's demand went, unmet share, SLO attainment) and the last
  window's cost terms in dollars.
* ``render_rgb(env)``: an H×W×3 uint8 image drawn with matplotlib's Agg canvas (no pyplot, no window):
  top, total demand vs. served rate and the fleet's capacity at the window's request mix over the episode so
  far; bottom, the fleet composition as GPUs rented per GPU type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .env import HetServeEnv

FIG_SIZE_IN = (8.0, 5.0)
DPI = 80  # 640 x 400 pixels


def _clock(env: "HetServeEnv", t: int) -> str:
    """hh:mm of episode window ``t`` (start of the window)."""
    minutes = int(round(float(np.arctan2(env._time_obs[t, 0], env._time_obs[t, 1]) % (2 * np.pi)) / (2 * np.pi) * 1440))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def render_ansi(env: "HetServeEnv") -> str:
    """Text report of the last step (or of the reset state)."""
    lines = []
    if env._t < 0:
        return "HetServeEnv: not reset\n"
    head = (f"HetServe [{env.scenario.name}] split={env.split} day={','.join(map(str, env.days))} "
            f"window {env._t}/{env._T}")
    last = env._last
    if last is None:
        lines.append(head + " (reset: no window simulated yet)")
        r = env.replicas
        lines.append(f"fleet: {int(r.sum())} replicas, ${float(env._cost @ r):.2f}/h of ${env._budget:.2f}/h budget")
        return "\n".join(lines) + "\n"
    t = last["t"]
    problem, alloc, ev, cost = last["problem"], last["allocation"], last["evaluation"], last["cost"]
    lam = problem.rate
    lines.append(f"{head}  [{_clock(env, t)}]  demand {lam.sum():.2f} req/s  served {float(lam @ ev.served_share):.2f} req/s")
    lines.append("")
    w = max([len(lbl) for lbl in problem.template_labels] + [8])
    lines.append(f"{'#':>3} {'template':<{w}} {'billed':>6} {'serving':>7} {'util':>6} {'$/h':>8}")
    for k, lbl in enumerate(problem.template_labels):
        util = ev.utilisation[k]
        lines.append(f"{k:>3} {lbl:<{w}} {int(last['target'][k]):>6} {last['available'][k]:>7.2f} "
                     f"{util:>6.2f} {problem.cost[k] * last['target'][k]:>8.2f}")
    if not problem.template_labels:
        lines.append("    (no replicas)")
    lines.append("")
    lines.append(f"{'type':<14} {'req/s':>7} {'unmet':>6} {'in SLO':>6}  routing (template #: share)")
    for i, name in enumerate(problem.type_names):
        shares = ", ".join(f"#{k}: {alloc.routing[i, k]:.0%}" for k in np.flatnonzero(alloc.routing[i] > 5e-4))
        lines.append(f"{name:<14} {lam[i]:>7.2f} {alloc.unmet[i]:>6.1%} {ev.on_time_share[i]:>6.1%}  {shares or '-'}")
    lines.append("")
    terms = " | ".join(f"{k} {v:.3f}" for k, v in cost.items() if k != "total")
    lines.append(f"cost this window ($): {terms} | total {cost['total']:.3f}")
    if ev.violations:
        lines.append("violations: " + ", ".join(v.name for v in ev.violations))
    return "\n".join(lines) + "\n"


def _capacity_series(env: "HetServeEnv", n: int) -> np.ndarray:
    """Req/s the serving fleet could take at each window's request mix (types a template cannot serve excluded)."""
    if n == 0:
        return np.zeros(0)
    rows = env._row[:n]
    mu = env._perf_cache["pairs"][rows, 0]  # capacity (n, I, D)
    lam = env._rate[env.history:env.history + n]  # (n, I)
    w = lam / np.maximum(lam.sum(axis=1, keepdims=True), 1e-12)
    servable = mu > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(servable, w[:, :, None] / np.where(servable, mu, 1.0), 0.0).sum(axis=1)  # (n, D)
        share = (w[:, :, None] * servable).sum(axis=1)
        per_replica = np.where(inv > 0, share / inv, 0.0)
    return (per_replica * env._rec_avail[:n]).sum(axis=1)


def render_rgb(env: "HetServeEnv") -> np.ndarray:
    """Demand vs. capacity and fleet composition over the episode so far, as an RGB uint8 array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIG_SIZE_IN, dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    n = max(env._t, 0)
    T = max(env._T, 1)
    steps = np.arange(n)
    hours = steps * env.window_s / 3600.0
    if n:
        demand = env._rate[env.history:env.history + n].sum(axis=1)
        ax1.plot(hours, demand, color="tab:blue", label="demand")
        ax1.plot(hours, env._rec_served[:n], color="tab:green", label="served")
        ax1.plot(hours, _capacity_series(env, n), color="tab:orange", linestyle="--", label="capacity at mix")
        gpus = env._rec_gpus[:n]
        ax2.stackplot(hours, gpus.T, labels=list(env._base.gpu_names), step="post")
        ax1.legend(loc="upper left", fontsize=7)
        ax2.legend(loc="upper left", fontsize=7, ncol=min(len(env._base.gpu_names), 5))
    ax1.set_ylabel("req/s")
    ax2.set_ylabel("GPUs rented")
    ax2.set_xlabel("hours into the episode")
    ax2.set_xlim(0, T * env.window_s / 3600.0)
    days = ",".join(map(str, getattr(env, "days", ()))) or "-"
    ax1.set_title(f"HetServe [{env.scenario.name}] {env.split} day {days} — window {n}/{env._T}", fontsize=9)
    fig.tight_layout()
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    return img


def close(env: "HetServeEnv") -> None:
    """Nothing is held open (each picture uses its own Agg canvas)."""
    return None
