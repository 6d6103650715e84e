"""Synthetic instances on the paper's size grid: (|I| types, |J| models, |K| tiers) from (2,2,2) to (20,20,20)
and beyond, calibrated to the catalog and compiled through the same performance model as the scenarios.

>>> from hetserve_env.instances import generate
>>> p = generate(5, 5, 5, seed=1, budget=500.0)   # a Problem; deterministic for (sizes, seed)
>>> p.n_types, p.meta["models"][:2]               # doctest: +SKIP

This module draws instances; the *budget* is given (a number) or computed by a budget rule (a callable). The
default rule (1.3x GH's rental without budget) needs a solver, so it lives one layer up, with the public
``generate``/``parse_spec`` that use it: :mod:`baselines.instances` (``hetserve_env`` never imports
``baselines``).

How an instance is drawn (all from one ``numpy`` generator seeded by ``(seed, sizes, attempt)``):

* **Tiers** — (GPU type, precision) pairs of the catalog (8 GPUs x 3 precisions = 24). Up to 24 are sampled
  without replacement; beyond that, every pair plus *variants*: a catalog GPU with price and memory bandwidth
  each perturbed by ±10–20 % (a new GPU type ``"<gpu>~v<k>"`` with its own inventory) at a random precision.
* **Models** — sampled from the catalog models that have at least one template on the chosen tiers; beyond
  that count, *variants* ``"<model>~v<k>"`` whose parameter count and per-task base error are perturbed by
  ±10–20 %.
* **Query types** — task drawn from the catalog's tasks; rate 1,000–25,000 requests/hour (uniform); mean input
  tokens 100–2,000 and output tokens 50–500 (log-uniform); delay SLO 1.5–25 s (log-uniform) but at least 1.25x
  the fastest template's zero-load latency, so every type is servable; error SLO = a quantile (20–60 %,
  uniform) of the error rates of the templates that meet its delay SLO, so a mix is needed for some types and a
  pure low-error path always exists; unmet penalty $0.001–0.02 per request (log-uniform; also the error
  penalty), delay penalty $1–3·10⁻⁵ per request-second, max unmet share 2–8 %.
* **Templates** — every (model, tier, TP in ``tp``, PP in ``pp``) that fits memory
  (:func:`hetserve_env.templates.build_templates`), capacities and latencies from
  :func:`hetserve_env.perf.evaluate_templates`; dominated templates (same rule as
  :func:`hetserve_env.templates.prune_dominated`, computed per (model, GPU, precision) group so it scales to
  thousands of templates) and templates that serve no type are dropped.
* **Fleet** — inventory = the catalog's default per GPU type x max(1, |I|/6); storage 1,000 GB at
  $0.00011/GB-h (the paper's storage). The budget is a number, or a :data:`BudgetRule` called with the drawn
  problem (budget ∞) that returns the budget and the notes recorded in ``problem.meta``. The default rule,
  :func:`baselines.instances.gh_budget`, is 1.3x the rental of GH's allocation without budget, or the rental
  of :func:`certificate` (each type alone on its cheapest template within its delay and error SLOs, types on
  one template sharing its replicas) if GH finds none — feasible by construction either way.
* **Retries** — if the draw has no template, or the certificate breaks inventory or storage, the draw is
  repeated with the next sub-seed (``attempt``, recorded in ``problem.meta``); deterministic for a seed.

No solver is imported here; PuLP is never imported.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import numpy as np

from .catalog import TASKS, Catalog, load_catalog
from .perf import PerfConstants, evaluate_templates
from .problem import Problem
from .templates import build_templates, undominated

RATE_PER_HOUR = (1_000.0, 25_000.0)
INPUT_TOKENS = (100.0, 2_000.0)
OUTPUT_TOKENS = (50.0, 500.0)
DELAY_SLO_S = (1.5, 25.0)
ERROR_QUANTILE = (0.2, 0.6)
UNMET_PENALTY = (0.001, 0.02)
DELAY_PENALTY = (1e-5, 3e-5)
MAX_UNMET = (0.02, 0.08)
STORAGE_GB = 1000.0
STORAGE_COST = 0.00011
MAX_ATTEMPTS = 50

BudgetRule = Callable[[Problem], "tuple[float, dict[str, Any]]"]
"""A budget rule: the drawn problem (budget ∞, ``meta["certificate_rental"]`` set) -> (budget, meta notes)."""


class InstanceError(ValueError):
    """No feasible instance could be drawn for these sizes (after ``MAX_ATTEMPTS`` sub-seeds)."""


def _perturb(rng: np.random.Generator, value: float, lo: float = 0.10, hi: float = 0.20) -> float:
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return float(value * (1.0 + sign * rng.uniform(lo, hi)))


def _loguniform(rng: np.random.Generator, lo: float, hi: float, size: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(lo), math.log(hi), size))


def _tiers(rng: np.random.Generator, cat: Catalog, n_tiers: int) -> tuple[Catalog, list[tuple[str, str]]]:
    pairs = [(g, p) for g in cat.gpus for p in cat.precisions]
    if n_tiers <= len(pairs):
        pick = sorted(rng.choice(len(pairs), size=n_tiers, replace=False).tolist())
        return cat, [pairs[k] for k in pick]
    gpus = dict(cat.gpus)
    tiers = list(pairs)
    base_names = list(cat.gpus)
    precs = list(cat.precisions)
    for k in range(n_tiers - len(pairs)):
        base = cat.gpus[base_names[k % len(base_names)]]
        name = f"{base.name}~v{k + 1}"
        gpus[name] = dataclasses.replace(
            base, name=name, price_per_hour=round(_perturb(rng, base.price_per_hour), 4),
            bandwidth_gbs=round(_perturb(rng, base.bandwidth_gbs), 1),
            notes=f"synthetic variant of {base.name}: price and bandwidth perturbed ±10-20%")
        tiers.append((name, precs[int(rng.integers(len(precs)))]))
    return Catalog(gpus, cat.precisions, cat.models, cat.quality), tiers


def _fits(cat: Catalog, model: str, tiers: Sequence[tuple[str, str]], tp: Sequence[int], pp: Sequence[int]) -> bool:
    try:
        build_templates(cat, [model], tiers, tp, pp)
        return True
    except ValueError:
        return False


def _models(rng: np.random.Generator, cat: Catalog, n_models: int, tiers: Sequence[tuple[str, str]],
            tp: Sequence[int], pp: Sequence[int]) -> tuple[Catalog, list[str]] | None:
    usable = [m for m in cat.models if _fits(cat, m, tiers, tp, pp)]
    if not usable:
        return None
    if n_models <= len(usable):
        pick = sorted(rng.choice(len(usable), size=n_models, replace=False).tolist())
        names = [usable[k] for k in pick]
        return cat, sorted(names, key=lambda m: (cat.models[m].params_b, m))
    models = dict(cat.models)
    quality = dict(cat.quality)
    names = list(usable)
    for k in range(n_models - len(usable)):
        base = cat.models[usable[k % len(usable)]]
        name = f"{base.name}~v{k + 1}"
        f = _perturb(rng, 1.0)
        models[name] = dataclasses.replace(
            base, name=name, params_b=round(base.params_b * f, 3), active_params_b=round(base.active_params_b * f, 3),
            notes=f"synthetic variant of {base.name}: size perturbed ±10-20%")
        for task in TASKS:
            q = cat.quality[(base.name, task)]
            quality[(name, task)] = dataclasses.replace(q, model=name, error=float(np.clip(_perturb(rng, q.error), 0.005, 0.95)),
                                                        notes=f"synthetic variant of {base.name}: error perturbed ±10-20%")
        names.append(name)
    new = Catalog(cat.gpus, cat.precisions, models, quality)
    names = [m for m in names if _fits(new, m, tiers, tp, pp)]
    return new, sorted(names, key=lambda m: (new.models[m].params_b, m))


def _draw(n_types: int, n_models: int, n_tiers: int, rng: np.random.Generator, cat: Catalog,
          tp: Sequence[int], pp: Sequence[int], constants: PerfConstants) -> dict[str, Any] | None:
    cat, tiers = _tiers(rng, cat, n_tiers)
    got = _models(rng, cat, n_models, tiers, tp, pp)
    if got is None:
        return None
    cat, models = got
    try:
        tpl = build_templates(cat, models, tiers, tp, pp, constants)
    except ValueError:
        return None
    I = n_types
    tasks = [TASKS[int(k)] for k in rng.integers(len(TASKS), size=I)]
    rate = rng.uniform(*RATE_PER_HOUR, size=I) / 3600.0
    h = np.round(_loguniform(rng, *INPUT_TOKENS, I))
    f = np.round(_loguniform(rng, *OUTPUT_TOKENS, I))
    slo = _loguniform(rng, *DELAY_SLO_S, I)
    q_err = rng.uniform(*ERROR_QUANTILE, size=I)
    phi = _loguniform(rng, *UNMET_PENALTY, I)
    rho = rng.uniform(*DELAY_PENALTY, size=I)
    zeta = rng.uniform(*MAX_UNMET, size=I)

    # servable delay SLOs: at least 1.25x the fastest zero-load latency
    probe = evaluate_templates(tpl.hardware, h, f, np.full(I, 1e9), constants)
    ok_probe = probe.capacity_rps > 0
    if not ok_probe.any(axis=1).all():
        return None
    fastest = np.where(ok_probe, probe.latency_s, np.inf).min(axis=1)
    slo = np.maximum(slo, 1.25 * fastest)
    perf = evaluate_templates(tpl.hardware, h, f, slo, constants)
    keep = undominated(tpl, perf.capacity_rps, perf.latency_s)
    tpl = tpl.subset(keep)
    mu, lat, slope = perf.capacity_rps[:, keep], perf.latency_s[:, keep], perf.load_slope[:, keep]
    if len(tpl) == 0:
        return None

    base = np.array([[cat.base_error(tpl.model_names[j], t) for j in range(len(tpl.model_names))] for t in tasks])
    mult = np.array([cat.precision(p).error_multiplier for p in tpl.precision_names])
    err = np.minimum(base[:, tpl.model] * mult[tpl.precision][None, :], 1.0)
    eps = np.empty(I)
    for i in range(I):  # per type: a quantile of the errors of the templates meeting its delay SLO
        e_ok = err[i, mu[i] > 0]
        if len(e_ok) == 0:
            return None
        eps[i] = float(np.quantile(e_ok, q_err[i]))
        eps[i] = max(eps[i], float(e_ok.min()))

    art_keys = list(dict.fromkeys(zip(tpl.model.tolist(), tpl.precision.tolist())))
    art_index = {k: a for a, k in enumerate(art_keys)}
    artifact_gb = np.array([tpl.weight_gb[np.flatnonzero((tpl.model == j) & (tpl.precision == p))[0]] for j, p in art_keys])
    inv_scale = max(1.0, I / 6.0)
    inventory = np.array([math.ceil(cat.gpu(g).default_inventory * inv_scale) for g in tpl.gpu_names], dtype=np.int64)
    return dict(
        type_names=[f"t{i}-{tasks[i]}" for i in range(I)],
        template_labels=tpl.labels,
        gpu_names=list(tpl.gpu_names),
        artifact_names=[f"{tpl.model_names[j]}/{tpl.precision_names[p]}" for j, p in art_keys],
        rate=rate, input_tokens=h, output_tokens=f, delay_slo=slo, error_slo=eps, max_unmet=zeta,
        unmet_penalty=phi, delay_penalty=rho, error_penalty=phi,
        template_gpu=tpl.gpu,
        template_artifact=[art_index[(j, p)] for j, p in zip(tpl.model.tolist(), tpl.precision.tolist())],
        gpus=tpl.gpus, cost=tpl.cost_per_hour, capacity=mu, latency=lat,
        error=err, load_slope=np.minimum(slope, 1 - 1e-12), inventory=inventory, artifact_gb=artifact_gb,
        storage_gb=STORAGE_GB, storage_cost=STORAGE_COST, window_s=3600.0,
        meta={"models": list(tpl.model_names), "tiers": [list(t) for t in tiers], "tasks": tasks},
    )


def certificate(problem: Problem) -> np.ndarray | None:
    """A simple feasible fleet, independent of any solver: each type on its cheapest template (per req/s) that
    meets its delay and error SLOs, types sharing a template sharing its replicas (R_d = ⌈Σ_i λ_i/μ_id⌉).
    Returns the replicas, or None if it breaks inventory or storage (the draw is then retried)."""
    ok = problem.servable & (problem.error <= problem.error_slo[:, None])
    if not ok[problem.rate > 0].any(axis=1).all():
        return None
    unit = np.where(ok, problem.cost[None, :] / np.where(ok, problem.capacity, 1.0), np.inf)
    pick = unit.argmin(axis=1)
    load = np.zeros(problem.n_templates)
    np.add.at(load, pick, problem.rate / problem.capacity[np.arange(problem.n_types), pick])
    R = np.ceil(load - 1e-9).astype(np.int64)
    used = np.bincount(problem.template_gpu, weights=R * problem.gpus, minlength=problem.n_gpu_types)
    stored = np.unique(problem.template_artifact[R > 0])
    if (used > problem.inventory).any() or problem.artifact_gb[stored].sum() > problem.storage_gb:
        return None
    return R


def generate(n_types: int, n_models: int, n_tiers: int, seed: int = 0, *, tp: Sequence[int] = (1, 2, 4, 8),
             pp: Sequence[int] = (1, 2, 4), budget: float | BudgetRule | None = None, catalog: Catalog | None = None,
             constants: PerfConstants | None = None) -> Problem:
    """A synthetic Problem with ``n_types`` query types, ``n_models`` models and ``n_tiers`` tiers.

    ``budget`` is a number (feasibility is then not guaranteed) or a :data:`BudgetRule`. It is required here:
    the default GH-based rule is in :func:`baselines.instances.generate`, which calls this function.
    Deterministic for (sizes, seed, tp, pp, catalog). Raises :class:`InstanceError` if no servable draw is
    found within ``MAX_ATTEMPTS`` sub-seeds.
    """
    if budget is None:
        raise ValueError("hetserve_env.instances.generate(): budget is required (a number or a budget rule); "
                         "for the default rule (1.3x GH's rental without budget) use baselines.instances.generate")
    for name, v in (("n_types", n_types), ("n_models", n_models), ("n_tiers", n_tiers)):
        if int(v) != v or v < 1:
            raise ValueError(f"generate(): {name} must be a positive integer, got {v!r}")
    n_types, n_models, n_tiers = int(n_types), int(n_models), int(n_tiers)
    cat = catalog or load_catalog()
    constants = constants or PerfConstants()
    label = f"instance:{n_types}x{n_models}x{n_tiers}:seed={seed}"
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), n_types, n_models, n_tiers, attempt]))
        data = _draw(n_types, n_models, n_tiers, rng, cat, tp, pp, constants)
        if data is None:
            continue
        meta = data.pop("meta")
        meta.update(generator="hetserve_env.instances.generate", sizes=[n_types, n_models, n_tiers], seed=int(seed),
                    attempt=attempt, tp=list(tp), pp=list(pp))
        problem = Problem(**data, budget=float("inf"), name=label, meta=meta)
        R = certificate(problem)
        if R is None:
            continue
        meta["certificate_rental"] = float(problem.cost @ R)
        if callable(budget):
            b, notes = budget(problem)
            meta.update(notes)
        else:
            b = float(budget)
            meta["budget_rule"] = "given"
        return Problem(**data, budget=float(b), name=label, meta=meta)
    raise InstanceError(f"generate({n_types}, {n_models}, {n_tiers}, seed={seed}): no servable instance in "
                        f"{MAX_ATTEMPTS} draws")


def spec_arguments(spec: str) -> tuple[tuple[int, int, int], dict[str, Any]]:
    """``"instance:20x20x20:seed=1"`` (also ``"instance:5x5x5"``, ``...:budget=123``) -> (sizes, keyword
    arguments of :func:`generate`): the parsing half of :func:`baselines.instances.parse_spec`."""
    text = spec.strip()
    if not text.startswith("instance:"):
        raise ValueError(f"not an instance spec: {spec!r} (expected 'instance:IxJxK[:seed=S]')")
    parts = text[len("instance:"):].split(":")
    try:
        sizes = [int(v) for v in parts[0].lower().split("x")]
        if len(sizes) != 3:
            raise ValueError
    except ValueError:
        raise ValueError(f"instance spec {spec!r}: sizes must look like 20x20x20") from None
    kwargs: dict[str, Any] = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key == "seed":
            kwargs["seed"] = int(value)
        elif key == "budget":
            kwargs["budget"] = float(value)
        else:
            raise ValueError(f"instance spec {spec!r}: unknown key {key!r} (known: seed, budget)")
    return (sizes[0], sizes[1], sizes[2]), kwargs
