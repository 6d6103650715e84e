"""Demand for hetserve: raw-trace loaders, bundled demand tables, synthetic generators, windowing and splits.

* :class:`DemandSeries` (``series.py``): per window and query type, rate (req/s), mean input / output tokens,
  day, optional burstiness (``cv``) and gap mask (``filled``), with chronological train / validation / test
  splits (:func:`split_days`).
* :func:`build_demand` (``build.py``): a scenario's demand from per-type specifications.
* Loaders: :func:`load_azure_trace` / :func:`azure_windows` (Azure LLM inference traces, 2023 and 2024
  formats), :func:`load_servegen_rates` / :func:`load_servegen_tokens` / :func:`servegen_rate_shape`
  (ServeGen, NSDI '26). The bundled data and its licenses are in ``data/`` (see ``data/ATTRIBUTION.md`` and
  ``hetserve_env/NOTICE``); nothing is downloaded at run time.
* Synthetic generators (``synthetic.py``): :func:`diurnal`, :func:`bursty`, :func:`regime_shift`,
  :func:`with_volatility`.

Every malformed input raises :class:`TraceError` (a :class:`ValueError`) naming the file, row and column, or the
specification path, or the series field.
"""

from .azure import azure_windows, load_azure_trace
from .build import build_demand
from .errors import TraceError
from .series import DemandSeries, split_days
from .servegen import load_servegen_rates, load_servegen_tokens, servegen_rate_shape
from .synthetic import bursty, diurnal, regime_shift, with_volatility

__all__ = [
    "DemandSeries",
    "TraceError",
    "split_days",
    "build_demand",
    "load_azure_trace",
    "azure_windows",
    "load_servegen_rates",
    "load_servegen_tokens",
    "servegen_rate_shape",
    "diurnal",
    "bursty",
    "regime_shift",
    "with_volatility",
]
