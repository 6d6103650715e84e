"""The experiments of the paper reproduction (``scripts/reproduce_paper.py``), as importable functions.

Each function returns plain rows (lists of dicts, one per run) and a summary :class:`Table`; the script writes
them to CSV/Markdown and draws the figures. Every cost, feasibility flag and violation comes from
:func:`hetserve_env.allocation.evaluate` (static plans) or from the environment's ``info`` (which prices every
window with the same ``evaluate``); nothing here re-derives them.

* :func:`stress_test` — out-of-sample stress: plans made at nominal parameters, evaluated on
  ``problem.scaled(latency=f, error=f)``, with the plan's routing kept or re-routed by the exact LP router.
* :func:`ablation` — GH and AGH with one of the mechanisms M1/M2/M3 switched off.
* :func:`rolling_study` — re-planning every window (reactive AGH) vs. one static plan for the day, in the
  environment, under demand noise σ.
* :func:`sensitivity` — cost and unmet demand against the budget, the delay SLOs and the error SLOs.

SLO metrics of a static plan (:func:`slo_metrics`), all shares of the requests (demand-weighted over types):
``unmet`` (routed nowhere), ``late`` (served after the delay SLO at load-dependent latency: ``served_share −
on_time_share``), ``error_excess`` (erroneous requests beyond what the error SLO allows: the amounts of
``evaluate``'s ``error_slo[type]`` violations) and ``slo_miss`` = their sum.
"""

from __future__ import annotations

from .ablation import ABLATION_VARIANTS, ablation, ablation_summary
from .planning import MILP_OPTIONS, method_label, method_keys, plan, slo_metrics
from .rolling import day_peak_problem, episode_metrics, rolling_study, rolling_summary, scaled_demand_scenario
from .sensitivity import sensitivity, sensitivity_summary
from .stress import INFLATE, ROUTINGS, stress_by_mode, stress_summary, stress_test
from .tables import Table, fmt, mean_finite

__all__ = ["ABLATION_VARIANTS", "INFLATE", "MILP_OPTIONS", "ROUTINGS", "Table", "ablation", "ablation_summary",
           "day_peak_problem", "episode_metrics", "fmt", "mean_finite", "method_keys", "method_label", "plan", "rolling_study",
           "rolling_summary", "scaled_demand_scenario", "sensitivity", "sensitivity_summary", "slo_metrics",
           "stress_by_mode", "stress_summary", "stress_test"]
