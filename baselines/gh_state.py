"""GH's per-problem context and mutable state, shared by GH (``baselines/gh.py``) and AGH.

:class:`Context` holds the arrays every start shares (prices per pair, the M1 candidate sets, TP siblings);
:class:`State` a fleet under construction with its routing and running totals; :func:`kmax` how many new
replicas still fit (budget, inventory and storage: :func:`hetserve_env.fleet_cost.new_replicas_within`, with the
one limit tolerance); :class:`DecisionLog` the lazily formatted decision log (``explain=True``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hetserve_env import fleet_cost
from hetserve_env.allocation import Allocation
from hetserve_env.problem import Problem
from hetserve_env.templates import pairs_within

EPS = 1e-9

_TPPP_RE = re.compile(r"TP(\d+) PP(\d+)")



@dataclass(frozen=True)
class GHOptions:
    """Switches of the three mechanisms (all on = the paper's GH) and the decision log."""

    m1: bool = True
    m2: bool = True
    m3: bool = True
    explain: bool = False



def _parallelism(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """TP and PP per template, parsed from labels ("... TP2 PP1"); hand-written labels: TP = GPUs, PP = 1."""
    found = [_TPPP_RE.search(label) for label in problem.template_labels]
    tp = np.array([int(m.group(1)) if m else 0 for m in found], dtype=np.int64)
    pp = np.array([int(m.group(2)) if m else 0 for m in found], dtype=np.int64)
    bad = tp * pp != problem.gpus
    tp[bad], pp[bad] = problem.gpus[bad], 1
    return tp, pp



class Context:
    """Arrays shared by GH and every AGH start: per-pair prices, candidate sets, TP siblings."""

    def __init__(self, problem: Problem, m1: bool = True, m3: bool = True) -> None:
        p = self.problem = problem
        self.I, self.D, self.G, self.A = p.n_types, p.n_templates, p.n_gpu_types, len(p.artifact_names)
        self.rate = p.rate
        self.capacity = p.capacity
        self.servable = p.capacity > 0
        self.inv_capacity = np.divide(1.0, p.capacity, out=np.zeros_like(p.capacity), where=self.servable)
        self.cost = p.cost
        self.gpus = p.gpus
        self.template_gpu = p.template_gpu
        self.template_artifact = p.template_artifact
        self.artifact_gb = p.artifact_gb
        self.storage_add = fleet_cost.storage_add_cost(p)  # $/h when an artifact becomes stored
        self.error_excess = fleet_cost.error_excess(p)  # error excess per served share (≤ 0: creates slack)
        self.delay_unit = fleet_cost.delay_cost_per_rate(p)  # $/h per req/s routed
        self.unmet_unit = fleet_cost.unmet_cost_per_rate(p)  # $/h per req/s unmet
        self.unmet_cap = p.rate * p.max_unmet  # req/s that may go unmet
        self.budget = p.budget
        self.inventory = p.inventory.astype(float)
        self.storage_gb = p.storage_gb
        self.tp, self.pp = _parallelism(p)
        group = self.template_artifact.astype(np.int64) * max(self.G, 1) + self.template_gpu
        self.group = group

        # M1 filter (I, D): per (type, group) the fewest-GPU, then cheapest, then highest-capacity servable config.
        order = np.lexsort((self.tp, self.gpus, group))  # group-major, fewest GPUs first
        g_sorted = group[order]
        starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
        if m1:
            mu_max = max(float(p.capacity.max(initial=0.0)), 1.0)
            key = np.where(self.servable, self.gpus[None, :] * 1e6 + self.cost[None, :] - 1e-3 * p.capacity / mu_max, np.inf)
            ks = key[:, order]
            mins = np.minimum.reduceat(ks, starts, axis=1) if self.D else ks
            seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, self.D]))
            chosen_sorted = np.isfinite(ks) & (ks <= mins[:, seg])
            cand = np.zeros((self.I, self.D), dtype=bool)
            cand[:, order] = chosen_sorted
        else:
            first = np.zeros(self.D, dtype=bool)
            first[order[starts]] = True  # first-listed (fewest GPUs) configuration of each (model, tier)
            cand = first[None, :] & self.servable
        self.m1_cand = cand

        # TP siblings (M3): same model, precision, GPU, PP; strictly higher TP.
        src, dst = pairs_within(group * 64 + self.pp)
        keep = self.tp[dst] > self.tp[src]
        src, dst = src[keep], dst[keep]
        self.up_src, self.up_dst = src, dst
        new = cand.copy()
        if m3 and len(src):
            # the higher-TP siblings of each type's M1 candidates, where they meet Δ_i too
            sib = np.zeros((self.I, self.D), dtype=bool)
            hit = cand[:, src] & self.servable[:, dst]
            ii, kk = np.nonzero(hit)
            sib[ii, dst[kk]] = True
            new |= sib
        self.new_cand = new
        self.cidx = [np.flatnonzero(new[i]) for i in range(self.I)]
        # templates AGH's fleet search may add: all of them, unless M1 or M3 is switched off (ablation), then
        # only those the GH construction could open
        self.pool = new.any(axis=0) if not (m1 and m3) else np.ones(self.D, dtype=bool)
        # low-error demand each template could take alone (AGH's hub starts and compound candidates)
        low = self.servable & (self.error_excess <= 0)
        self.hub_cover = np.where(low, np.minimum(self.rate[:, None], self.capacity), 0.0).sum(axis=0)
        # load used for the default order: token throughput λ·(h + f)
        self.load_key = p.rate * (p.input_tokens + p.output_tokens)
        # asymptotic price per req/s of each candidate (for blending and short lists)
        self.unit = np.where(self.servable, self.cost[None, :] * self.inv_capacity + self.delay_unit, np.inf)

    def hubs(self, k: int) -> np.ndarray:
        """Templates that could anchor many types as the low-error side of their blends. Alternately: the most
        low-error demand covered per $ (Σ_i min(λ_i, μ_id) over the types it serves within their error SLO,
        divided by its $/h) and the most low-error demand covered outright (ties: cheaper); at most one per
        (model, tier); only templates serving at least two types within their error SLO."""
        pool = self.new_cand.any(axis=0)
        good = self.servable & (self.error_excess <= 0) & pool[None, :]
        cover = np.where(good, np.minimum(self.rate[:, None], self.capacity), 0.0).sum(axis=0)
        ok = good.sum(axis=0) >= 2
        if math.isfinite(self.budget):
            ok &= self.cost <= 0.5 * self.budget
        per_dollar = np.where(ok, cover / self.cost, 0.0)
        outright = np.where(ok, cover, 0.0)
        rank_a = np.argsort(-per_dollar, kind="stable")
        rank_b = np.lexsort((self.cost, -outright))
        out, groups = [], set()
        ia = ib = 0
        while len(out) < k and (ia < self.D or ib < self.D):
            for rank, score, pos in ((rank_a, per_dollar, "a"), (rank_b, outright, "b")):
                if len(out) >= k:
                    break
                while True:
                    j = ia if pos == "a" else ib
                    if j >= self.D:
                        break
                    d = int(rank[j])
                    if pos == "a":
                        ia += 1
                    else:
                        ib += 1
                    if score[d] <= 0:
                        if pos == "a":
                            ia = self.D
                        else:
                            ib = self.D
                        break
                    if int(self.group[d]) not in groups:
                        groups.add(int(self.group[d]))
                        out.append(d)
                        break
        return np.array(out, dtype=np.int64)

    def order(self, kind: str) -> np.ndarray:
        """Processing order of the types: "load" (descending λ·tokens: GH's), "slo" (tightest delay SLO relative
        to the fastest template first), "error" (fewest templates meeting the error SLO first, then lowest ε)."""
        p = self.problem
        idx = np.arange(self.I)
        if kind == "load":
            return np.lexsort((idx, -self.load_key))
        if kind == "slo":
            fastest = np.where(self.servable, p.latency, np.inf).min(axis=1, initial=np.inf)
            tight = np.where(np.isfinite(fastest), fastest / p.delay_slo, np.inf)
            return np.lexsort((idx, -self.load_key, -tight))
        if kind == "error":
            n_ok = ((self.error_excess <= 0) & self.servable).sum(axis=1)
            return np.lexsort((idx, -self.load_key, p.error_slo, n_ok))
        raise ValueError(f"unknown ordering {kind!r}; known: load, slo, error")



@dataclass
class State:
    R: np.ndarray  # (D,) replicas
    load: np.ndarray  # (D,) Σ_i λ_i x_id / μ_id  (replica units)
    x: np.ndarray  # (I, D)
    u: np.ndarray  # (I,)
    spent: float
    inv_used: np.ndarray  # (G,) GPUs
    art_R: np.ndarray  # (A,) replicas per artifact (stored when > 0)
    storage_used: float
    failed: dict[int, str] = field(default_factory=dict)
    reserve: dict[int, int] = field(default_factory=dict)  # coverage-phase path per unplaced type
    reserved_cost: float = 0.0
    reserved_gpus: np.ndarray | None = None
    ignore_reserve: bool = False  # set while a type cannot be covered within the unreserved budget

    @classmethod
    def empty(cls, ctx: Context) -> "State":
        return cls(np.zeros(ctx.D, dtype=np.int64), np.zeros(ctx.D), np.zeros((ctx.I, ctx.D)), np.zeros(ctx.I),
                   0.0, np.zeros(ctx.G), np.zeros(ctx.A, dtype=np.int64), 0.0, reserved_gpus=np.zeros(ctx.G))

    def copy(self) -> "State":
        return State(self.R.copy(), self.load.copy(), self.x.copy(), self.u.copy(), self.spent, self.inv_used.copy(),
                     self.art_R.copy(), self.storage_used, dict(self.failed), dict(self.reserve), self.reserved_cost,
                     None if self.reserved_gpus is None else self.reserved_gpus.copy())

    # ----- bookkeeping helpers (scalar updates; callers pass one template at a time)
    def add_replicas(self, ctx: Context, d: int, k: int) -> None:
        if k == 0:
            return
        a = ctx.template_artifact[d]
        before = self.art_R[a]
        self.R[d] += k
        self.spent += k * ctx.cost[d]
        self.inv_used[ctx.template_gpu[d]] += k * ctx.gpus[d]
        self.art_R[a] += k
        if before == 0 and self.art_R[a] > 0:
            self.storage_used += ctx.artifact_gb[a]
        elif before > 0 and self.art_R[a] == 0:
            self.storage_used -= ctx.artifact_gb[a]

    def route(self, ctx: Context, i: int, d: int, amount: float) -> None:
        """Add ``amount`` req/s of type i to template d (negative removes)."""
        self.x[i, d] += amount / ctx.rate[i]
        if self.x[i, d] < 1e-13:
            self.x[i, d] = 0.0
        self.load[d] += amount * ctx.inv_capacity[i, d]
        if self.load[d] < 1e-12:
            self.load[d] = 0.0

    def trim(self, ctx: Context, d: int | None = None) -> None:
        """Drop replicas no longer needed (R_d = ⌈load_d⌉)."""
        need = np.maximum(np.ceil(self.load - EPS), 0).astype(np.int64)
        ds = np.flatnonzero(self.R > need) if d is None else ([d] if self.R[d] > need[d] else [])
        for k in ds:
            self.add_replicas(ctx, int(k), int(need[k] - self.R[k]))

    def objective(self, ctx: Context) -> float:
        """$/h as ``evaluate`` computes it (zero-load latency): :func:`hetserve_env.fleet_cost.fleet_cost` plus
        :func:`hetserve_env.fleet_cost.routing_cost` (used to compare starts; the final figure comes from evaluate)."""
        return fleet_cost.fleet_cost(ctx.problem, self.R) + fleet_cost.routing_cost(ctx.problem, self.x, self.u)

    def slack(self, ctx: Context, i: int) -> float:
        """Error slack of type i in req/s·error units: λ_i Σ_d (ε_i − e_id) x_id (≥ 0 when the SLO holds)."""
        return float(-ctx.rate[i] * (ctx.error_excess[i] @ self.x[i]))

    def residual(self, ctx: Context, i: int) -> float:
        return float(ctx.rate[i] * (1.0 - self.x[i].sum() - self.u[i]))

    def allocation(self) -> Allocation:
        return Allocation(self.R.copy(), np.clip(self.x, 0.0, 1.0), np.clip(self.u, 0.0, 1.0))



class DecisionLog:
    """Collects decision lines; formatting happens only when ``explain`` is on."""

    def __init__(self, explain: bool, lines: list[str] | None = None) -> None:
        self.explain = explain
        self.lines = lines if lines is not None else []

    def __call__(self, fn) -> None:  # fn: () -> str, evaluated lazily
        if self.explain:
            self.lines.append(fn())



def budget_left(ctx: Context, st: State) -> float:
    """Budget not spent and not reserved for other types' coverage paths."""
    if not math.isfinite(ctx.budget):
        return math.inf
    return ctx.budget - st.spent - (0.0 if st.ignore_reserve else st.reserved_cost)



def inv_left(ctx: Context, st: State, g: np.ndarray) -> np.ndarray:
    held = st.reserved_gpus[g] if (st.reserved_gpus is not None and not st.ignore_reserve) else 0.0
    return ctx.inventory[g] - st.inv_used[g] - held



def kmax(ctx: Context, st: State, c: np.ndarray) -> np.ndarray:
    """Most new replicas of each template in ``c`` that budget, inventory and storage allow."""
    new_gb = np.where(st.art_R[ctx.template_artifact[c]] > 0, 0.0, ctx.artifact_gb[ctx.template_artifact[c]])
    return fleet_cost.new_replicas_within(ctx.cost[c], ctx.gpus[c], budget_left(ctx, st), inv_left(ctx, st, ctx.template_gpu[c]),
                                          new_gb, ctx.storage_gb - st.storage_used)



def label(ctx: Context, d: int) -> str:
    return ctx.problem.template_labels[d]


class AcceptedMoves:
    """Counts accepted moves (``n_moves``) and logs each one (``log``): shared by LocalMoves and FleetSearch."""

    log: DecisionLog
    n_moves: int

    def _accept(self, what: Callable[[], str], saving: float, tail: Callable[[], str] | None = None) -> bool:
        """Record an applied move: the line is ``what(), saves $<saving>/h`` then ``tail()`` (built only with
        explain). Returns True, so a move method can end with ``return self._accept(...)``."""
        self.n_moves += 1
        self.log(lambda: f"{what()}, saves ${saving:.4f}/h" + (tail() if tail is not None else ""))
        return True
