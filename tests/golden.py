"""Golden numbers of the environment, the greedy router and ``evaluate`` (regression guard for speed work).

``collect()`` runs a fixed set of cases and returns a flat ``{key: array}`` dict:

* env: every registered id (plus the small scenario with 1-minute windows, where cold starts span several
  windows, and one short LP-router run), noise 0 and 0.1, action modes target and delta, three action
  kinds (uniform random; sparse — a few replicas, so the router's overloaded and contended passes run;
  sparse from a warm start via ``reset(options={"replicas": ...})``), 40 steps each: observations,
  rewards, every ``info["cost"]`` term, served/unmet rate, SLO attainment, violations, clipping, replicas;
* route: ``route(..., "greedy")`` (and ``route_greedy`` with fewer passes) on generated instances, scenario
  windows and hand-made problems with scaled demand and zero-rate types, over dense, sparse, fractional and
  scarce availability: x, u and the router objective;
* evaluate: every ``Evaluation`` field, violation names, amounts and details, for routed allocations and
  perturbed (infeasible) ones, latency ``"zero_load"`` and ``"load"``, with and without ``available``; and
  malformed allocations (inf, negative or fractional entries) of small hand-made problems (the recorded NaN
  cases are now checked to raise ``ValueError``).

The file ``tests/data/golden.npz`` was written from the code before the compiled kernels
(``python -m tests.golden --write``) and re-recorded with the same command for the ``-v1`` ids (performance model
v1, issue 13: every capacity, latency and load slope changed); ``tests/test_golden.py`` compares against it at
rtol 1e-9.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

from baselines.instances import generate
import hetserve_env  # noqa: F401  (registers the ids)
from hetserve_env import Allocation, evaluate, load_scenario
from hetserve_env.env import HetServeEnv
from hetserve_env.registration import ENV_IDS_V1
from hetserve_env.routing import route, route_greedy, router_objective

GOLDEN = Path(__file__).resolve().parent / "data" / "golden.npz"
STEPS = 40
COST_TERMS = ("rental", "cold_start", "storage", "unmet_penalty", "delay_penalty", "error_penalty", "clip_penalty", "total")
EVAL_FLOATS = ("objective", "rental", "cold_start", "storage", "unmet_penalty", "delay_penalty", "error_penalty", "storage_used_gb")
EVAL_ARRAYS = ("utilisation", "latency", "served_share", "on_time_share", "mean_error", "gpus_by_type")


def _sparse_target(rng: np.random.Generator, D: int, R: int) -> np.ndarray:
    a = np.zeros(D, dtype=np.int64)
    k = int(rng.integers(1, 7))
    a[rng.choice(D, k, replace=False)] = rng.integers(1, min(R, 3) + 1, k)
    return a


def _sparse_delta(rng: np.random.Generator, D: int) -> np.ndarray:
    a = np.ones(D, dtype=np.int64)
    k = int(rng.integers(1, 6))
    a[rng.choice(D, k, replace=False)] = rng.choice([0, 2, 2], k)
    return a


def _warm_fleet(env: HetServeEnv, rng: np.random.Generator) -> np.ndarray:
    r = np.zeros(env.n_templates, dtype=np.int64)
    for d in rng.permutation(env.n_templates)[:6]:
        r[d] = rng.integers(1, 3)
        if env.limits_broken(r):
            r[d] = 0
    return r


def _env_run(out: dict, key: str, env: HetServeEnv, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed + 1000)
    D, R = env.n_templates, env.max_replicas
    options = {"day": env.split_days[seed % len(env.split_days)]}
    if kind == "warm":
        options["replicas"] = _warm_fleet(env, rng)
    obs0, info0 = env.reset(seed=seed, options=options)
    env.action_space.seed(seed)
    obs, rew, costs, served, unmet, slo, viol, clip, reps, trunc = [obs0], [], [], [], [], [], [], [], [], []
    prev = None
    for _ in range(STEPS):
        if kind == "random":
            a = env.action_space.sample()
        elif env.action_mode == "target":
            a = prev if (prev is not None and rng.random() < 0.4) else _sparse_target(rng, D, R)
        else:
            a = _sparse_delta(rng, D)
        prev = a
        o, r, term, tr, info = env.step(a)
        assert not term
        obs.append(o), rew.append(r), trunc.append(tr)
        costs.append([info["cost"][k] for k in COST_TERMS])
        served.append(info["served_rate"]), unmet.append(info["unmet_rate"])
        slo.append(list(info["slo_attainment"].values()))
        viol.append(";".join(env.info_layout.violated(info["violations"])))
        clip.append(("1:" if info["clipped"] else "0:") + ";".join(env.info_layout.clip_reasons(info["clip_reason"])))
        reps.append(info["replicas"].copy())
        if tr:
            break
    out[f"env/{key}/obs"] = np.array(obs)
    out[f"env/{key}/reward"] = np.array(rew)
    out[f"env/{key}/cost"] = np.array(costs)
    out[f"env/{key}/served"] = np.array(served)
    out[f"env/{key}/unmet"] = np.array(unmet)
    out[f"env/{key}/slo"] = np.array(slo)
    out[f"env/{key}/violations"] = np.array(viol)
    out[f"env/{key}/clip"] = np.array(clip)
    out[f"env/{key}/replicas"] = np.array(reps)
    out[f"env/{key}/truncated"] = np.array(trunc)


def env_cases(out: dict) -> None:
    specs = [(env_id, kw) for env_id, kw in ENV_IDS_V1.items()]  # the file records the model-v1 ids
    for env_id, _ in specs:
        for noise in (0.0, 0.1):
            for mode in ("target", "delta"):
                env = gym.make(env_id, noise=noise, action_mode=mode).unwrapped
                for s, kind in enumerate(("random", "sparse", "warm")):
                    _env_run(out, f"{env_id.split('/')[1]}/{noise}/{mode}/{kind}", env, kind, seed=s + 7 * (mode == "delta"))
    for mode in ("target", "delta"):
        env = HetServeEnv("small", window_minutes=1, noise=0.1, action_mode=mode)
        for s, kind in enumerate(("sparse", "warm")):
            _env_run(out, f"small-1min/{mode}/{kind}", env, kind, seed=s)
    env = HetServeEnv("small", router="lp", noise=0.1)
    _env_run(out, "small-lp/target/sparse", env, "sparse", seed=3)


def _problems() -> list[tuple[str, object]]:
    probs = []
    for (I, J, K) in ((2, 3, 2), (3, 3, 3), (6, 5, 4)):
        for seed in range(2):
            probs.append((f"gen{I}{J}{K}s{seed}", generate(I, J, K, seed)))
    for name, windows in (("small", (0, 70)), ("default", (5, 80)), ("paper", (3,))):
        sc = load_scenario(name)
        for w in windows:
            probs.append((f"{name}w{w}", sc.problem(w)))
    out = []
    for key, p in probs:
        out.append((key, p))
        out.append((key + "x8", dataclasses.replace(p, rate=p.rate * 8.0)))  # contention / overload
        rate = p.rate * 3.0
        rate[0] = 0.0  # a zero-rate type
        out.append((key + "z", dataclasses.replace(p, rate=rate)))
    return out


def _availabilities(p, rng: np.random.Generator) -> list[np.ndarray]:
    D = p.n_templates
    av = []
    for dens in (0.03, 0.15, 0.6):
        a = rng.integers(1, 4, D) * (rng.random(D) < dens)
        av.append(a.astype(float))
        av.append(a * rng.uniform(0.2, 1.0, D))  # cold-starting: fractional
    scarce = np.zeros(D)
    scarce[rng.choice(D, min(2, D), replace=False)] = 1.0
    av.append(scarce)
    return av


def _record_eval(out: dict, key: str, ev) -> None:
    """One float vector (scalars, arrays, violation amounts) and one string (feasible, names, details) per call.

    The latency array is kept only on templates that carry load (elsewhere it is the problem's zero-load
    latency) plus its full sum, to keep the golden file small.
    """
    loaded = np.asarray(ev.utilisation) != 0
    parts = [np.array([getattr(ev, f) for f in EVAL_FLOATS]), np.asarray(ev.latency)[:, loaded].ravel(),
             np.array([np.asarray(ev.latency).sum()])]
    parts += [np.asarray(getattr(ev, f), dtype=float).ravel() for f in EVAL_ARRAYS if f != "latency"]
    parts.append(np.array([v.amount for v in ev.violations], dtype=float))
    out[f"{key}/num"] = np.concatenate(parts)
    out[f"{key}/text"] = np.array(f"{ev.feasible}|" + ";".join(v.name for v in ev.violations) + "|"
                                  + ";".join(v.detail for v in ev.violations))


def route_eval_cases(out: dict) -> None:
    for pk, p in _problems():
        rng = np.random.default_rng(len(pk) * 7919 + sum(map(ord, pk)))
        for ak, avail in enumerate(_availabilities(p, rng)):
            key = f"{pk}/a{ak}"
            alloc = route(p, avail, "greedy")
            # x (I, D) with u as an extra column, then the billed replicas and the router objective
            out[f"route/{key}/xu"] = np.column_stack([alloc.routing, alloc.unmet])
            out[f"route/{key}/replicas"] = np.asarray(alloc.replicas)
            out[f"route/{key}/objective"] = np.array(router_objective(p, alloc.routing, alloc.unmet))
            for passes in (1, 3, 4):
                x, u = route_greedy(p, avail, passes=passes)
                out[f"route/{key}/p{passes}/xu"] = np.column_stack([x, u])
            if ak % 3 == 1 or p.n_templates < 120:
                for lat in ("zero_load", "load"):
                    _record_eval(out, f"eval/{key}/{lat}/avail", evaluate(p, alloc, latency=lat, available=avail))
                    _record_eval(out, f"eval/{key}/{lat}/plain", evaluate(p, alloc, latency=lat))
            if ak == 3:
                # perturbed, infeasible allocations: every violation family
                D, I = p.n_templates, p.n_types
                R = np.asarray(alloc.replicas, dtype=float).copy()
                R[rng.choice(D, min(3, D), replace=False)] += rng.choice([-1.5, 0.5, 40.0], min(3, D))
                x = alloc.routing + rng.normal(0, 0.2, (I, D)) * (rng.random((I, D)) < 0.05)
                u = alloc.unmet + rng.normal(0, 0.3, I)
                bad = Allocation(R, x, u)
                for lat in ("zero_load", "load"):
                    _record_eval(out, f"eval/{key}/{lat}/bad", evaluate(p, bad, latency=lat, available=avail))
                big = Allocation(np.full(D, 30), alloc.routing, alloc.unmet)
                _record_eval(out, f"eval/{key}/load/big", evaluate(p, big, latency="load"))
    edge_cases(out)


def _edge_case(seed: int) -> tuple:
    """The problem, allocation arrays (R, x, u) and availability of edge case ``seed``."""
    from tests.factories import random_problem

    rng = np.random.default_rng(seed)
    p = random_problem(seed % 7, n_types=1 + seed % 4, n_templates=1 + seed % 9,
                       budget=[1e4, 30.0, float("inf")][seed % 3])
    I, D = p.n_types, p.n_templates
    x = rng.random((I, D)) * (rng.random((I, D)) < 0.5)
    x /= np.maximum(x.sum(1, keepdims=True), 1)
    u = 1 - x.sum(1)
    R = rng.integers(0, 4, D).astype(float)
    kind = seed % 6
    if kind == 1:
        x[rng.integers(I), rng.integers(D)] = np.nan
    elif kind == 2:
        x[rng.integers(I), rng.integers(D)] = np.inf
        u[0] = -0.5
    elif kind == 3:
        R[rng.integers(D)] = np.nan
        R[0] = -2.5
    elif kind == 4:
        x, R = -x, R + 0.5
    elif kind == 5:
        u[rng.integers(I)] = np.nan
    avail = None if seed % 2 else rng.random(D) * 3
    return p, R, x, u, avail


def _nan_field(R: np.ndarray, x: np.ndarray, u: np.ndarray) -> str | None:
    return next((f for f, a in (("replicas", R), ("routing", x), ("unmet", u)) if np.isnan(a).any()), None)


def nan_edge_keys() -> set[str]:
    """Golden keys of the edge cases with a NaN entry: recorded before NaN became an error (issue 11);
    ``edge_cases`` now checks that ``Allocation`` refuses them instead of recording them."""
    seeds = [s for s in range(60) if _nan_field(*_edge_case(s)[1:4])]
    return {f"eval/edge{s}/{lat}/{part}" for s in seeds for lat in ("zero_load", "load") for part in ("num", "text")}


def edge_cases(out: dict) -> None:
    """evaluate on malformed allocations (inf, negative shares, fractional/negative replicas) of small
    hand-made problems: the violation families and amounts. A case with a NaN entry must be refused by
    ``Allocation`` with the field named (it was recorded when NaN still propagated into the cost terms)."""
    import warnings

    for seed in range(60):
        p, R, x, u, avail = _edge_case(seed)
        field = _nan_field(R, x, u)
        if field is not None:
            try:
                Allocation(R, x, u)
            except ValueError as exc:
                assert f"Allocation.{field}" in str(exc) and "nan" in str(exc), exc
            else:
                raise AssertionError(f"edge{seed}: an Allocation with NaN in {field} was accepted")
            continue
        for lat in ("zero_load", "load"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ev = evaluate(p, Allocation(R, x, u), latency=lat, available=avail)
            _record_eval(out, f"eval/edge{seed}/{lat}", ev)


def collect() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    env_cases(out)
    route_eval_cases(out)
    return out


def save(data: dict[str, np.ndarray], path: Path = GOLDEN) -> None:
    """Pack the dict into a few arrays (one npz entry per key would cost more than the numbers)."""
    num = {k: np.asarray(v) for k, v in data.items() if np.asarray(v).dtype.kind not in "US"}
    txt = {k: np.asarray(v) for k, v in data.items() if np.asarray(v).dtype.kind in "US"}
    keys = sorted(num)
    flat = [num[k].astype(float).ravel() for k in keys]
    shapes = [list(num[k].shape) for k in keys]
    tkeys = sorted(txt)
    np.savez_compressed(
        path, keys=np.array(keys), offsets=np.cumsum([0] + [f.size for f in flat]), values=np.concatenate(flat),
        shapes=np.array([json.dumps(s) for s in shapes]), kinds=np.array([num[k].dtype.kind for k in keys]),
        text_keys=np.array(tkeys), text_shapes=np.array([json.dumps(list(txt[k].shape)) for k in tkeys]),
        text=np.array(["\x1f".join(txt[k].ravel().tolist()) for k in tkeys]))


def load(path: Path = GOLDEN) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        z = {k: npz[k] for k in npz.files}  # each npz access decompresses again: read every entry once
    out: dict[str, np.ndarray] = {}
    off = z["offsets"]
    for n, (k, shp, kind) in enumerate(zip(z["keys"].tolist(), z["shapes"].tolist(), z["kinds"].tolist())):
        v = z["values"][off[n]:off[n + 1]].reshape(json.loads(shp))
        out[k] = v.astype(bool) if kind == "b" else v
    for k, shp, t in zip(z["text_keys"].tolist(), z["text_shapes"].tolist(), z["text"].tolist()):
        shape = json.loads(shp)
        out[k] = np.array(t.split("\x1f") if shape else t).reshape(shape)
    return out


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: python -m tests.golden --write   (records tests/data/golden.npz from the current code)")
    data = collect()
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    save(data)
    back = load()
    assert set(back) == set(data)
    for k, v in data.items():
        assert np.array_equal(np.asarray(v), back[k]) or np.allclose(np.asarray(v, dtype=float), back[k], rtol=0, atol=0, equal_nan=True), k
    print(f"wrote {GOLDEN}: {len(data)} arrays, {GOLDEN.stat().st_size / 1e6:.2f} MB")
