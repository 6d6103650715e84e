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
    minutes = env.minute_of_day(t)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def render_ansi(env: "HetServeEnv") -> str:
    """Text report of the last step (or of the reset state)."""
    lines = []
    if env.elapsed_steps is None:
        return "HetServeEnv: not reset\n"
    head = (f"HetServe [{env.scenario.name}] split={env.split} day={','.join(map(str, env.days))} "
            f"window {env.elapsed_steps}/{env.episode_length}")
    last = env.last_step
    if last is None:
        lines.append(head + " (reset: no window simulated yet)")
        lines.append(f"fleet: {int(env.replicas.sum())} replicas, ${env.hourly_cost:.2f}/h of ${env.budget:.2f}/h budget")
        return "\n".join(lines) + "\n"
    t = last.t
    problem, alloc, ev, cost = last.problem, last.allocation, last.evaluation, last.cost
    lam = problem.rate
    lines.append(f"{head}  [{_clock(env, t)}]  demand {lam.sum():.2f} req/s  served {float(lam @ ev.served_share):.2f} req/s")
    lines.append("")
    w = max([len(lbl) for lbl in problem.template_labels] + [8])
    lines.append(f"{'#':>3} {'template':<{w}} {'billed':>6} {'serving':>7} {'util':>6} {'$/h':>8}")
    for k, lbl in enumerate(problem.template_labels):
        util = ev.utilisation[k]
        lines.append(f"{k:>3} {lbl:<{w}} {int(last.target[k]):>6} {last.available[k]:>7.2f} "
                     f"{util:>6.2f} {problem.cost[k] * last.target[k]:>8.2f}")
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


def render_rgb(env: "HetServeEnv") -> np.ndarray:
    """Demand vs. capacity and fleet composition over the episode so far, as an RGB uint8 array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIG_SIZE_IN, dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    n = env.elapsed_steps or 0
    T = max(env.episode_length, 1)
    if n:
        tr = env.episode_trace()
        ax1.plot(tr.hours, tr.demand, color="tab:blue", label="demand")
        ax1.plot(tr.hours, tr.served, color="tab:green", label="served")
        ax1.plot(tr.hours, tr.capacity_at_mix, color="tab:orange", linestyle="--", label="capacity at mix")
        ax2.stackplot(tr.hours, tr.gpus_by_type.T, labels=list(env.gpu_names), step="post")
        ax1.legend(loc="upper left", fontsize=7)
        ax2.legend(loc="upper left", fontsize=7, ncol=min(len(env.gpu_names), 5))
    ax1.set_ylabel("req/s")
    ax2.set_ylabel("GPUs rented")
    ax2.set_xlabel("hours into the episode")
    ax2.set_xlim(0, T * env.window_s / 3600.0)
    days = ",".join(map(str, getattr(env, "days", ()))) or "-"
    ax1.set_title(f"HetServe [{env.scenario.name}] {env.split} day {days} — window {n}/{env.episode_length}", fontsize=9)
    fig.tight_layout()
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    return img
