"""How close does the greedy router get to the exact LP router? (a benchmark, not a test)

For each case (a Problem and the replica-equivalents ``available`` that serve) both routers place the demand;
the router objective ($/h of unmet + zero-load delay + error penalties, :func:`hetserve_env.routing.router_objective`,
exactly as ``evaluate`` counts those terms) is compared:

* relative gap        = (greedy − LP) / LP            (how much worse the greedy's penalties are)
* gap vs. window cost = (greedy − LP) / (rental + LP)  (what it does to the environment's cost, rental included)

Cases:

* ``synthetic``: ``baselines.instances.generate`` instances on a size grid, each with random fleets
  (random templates, 1-3 replicas, some still cold-starting) and with the GH plan's fleet under 1.0x / 1.3x its
  planned demand (contention);
* ``scenario:<name>``: random windows of each bundled scenario with random fleets, and reactive fleets (GH plan
  of the previous window) routed on the next window, as in the environment.

Rows are also split by fleet kind: *random fleets* (arbitrary templates, often badly matched to the demand)
and *planned fleets* (GH plans: what a sensible policy deploys).

Usage: ``python scripts/bench_router.py [--cases-per-scenario 60] [--out results/bench_router.md]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hetserve_env  # noqa: E402
from baselines.experiments import Table  # noqa: E402
from hetserve_env.routing import route, router_objective  # noqa: E402

SIZES = [(2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5), (6, 6, 6), (8, 8, 8)]


def random_fleet(problem, rng: np.random.Generator, n_active: int | None = None) -> np.ndarray:
    D = problem.n_templates
    k = n_active or int(rng.integers(2, min(D, 12) + 1))
    avail = np.zeros(D)
    pick = rng.choice(D, size=min(k, D), replace=False)
    avail[pick] = rng.integers(1, 4, pick.size) * np.where(rng.random(pick.size) < 0.25, rng.uniform(0.2, 1.0, pick.size), 1.0)
    return avail


def gh_fleet(problem) -> np.ndarray | None:
    import baselines

    sol = baselines.solve(problem, "gh")
    if not sol.feasible:  # GH found no plan (sol.reason says why): not a case
        return None
    return np.asarray(sol.allocation.replicas, dtype=float)


def compare(problem, avail: np.ndarray, kind: str = "random fleet") -> dict[str, float]:
    t0 = time.perf_counter()
    g = route(problem, avail, "greedy")
    t1 = time.perf_counter()
    lp = route(problem, avail, "lp")
    t2 = time.perf_counter()
    og = router_objective(problem, g.routing, g.unmet)
    ol = router_objective(problem, lp.routing, lp.unmet)
    rental = float(problem.cost @ avail)
    return {"greedy": og, "lp": ol, "rel": (og - ol) / max(ol, 1e-9), "vs_cost": (og - ol) / max(rental + ol, 1e-9),
            "t_greedy": t1 - t0, "t_lp": t2 - t1, "active": int((avail > 0).sum()), "types": problem.n_types, "kind": kind}


def synthetic_cases(rng: np.random.Generator, per_size: int) -> list[dict]:
    from baselines.instances import generate

    rows = []
    for size in SIZES:
        for s in range(per_size):
            p = generate(*size, seed=s)
            for _ in range(3):
                rows.append(compare(p, random_fleet(p, rng)))
            fleet = gh_fleet(p)
            if fleet is not None:
                rows.append(compare(p, fleet, "planned fleet"))
                rows.append(compare(p.with_rates(p.rate * 1.3), fleet, "planned fleet"))
    return rows


def scenario_cases(name: str, rng: np.random.Generator, n: int) -> list[dict]:
    sc = hetserve_env.load_scenario(name)
    T = sc.demand.n_windows
    rows = []
    for k in range(n):
        w = int(rng.integers(1, T))
        p = sc.problem(w)
        if k % 3 == 2:
            fleet = gh_fleet(sc.problem(w - 1))  # reactive: planned on the previous window
            if fleet is None:
                continue
            rows.append(compare(p, fleet, "planned fleet"))
        else:
            rows.append(compare(p, random_fleet(p, rng)))
    return rows


def summarise(label: str, rows: list[dict]) -> dict[str, object]:
    rel = np.array([r["rel"] for r in rows])
    vs = np.array([r["vs_cost"] for r in rows])
    tg = np.array([r["t_greedy"] for r in rows]) * 1e6
    tl = np.array([r["t_lp"] for r in rows]) * 1e6
    return {
        "cases": label, "n": len(rows),
        "exact (gap < 1e-6)": f"{np.mean(rel < 1e-6):.0%}",
        "rel. gap mean": f"{rel.mean():.1%}", "median": f"{np.median(rel):.1%}", "p95": f"{np.percentile(rel, 95):.1%}",
        "max": f"{rel.max():.1%}",
        "vs window cost mean": f"{vs.mean():.2%}", "max ": f"{vs.max():.2%}",
        "greedy µs (median)": f"{np.median(tg):.0f}", "LP µs (median)": f"{np.median(tl):.0f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-size", type=int, default=8, help="synthetic instances per size (5 cases each)")
    ap.add_argument("--cases-per-scenario", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench_router.md"))
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    summary = []
    all_rows: list[dict] = []
    t0 = time.time()
    rows = synthetic_cases(rng, args.per_size)
    all_rows += rows
    summary.append(summarise(f"synthetic {SIZES[0]}..{SIZES[-1]}", rows))
    for name in hetserve_env.builtin_scenarios():
        rows = scenario_cases(name, rng, args.cases_per_scenario)
        all_rows += rows
        summary.append(summarise(f"scenario:{name}", rows))
    for kind in ("random fleet", "planned fleet"):
        summary.append(summarise(f"all, {kind}s", [r for r in all_rows if r["kind"] == kind]))
    summary.append(summarise("all", all_rows))
    text = Table(list(summary[0]), [list(r.values()) for r in summary]).markdown().rstrip("\n")
    print(text)
    print(f"\n({len(all_rows)} cases in {time.time() - t0:.0f} s)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "# Greedy vs. exact LP router\n\n"
        f"`python scripts/bench_router.py --per-size {args.per_size} --cases-per-scenario {args.cases_per_scenario} "
        f"--seed {args.seed}`\n\n"
        "Relative gap = (greedy − LP) / LP on the router objective (unmet + zero-load delay + error penalties, "
        "$/h); *vs window cost* divides the same difference by rental + LP penalties. Runtimes per route call.\n\n"
        + text + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
