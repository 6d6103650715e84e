"""Greedy Heuristic (GH): a single constructive pass (DESIGN §3).

Steps
1. **M1 parallelism-aware filtering.** For every (query type i, model, tier) keep the cheapest (TP, PP)
   configuration that fits memory (every template does), meets the delay SLO Δ_i and has capacity > 0 —
   "cheapest" = fewest GPUs, then lowest $/h, then highest capacity. With M1 off the filter is the naive one:
   per (model, tier) only the first-listed configuration (fewest GPUs, e.g. TP1 PP1) is a candidate, whether
   or not it meets Δ_i, so delay-tight types can lose every candidate.
2. **Coverage phase.** In the processing order, every type gets one feasible path: the cheapest candidate
   replica that meets its delay and error SLO and fits the budget and inventory left after the paths of the
   types before it. The path is *reserved* (its $/h and GPUs are held back from the other types' placements)
   until the main phase places the type; if a type cannot be covered otherwise it may use the reserved budget.
   Types without any path are logged as unservable (an M3 upgrade may still rescue them; else reported).
3. **Main phase.** Types in descending load (λ_i·(h_i + f_i)), each placed in steps until its demand is
   covered. Each step scores, vectorised over templates, every option:
   spare capacity on an active replica, a block of new replicas of a candidate (as many as the residual needs,
   within budget, inventory and storage), an M3 TP upgrade of an active deployment, and unmet demand (ζ_i).
   **M2** ranks them by added $/h per unit of *effective* coverage — the residual demand the option can
   absorb within its capacity, the type's error slack (Σ_d (ε_i − e_id)·x_id must stay ≥ 0), the budget and
   the inventory — plus the option's delay penalty per req/s. When the best option is a low-error one and
   blending it with a cheaper higher-error option meets the weighted-average error SLO at lower cost, the step
   only takes the low-error share of that blend (the next step then uses the slack it created). Without M2
   options are ranked by raw added $/h (one replica at a time; spare capacity first), unmet only when nothing
   else fits.
4. **M3 TP upgrade.** Besides new replicas of the M1 configuration, a step may raise the TP degree: replace an
   active deployment by its sibling with higher TP (same model, GPU, precision, PP) — which may meet a delay
   SLO the active one misses or carry more load per $ — or open the higher-TP sibling instead of the M1
   configuration. Without M3 neither is considered.
5. Unneeded replicas are trimmed (R_d = ⌈load_d⌉); ``evaluate`` confirms the result.

Everything per step is numpy over the templates of one type; Python loops only over types and steps.
Set ``explain=True`` to get one log line per decision (candidate chosen and its $/h per effective req/s,
filtered candidates and the constraint that filtered them, TP upgrades, unmet demand). Every line starts with
the mechanism that made the decision (:data:`LOG_TAGS`): ``[start]`` ordering, ``[M1]`` (``[filter]`` with M1
off) the per-type filter, ``[coverage]`` reserved paths, ``[M2]`` (``[step]`` with M2 off) each greedy step,
``[M3]`` TP upgrades and higher-TP siblings, ``[unmet]``, ``[failed]``, ``[trim]``, ``[result]``; AGH adds
``[lp-start]``, ``[local-search]``, ``[consolidation]`` and ``[stage2]``. The lines are built lazily, only with
``explain``; ``hetserve solve SCENARIO --explain`` also prints ``[templates]``/``[memory]`` lines (cli.py).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from hetserve_env.allocation import Allocation
from hetserve_env.problem import Problem
from hetserve_env.templates import pairs_within

from .solution import Solution, finish, type_reasons

EPS = 1e-9
_BIG = 1 << 40
_TPPP_RE = re.compile(r"TP(\d+) PP(\d+)")

#: mechanism tags that start the decision-log lines (``explain=True``), in the order they can fire
LOG_TAGS = ("[start]", "[M1]", "[filter]", "[coverage]", "[M2]", "[step]", "[M3]", "[unmet]", "[failed]", "[trim]",
            "[lp-start]", "[local-search]", "[consolidation]", "[stage2]", "[result]")


@dataclass(frozen=True)
class GHOptions:
    """Switches of the three mechanisms (all on = the paper's GH) and the decision log."""

    m1: bool = True
    m2: bool = True
    m3: bool = True
    explain: bool = False


# ----------------------------------------------------------------------------------------------------
# per-problem precomputation
# ----------------------------------------------------------------------------------------------------

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
        self.lam = p.rate
        self.mu = p.capacity
        self.servable = p.capacity > 0
        self.inv_mu = np.divide(1.0, p.capacity, out=np.zeros_like(p.capacity), where=self.servable)
        self.cost = p.cost
        self.gpus = p.gpus
        self.gpu = p.template_gpu
        self.art = p.template_artifact
        self.art_gb = p.artifact_gb
        self.storage_add = p.storage_cost * p.artifact_gb  # $/h when an artifact becomes stored
        self.w = p.error - p.error_slo[:, None]  # error excess per served share (≤ 0: creates slack)
        self.delay_unit = 3600.0 * p.delay_penalty[:, None] * p.latency  # $/h per req/s routed
        self.unmet_unit = 3600.0 * p.unmet_penalty  # $/h per req/s unmet
        self.unmet_cap = p.rate * p.max_unmet  # req/s that may go unmet
        self.budget = p.budget
        self.inventory = p.inventory.astype(float)
        self.storage_gb = p.storage_gb
        self.tp, self.pp = _parallelism(p)
        group = self.art.astype(np.int64) * max(self.G, 1) + self.gpu
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
        low = self.servable & (self.w <= 0)
        self.hub_cover = np.where(low, np.minimum(self.lam[:, None], self.mu), 0.0).sum(axis=0)
        # load used for the default order: token throughput λ·(h + f)
        self.load_key = p.rate * (p.input_tokens + p.output_tokens)
        # asymptotic price per req/s of each candidate (for blending and short lists)
        self.unit = np.where(self.servable, self.cost[None, :] * self.inv_mu + self.delay_unit, np.inf)

    def hubs(self, k: int) -> np.ndarray:
        """Templates that could anchor many types as the low-error side of their blends. Alternately: the most
        low-error demand covered per $ (Σ_i min(λ_i, μ_id) over the types it serves within their error SLO,
        divided by its $/h) and the most low-error demand covered outright (ties: cheaper); at most one per
        (model, tier); only templates serving at least two types within their error SLO."""
        pool = self.new_cand.any(axis=0)
        good = self.servable & (self.w <= 0) & pool[None, :]
        cover = np.where(good, np.minimum(self.lam[:, None], self.mu), 0.0).sum(axis=0)
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
            n_ok = ((self.w <= 0) & self.servable).sum(axis=1)
            return np.lexsort((idx, -self.load_key, p.error_slo, n_ok))
        raise ValueError(f"unknown ordering {kind!r}; known: load, slo, error")


# ----------------------------------------------------------------------------------------------------
# mutable state
# ----------------------------------------------------------------------------------------------------

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
        a = ctx.art[d]
        before = self.art_R[a]
        self.R[d] += k
        self.spent += k * ctx.cost[d]
        self.inv_used[ctx.gpu[d]] += k * ctx.gpus[d]
        self.art_R[a] += k
        if before == 0 and self.art_R[a] > 0:
            self.storage_used += ctx.art_gb[a]
        elif before > 0 and self.art_R[a] == 0:
            self.storage_used -= ctx.art_gb[a]

    def route(self, ctx: Context, i: int, d: int, amount: float) -> None:
        """Add ``amount`` req/s of type i to template d (negative removes)."""
        self.x[i, d] += amount / ctx.lam[i]
        if self.x[i, d] < 1e-13:
            self.x[i, d] = 0.0
        self.load[d] += amount * ctx.inv_mu[i, d]
        if self.load[d] < 1e-12:
            self.load[d] = 0.0

    def trim(self, ctx: Context, d: int | None = None) -> None:
        """Drop replicas no longer needed (R_d = ⌈load_d⌉)."""
        need = np.maximum(np.ceil(self.load - EPS), 0).astype(np.int64)
        ds = np.flatnonzero(self.R > need) if d is None else ([d] if self.R[d] > need[d] else [])
        for k in ds:
            self.add_replicas(ctx, int(k), int(need[k] - self.R[k]))

    def objective(self, ctx: Context) -> float:
        """$/h as ``evaluate`` computes it (used to compare moves; the final figure comes from evaluate)."""
        stored = self.art_R > 0
        return float(ctx.cost @ self.R + (ctx.storage_add * stored).sum()
                     + (ctx.lam[:, None] * self.x * ctx.delay_unit).sum() + (ctx.lam * self.u) @ ctx.unmet_unit)

    def slack(self, ctx: Context, i: int) -> float:
        """Error slack of type i in req/s·error units: λ_i Σ_d (ε_i − e_id) x_id (≥ 0 when the SLO holds)."""
        return float(-ctx.lam[i] * (ctx.w[i] @ self.x[i]))

    def residual(self, ctx: Context, i: int) -> float:
        return float(ctx.lam[i] * (1.0 - self.x[i].sum() - self.u[i]))

    def allocation(self) -> Allocation:
        return Allocation(self.R.copy(), np.clip(self.x, 0.0, 1.0), np.clip(self.u, 0.0, 1.0))


# ----------------------------------------------------------------------------------------------------
# construction
# ----------------------------------------------------------------------------------------------------

class _Log:
    """Collects decision lines; formatting happens only when ``explain`` is on."""

    def __init__(self, explain: bool, lines: list[str] | None = None) -> None:
        self.explain = explain
        self.lines = lines if lines is not None else []

    def __call__(self, fn) -> None:  # fn: () -> str, evaluated lazily
        if self.explain:
            self.lines.append(fn())


def _budget_left(ctx: Context, st: State) -> float:
    """Budget not spent and not reserved for other types' coverage paths."""
    if not math.isfinite(ctx.budget):
        return math.inf
    return ctx.budget - st.spent - (0.0 if st.ignore_reserve else st.reserved_cost)


def _inv_left(ctx: Context, st: State, g: np.ndarray) -> np.ndarray:
    held = st.reserved_gpus[g] if (st.reserved_gpus is not None and not st.ignore_reserve) else 0.0
    return ctx.inventory[g] - st.inv_used[g] - held


def _kmax(ctx: Context, st: State, c: np.ndarray) -> np.ndarray:
    """Most new replicas of each template in ``c`` that budget, inventory and storage allow."""
    B = _budget_left(ctx, st)
    kb = np.floor((B + 1e-9) / ctx.cost[c]) if math.isfinite(B) else np.full(len(c), float(_BIG))
    ki = np.floor((_inv_left(ctx, st, ctx.gpu[c]) + 1e-9) / ctx.gpus[c])
    stored = st.art_R[ctx.art[c]] > 0
    fits = stored | (st.storage_used + ctx.art_gb[ctx.art[c]] <= ctx.storage_gb + 1e-9)
    return np.maximum(np.minimum(kb, ki), 0.0) * fits


def _label(ctx: Context, d: int) -> str:
    return ctx.problem.template_labels[d]


def coverage_phase(ctx: Context, st: State, order: Sequence[int], opt: GHOptions, log: _Log) -> None:
    """Every type gets one feasible path — a replica of a candidate meeting its delay and error SLO that fits
    the budget and inventory left after the paths of the types before it — which is *reserved* (its $/h and
    GPUs are held back) until the main phase places the type. Types without a path are logged as unservable
    (the main phase may still rescue them through an M3 TP upgrade; otherwise they are reported)."""
    p = ctx.problem
    for i in order:
        i = int(i)
        if ctx.lam[i] <= 0 or p.max_unmet[i] >= 1.0:
            continue
        c = ctx.cidx[i]
        ok = ctx.w[i, c] <= 0
        km = _kmax(ctx, st, c)
        usable = ok & (km >= 1)
        if not usable.any():
            log(lambda: f"[coverage] coverage: type {p.type_names[i]!r}: no path within delay SLO {p.delay_slo[i]:g} s, "
                        f"error SLO {p.error_slo[i]:g}, budget and inventory among the {len(c)} candidates"
                        + _filtered_text(_why_blocked(ctx, st, c, i, 0.0, 0.0)))
            continue
        cc = c[usable]
        key = ctx.cost[cc] + 1e-9 * ctx.unit[i, cc]
        d = int(cc[int(np.argmin(key))])
        st.reserve[i] = d
        st.reserved_cost += ctx.cost[d]
        st.reserved_gpus[ctx.gpu[d]] += ctx.gpus[d]
        log(lambda: f"[coverage] coverage: type {p.type_names[i]!r}: path reserved on {_label(ctx, d)} "
                    f"(${ctx.cost[d]:.3f}/h, error {p.error[i, d]:.4g} <= {p.error_slo[i]:.4g}; cheapest of "
                    f"{int(usable.sum())} single-template paths within delay and error SLO, budget and inventory)")


def _release(ctx: Context, st: State, i: int) -> None:
    d = st.reserve.pop(i, None)
    if d is not None:
        st.reserved_cost -= ctx.cost[d]
        st.reserved_gpus[ctx.gpu[d]] -= ctx.gpus[d]


def place_type(ctx: Context, st: State, i: int, opt: GHOptions, log: _Log, banned: np.ndarray | None = None) -> None:
    """Cover type i's residual demand in greedy steps (main phase); sets ``st.failed[i]`` if it cannot.

    ``banned`` (D bool) excludes templates from new replicas and upgrades (used by AGH's ruin-and-recreate)."""
    p = ctx.problem
    lam = ctx.lam[i]
    name = p.type_names[i]
    _release(ctx, st, i)
    if lam <= 0:
        _place_zero_rate(ctx, st, i)
        return
    mu_i, w_i, dl_i, inv_mu_i = ctx.mu[i], ctx.w[i], ctx.delay_unit[i], ctx.inv_mu[i]
    c = ctx.cidx[i]
    if banned is not None:
        c = c[~banned[c]]
    has_up = opt.m3 and len(ctx.up_src) > 0
    if has_up:
        up_ok = ctx.servable[i, ctx.up_dst]
        if banned is not None:
            up_ok &= ~banned[ctx.up_dst]
        up_src_all, up_dst_all = ctx.up_src[up_ok], ctx.up_dst[up_ok]
    tol = 1e-9 * max(lam, 1.0)
    max_steps = 4 * ctx.D + 16 if opt.m2 else 64 * ctx.D + 16
    step_tag = "[M2]" if opt.m2 else "[step]"

    def put(d: int, amount: float, why: str) -> float:
        """Route up to ``amount`` req/s of i to d, opening the replicas it needs; returns the amount routed.

        The amount is capped by what budget, inventory and storage still allow on d (a blend's two sides may
        share a GPU type, so the second side is re-checked after the first has opened its replicas)."""
        room = (st.R[d] + float(_kmax(ctx, st, np.array([d]))[0]) - st.load[d]) * mu_i[d]
        amount = min(amount, max(room, 0.0))
        if amount <= tol:
            return 0.0
        kk = max(int(math.ceil(st.load[d] + amount * inv_mu_i[d] - st.R[d] - EPS)), 0)
        st.add_replicas(ctx, d, kk)
        st.route(ctx, i, d, amount)
        if kk:
            tag = "" if ctx.m1_cand[i, d] else " [M3: higher-TP sibling of the M1 choice]"
            log(lambda: f"{'[M3]' if tag else step_tag} type {name!r}: open {kk} x {_label(ctx, d)} for {amount:.4g} "
                        f"req/s (${kk * ctx.cost[d]:.3f}/h, {why}){tag}")
        else:
            log(lambda: f"{step_tag} type {name!r}: {amount:.4g} req/s on spare capacity of {_label(ctx, d)} ({why})")
        return amount

    for _step in range(max_steps):
        r = st.residual(ctx, i)
        if r <= tol:
            break
        S = max(st.slack(ctx, i), 0.0)
        if _step == 0:
            st.ignore_reserve = False
        # ---- option 1: spare capacity on active replicas (any template that serves i)
        act = np.flatnonzero((st.R > 0) & ctx.servable[i])
        sp_cap = np.maximum(st.R[act] - st.load[act], 0.0) * mu_i[act]
        sp_lim = np.where(w_i[act] > 0, S / np.where(w_i[act] > 0, w_i[act], 1.0), np.inf)
        sp_eff = np.minimum(np.minimum(sp_cap, sp_lim), r)
        sp_add = np.zeros(len(act))
        # ---- option 2: a block of new replicas of a candidate
        km = _kmax(ctx, st, c)
        if not opt.m2:
            km = np.minimum(km, 1.0)  # naive: one replica at a time
        nw_cap = (st.R[c] + km - st.load[c]) * mu_i[c]
        nw_lim = np.where(w_i[c] > 0, S / np.where(w_i[c] > 0, w_i[c], 1.0), np.inf)
        nw_eff = np.maximum(np.minimum(np.minimum(nw_cap, nw_lim), r), 0.0)
        nw_k = np.maximum(np.ceil(st.load[c] + nw_eff * inv_mu_i[c] - st.R[c] - EPS), 0.0)
        nw_add = nw_k * ctx.cost[c] + ctx.storage_add[ctx.art[c]] * ((st.art_R[ctx.art[c]] == 0) & (nw_k > 0))
        nw_eff = np.where(nw_k > 0, nw_eff, 0.0)  # k = 0 is the spare option, scored above
        # ---- option 3: M3 TP upgrade of an active deployment
        if has_up:
            live = st.R[up_src_all] > 0
            us, ud = up_src_all[live], up_dst_all[live]
        else:
            us = ud = np.zeros(0, dtype=np.int64)
        if len(us):
            X = st.x[:, us]
            blocked = ((X > 0) & ~ctx.servable[:, ud]).any(axis=0)
            conv = (ctx.lam[:, None] * X * ctx.inv_mu[:, ud]).sum(axis=0)
            ddelay = (ctx.lam[:, None] * X * (ctx.delay_unit[:, ud] - ctx.delay_unit[:, us])).sum(axis=0)
            ld = st.load[ud] + conv
            freed_cost = st.R[us] * ctx.cost[us]
            B = _budget_left(ctx, st)
            kb = np.floor((B + freed_cost + 1e-9) / ctx.cost[ud]) if math.isfinite(B) else np.full(len(us), float(_BIG))
            ki = np.floor((_inv_left(ctx, st, ctx.gpu[ud]) + st.R[us] * ctx.gpus[us] + 1e-9) / ctx.gpus[ud])
            kmax_tot = st.R[ud] + np.maximum(np.minimum(kb, ki), 0.0)
            up_lim = np.where(w_i[ud] > 0, S / np.where(w_i[ud] > 0, w_i[ud], 1.0), np.inf)
            up_eff = np.maximum(np.minimum(np.minimum((kmax_tot - ld) * mu_i[ud], up_lim), r), 0.0)
            up_tot = np.ceil(ld + up_eff * inv_mu_i[ud] - EPS)
            up_add = (up_tot - st.R[ud]) * ctx.cost[ud] - freed_cost + ddelay
            up_eff = np.where(blocked | (up_tot > kmax_tot + 0.5), 0.0, up_eff)
        else:
            up_eff = up_add = up_tot = np.zeros(0)
        # ---- option 4: unmet demand (within ζ_i)
        un_eff = min(r, max(ctx.unmet_cap[i] - lam * st.u[i], 0.0))

        eff = np.concatenate([sp_eff, nw_eff, up_eff, [un_eff]])
        add = np.concatenate([sp_add, nw_add, up_add, [0.0]])
        delay = np.concatenate([dl_i[act], dl_i[c], dl_i[ud], [ctx.unmet_unit[i]]])
        valid = eff > tol
        n1, n2, n3 = len(act), len(c), len(ud)
        if not valid[:-1].any() and st.reserve and not st.ignore_reserve:
            # nothing fits beside the other types' reserved paths: use them (they may find spare capacity later)
            st.ignore_reserve = True
            log(lambda: f"[coverage] type {name!r}: budget/inventory left only in other types' reserved paths; using it")
            continue
        if not valid.any():
            break
        if opt.m2:
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.where(valid, add / np.where(valid, eff, 1.0) + delay, np.inf)
        else:
            # raw added $/h; unmet only when nothing else can take demand (unavoidable)
            score = np.where(valid, add, np.inf)
            if valid[:-1].any():
                score[-1] = np.inf
        k = int(np.argmin(score))
        amount = float(eff[k])
        ids = np.concatenate([act, c])
        if log.explain:
            log(lambda: _step_text(ctx, st, i, _step, r, S, tol, opt, act, c, us, ud, nw_k, score, valid, sp_eff))
        if opt.m2:
            blend = _blend(ctx, st, i, r, S, float(score[k]), ids, n1, np.concatenate([sp_cap, nw_cap]), log)
            if blend is not None:
                (da, a_amt), (db, b_amt), val = blend
                got = put(da, a_amt, f"low-error side of a blend, ${val:.4g}/h per req/s blended")
                if b_amt > 0 and got > 0:  # the high-error side only within the slack the low-error side made
                    put(db, b_amt * got / a_amt, "high-error side of the blend, within the error slack")
                if got > 0:
                    continue
        if k < n1 + n2:
            d = int(ids[k])
            put(d, amount, f"${score[k]:.4g}/h per effective req/s" if opt.m2 else "cheapest option")
        elif k < n1 + n2 + n3:
            j = k - n1 - n2
            s, d = int(us[j]), int(ud[j])
            _upgrade(ctx, st, s, d, int(up_tot[j]))
            st.route(ctx, i, d, amount)
            log(lambda: f"[M3] type {name!r}: M3 TP upgrade {_label(ctx, s)} -> {_label(ctx, d)} x {int(up_tot[j])}, "
                        f"takes {amount:.4g} req/s (${up_add[j]:+.3f}/h, ${score[k]:.4g}/h per effective req/s)")
        else:
            st.u[i] += amount / lam
            log(lambda: f"{step_tag} type {name!r}: leave {amount:.4g} req/s unmet (${ctx.unmet_unit[i]:.4g}/h per req/s, "
                        f"share {st.u[i]:.4g} <= {p.max_unmet[i]:.4g})")
    st.ignore_reserve = False
    r = st.residual(ctx, i)
    if r > tol:
        # unavoidable: unmet within ζ
        take = min(r, max(ctx.unmet_cap[i] - lam * st.u[i], 0.0))
        if take > 0:
            st.u[i] += take / lam
            r -= take
            log(lambda: f"[unmet] type {name!r}: {take:.4g} req/s unmet (no capacity left to place it)")
        if r > tol:
            st.failed[i] = _failure_reason(ctx, st, i, r)
            log(lambda: f"[failed] type {name!r}: FAILED: {st.failed[i]}")


def _place_zero_rate(ctx: Context, st: State, i: int) -> None:
    """λ_i = 0: route the (empty) share to the lowest-error servable template; no replica needed."""
    p = ctx.problem
    ok = np.flatnonzero(ctx.servable[i] & (ctx.w[i] <= 0))
    if len(ok):
        st.x[i, ok[np.argmin(p.error[i, ok])]] = 1.0 - st.u[i]
    elif p.max_unmet[i] >= 1.0:
        st.u[i] = 1.0
    else:
        st.failed[i] = type_reasons(p).get(i, f"type {p.type_names[i]!r}: no servable template")


def _blend(ctx: Context, st: State, i: int, r: float, S: float, best: float, ids: np.ndarray, n1: int,
           caps: np.ndarray, log: _Log) -> tuple[tuple[int, float], tuple[int, float], float] | None:
    """A (low-error, high-error) pair of options whose blend meets the error SLO for less than the best single
    option (``best`` $/h per req/s), or None.

    ``ids`` are the templates of the spare options (first ``n1``) and of the new-block options, ``caps`` what
    each can absorb. For a low-error option a (error excess w_a ≤ 0) and a partner b (w_b > 0), with slack S
    and residual r, b takes b_amt = min(cap_b, r, (S − w_a·r)/(w_b − w_a)) and a the rest. Every a is paired
    with every spare partner and the 16 new-replica partners of lowest asymptotic $/h per req/s; both sides are priced with the replicas they
    actually open (ceil), storage and delay penalty — one numpy evaluation over the pairs.
    """
    w_i = ctx.w[i]
    wv = w_i[ids]
    is_new_all = np.arange(len(ids)) >= n1
    price = np.where(is_new_all, ctx.unit[i, ids], ctx.delay_unit[i, ids])
    hb = np.flatnonzero((wv > 0) & (caps > 1e-12) & (price < best))
    la = np.flatnonzero((wv <= 0) & (caps > 1e-12))
    if len(hb) == 0 or len(la) == 0:
        return None
    hb_new = hb[hb >= n1]
    hb = np.concatenate([hb[hb < n1], hb_new[np.argsort(price[hb_new], kind="stable")[:16]]])
    wa, wb = wv[la][:, None], wv[hb][None, :]
    b_amt = np.clip(np.minimum(np.minimum(caps[hb][None, :], r), (S - wa * r) / (wb - wa)), 0.0, r)
    a_amt = r - b_amt

    def side_cost(sel: np.ndarray, amt: np.ndarray, rows: bool) -> np.ndarray:
        d2 = ids[sel].reshape((-1, 1) if rows else (1, -1))
        k = np.maximum(np.ceil(st.load[d2] + amt * ctx.inv_mu[i, d2] - st.R[d2] - EPS), 0.0)
        return k * ctx.cost[d2] + ctx.storage_add[ctx.art[d2]] * ((st.art_R[ctx.art[d2]] == 0) & (k > 0)) + amt * ctx.delay_unit[i, d2]

    a_cost = side_cost(la, a_amt, True)
    b_cost = side_cost(hb, b_amt, False)
    same = ids[la][:, None] == ids[hb][None, :]
    ok = (a_amt > 1e-12) & (a_amt <= caps[la][:, None] * (1 + 1e-12)) & ~same
    total = np.where(ok, (a_cost + b_cost) / r, np.inf)
    j = int(np.argmin(total))
    ja, jb = divmod(j, len(hb))
    if not total[ja, jb] < best * (1 - 1e-9):
        return None
    da, db = int(ids[la[ja]]), int(ids[hb[jb]])
    val = float(total[ja, jb])
    log(lambda: f"[M2] type {ctx.problem.type_names[i]!r}: blend {_label(ctx, da)} (error {ctx.problem.error[i, da]:.4g}) with "
                f"{_label(ctx, db)} (error {ctx.problem.error[i, db]:.4g}): ${val:.4g}/h per req/s vs ${best:.4g} "
                f"for the best single option")
    return (da, float(a_amt[ja, jb])), (db, float(b_amt[ja, jb])), val


def _upgrade(ctx: Context, st: State, s: int, d: int, total: int) -> None:
    """Replace all replicas of ``s`` by ``total`` replicas of its TP sibling ``d``; move s's routing to d."""
    moved = st.x[:, s].copy()
    st.x[:, d] += moved
    st.x[:, s] = 0.0
    st.load[d] += float((ctx.lam * moved * ctx.inv_mu[:, d]).sum())
    st.load[s] = 0.0
    st.add_replicas(ctx, s, -int(st.R[s]))
    st.add_replicas(ctx, d, int(total) - int(st.R[d]))


def _failure_reason(ctx: Context, st: State, i: int, r: float) -> str:
    p = ctx.problem
    name = p.type_names[i]
    structural = type_reasons(p, ctx.new_cand | (st.R > 0)[None, :]).get(i)
    if structural:
        if not ctx.servable[i].any() or i in type_reasons(p):
            return structural
        return structural + " among the heuristic's candidates (M1 filter)"
    c = ctx.cidx[i]
    B = _budget_left(ctx, st)
    why = []
    if len(c) and math.isfinite(B) and (ctx.cost[c] > B + 1e-9).all():
        why.append(f"budget (${st.spent:.2f} of ${p.budget:.2f}/h used)")
    inv_left = ctx.inventory[ctx.gpu[c]] - st.inv_used[ctx.gpu[c]]
    if len(c) and (inv_left < ctx.gpus[c]).all():
        why.append("GPU inventory exhausted for every candidate")
    if len(c) and not ((st.art_R[ctx.art[c]] > 0) | (st.storage_used + ctx.art_gb[ctx.art[c]] <= ctx.storage_gb)).all():
        why.append("storage")
    if not why:
        why.append("error SLO slack / capacity of the affordable candidates")
    unmet_share = r / ctx.lam[i] + st.u[i]
    return (f"type {name!r}: {r:.4g} req/s could not be placed ({', '.join(why)}); unmet share would be "
            f"{unmet_share:.4g} > max_unmet {p.max_unmet[i]:.4g}")


def construct(ctx: Context, order: Sequence[int], opt: GHOptions, log: _Log, hub: int | None = None) -> State:
    """Coverage phase then main phase in ``order``, then trim. ``hub``: a template given one replica first
    (AGH's hub starts)."""
    st = State.empty(ctx)
    if hub is not None:
        km = _kmax(ctx, st, np.array([hub]))
        if km[0] >= 1:
            st.add_replicas(ctx, int(hub), 1)
            log(lambda: f"[start] hub start: 1 x {_label(ctx, int(hub))} opened first")
    coverage_phase(ctx, st, order, opt, log)
    for i in order:
        place_type(ctx, st, int(i), opt, log)
    before = st.R.copy() if log.explain else None
    st.trim(ctx)
    if log.explain and (before != st.R).any():
        log(lambda: "[trim] replicas no longer needed (R = ceil(load)): " + ", ".join(
            f"{_label(ctx, int(d))} {int(before[d])} -> {int(st.R[d])} (-${(before[d] - st.R[d]) * ctx.cost[d]:.3f}/h)"
            for d in np.flatnonzero(before != st.R)))
    return st


def solve_gh(problem: Problem, *, m1: bool = True, m2: bool = True, m3: bool = True, explain: bool = False) -> Solution:
    """Run GH once (types in descending load) and return its evaluated Solution."""
    t0 = time.perf_counter()
    opt = GHOptions(m1, m2, m3, explain)
    ctx = Context(problem, m1=m1, m3=m3)
    lines: list[str] = []
    log = _Log(explain, lines)
    order = ctx.order("load")
    log(lambda: "[start] GH order (descending load λ·(input + output tokens)): " + ", ".join(
        f"{problem.type_names[int(i)]} ({ctx.load_key[int(i)]:.4g} tok/s)" for i in order))
    if explain:
        _log_filter(ctx, opt, log)
    st = construct(ctx, order, opt, log)
    runtime = time.perf_counter() - t0
    return gh_solution(problem, "gh", st, ctx, opt, lines, runtime, {"order": [problem.type_names[int(i)] for i in order]})


def _log_filter(ctx: Context, opt: GHOptions, log: _Log) -> None:
    """Explain only: per type, how many templates each constraint filters out, and what M1 keeps."""
    p = ctx.problem
    B = ctx.budget
    for i in range(ctx.I):
        n_serv = int(ctx.servable[i].sum())
        n_m1 = int(ctx.m1_cand[i].sum())
        n_new = int(ctx.new_cand[i].sum())
        n_err = int((ctx.m1_cand[i] & (ctx.w[i] <= 0)).sum())
        tag = "[M1]" if opt.m1 else "[filter]"
        log(lambda: f"{tag} filter: type {p.type_names[i]!r}: {n_serv} of {ctx.D} templates meet delay SLO "
                    f"{p.delay_slo[i]:g} s; {'M1 keeps' if opt.m1 else 'first-listed configs keep'} {n_m1} "
                    f"({n_err} within error SLO {p.error_slo[i]:g})"
                    + (f"; with M3 TP siblings {n_new}" if opt.m3 else ""))
        # which constraint removed the others (templates whose weights do not fit in memory are never generated)
        delay = (~ctx.servable[i]) & (p.latency[i] >= p.delay_slo[i])
        memory = (~ctx.servable[i]) & ~delay  # μ = 0 although fast enough: no sequence fits in the KV cache / context
        m1_drop = ctx.servable[i] & ~ctx.m1_cand[i]
        kept = ctx.m1_cand[i]
        err = kept & (ctx.w[i] > 0)
        over_budget = kept & (ctx.cost > B + 1e-9) if math.isfinite(B) else np.zeros(ctx.D, dtype=bool)
        over_inv = kept & (ctx.gpus > ctx.inventory[ctx.gpu])
        log(lambda: f"{tag} type {p.type_names[i]!r}: filtered by memory {int(memory.sum())} (KV cache holds no "
                    f"sequence / context too short){_examples(ctx, memory)}, by delay {int(delay.sum())} (zero-load "
                    f"latency >= {p.delay_slo[i]:g} s){_examples(ctx, delay)}, "
                    + (f"by M1 {int(m1_drop.sum())} (a fewer-GPU or cheaper TP/PP of the same model and tier also "
                       f"meets the SLO){_examples(ctx, m1_drop)}; " if opt.m1 else
                       f"not first-listed {int(m1_drop.sum())}; ")
                    + f"of the {int(kept.sum())} kept: {int(err.sum())} above error SLO {p.error_slo[i]:g} (usable "
                    f"only blended with a lower-error template), {int(over_budget.sum())} cost more than the budget "
                    f"alone, {int(over_inv.sum())} need more GPUs than the inventory")
        ok = kept & ~err & ~over_budget & ~over_inv
        if ok.any():
            best = np.flatnonzero(ok)[np.argsort(ctx.unit[i, ok], kind="stable")[:3]]
            log(lambda: f"{tag} type {p.type_names[i]!r}: cheapest pure paths by $/h per req/s at full load "
                        "(rental / capacity + delay penalty): " + ", ".join(
                            f"{_label(ctx, int(d))} ${ctx.unit[i, d]:.4g} (mu {ctx.mu[i, d]:.3g} req/s, "
                            f"${ctx.cost[d]:.3f}/h)" for d in best))


def _examples(ctx: Context, mask: np.ndarray, k: int = 2) -> str:
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return ""
    more = f", +{len(idx) - k} more" if len(idx) > k else ""
    return " [e.g. " + ", ".join(_label(ctx, int(d)) for d in idx[:k]) + more + "]"


def _why_blocked(ctx: Context, st: State, c: np.ndarray, i: int, S: float, tol: float) -> dict[str, int]:
    """Explain only: how many of the candidates ``c`` cannot open a replica for type i now, by the first constraint
    that blocks them (budget left, GPU inventory left, storage, error slack for templates above the error SLO)."""
    if len(c) == 0:
        return {}
    B = _budget_left(ctx, st)
    budget = ctx.cost[c] > B + 1e-9 if math.isfinite(B) else np.zeros(len(c), dtype=bool)
    inv = _inv_left(ctx, st, ctx.gpu[c]) + 1e-9 < ctx.gpus[c]
    stored = st.art_R[ctx.art[c]] > 0
    storage = ~(stored | (st.storage_used + ctx.art_gb[ctx.art[c]] <= ctx.storage_gb + 1e-9))
    w = ctx.w[i, c]
    error = (w > 0) & (S / np.where(w > 0, w, 1.0) <= tol)
    out, seen = {}, np.zeros(len(c), dtype=bool)
    for name, m in (("budget", budget), ("inventory", inv), ("storage", storage), ("error", error)):
        m = m & ~seen
        seen |= m
        out[name] = int(m.sum())
    return out


def _filtered_text(counts: dict[str, int]) -> str:
    parts = [f"{k} {v}" for k, v in counts.items() if v]
    return ("; filtered: " + ", ".join(parts)) if parts else ""


def _step_text(ctx: Context, st: State, i: int, step: int, r: float, S: float, tol: float, opt: GHOptions,
               act: np.ndarray, c: np.ndarray, us: np.ndarray, ud: np.ndarray, nw_k: np.ndarray,
               score: np.ndarray, valid: np.ndarray, sp_eff: np.ndarray) -> str:
    """Explain only: one greedy step's options, what filtered them and the best few by score."""
    p = ctx.problem
    n1, n2, n3 = len(act), len(c), len(us)
    blocked = _why_blocked(ctx, st, c, i, S, tol)
    w_sp = ctx.w[i, act]
    sp_err = int(((w_sp > 0) & (sp_eff <= tol) & (np.maximum(st.R[act] - st.load[act], 0.0) > 1e-12)).sum())
    if sp_err:
        blocked["error (spare)"] = sp_err
    order = [int(k) for k in np.argsort(score, kind="stable")[:3] if valid[k] and np.isfinite(score[k])]

    def what(k: int) -> str:
        if k < n1:
            return f"spare on {_label(ctx, int(act[k]))}"
        if k < n1 + n2:
            return f"{int(nw_k[k - n1])} x {_label(ctx, int(c[k - n1]))}"
        if k < n1 + n2 + n3:
            return f"TP upgrade {_label(ctx, int(us[k - n1 - n2]))} -> {_label(ctx, int(ud[k - n1 - n2]))}"
        return "unmet"

    unit = "$/h per effective req/s" if opt.m2 else "added $/h"
    return (f"{'[M2]' if opt.m2 else '[step]'} type {p.type_names[i]!r} step {step + 1}: residual {r:.4g} req/s, "
            f"error slack {S + 0.0:.4g}; options: {n1} spare, {n2} new-replica blocks, {n3} TP upgrades, unmet"
            f"{_filtered_text(blocked)}; {int(valid.sum())} usable; best by {unit}: "
            + ", ".join(f"{what(k)} {score[k]:.4g}" for k in order))


def gh_solution(problem: Problem, method: str, st: State, ctx: Context, opt: GHOptions, lines: list[str],
                runtime: float, stats: dict) -> Solution:
    alloc = st.allocation()
    stats = dict(stats)
    stats.update(replicas=int(st.R.sum()), gpus=int((st.R * ctx.gpus).sum()), m1=opt.m1, m2=opt.m2, m3=opt.m3)
    reason = None
    if st.failed:
        reason = "; ".join(st.failed[i] for i in sorted(st.failed))
    sol = finish(problem, method, alloc, runtime_s=runtime, log=lines, stats=stats, reason=reason)
    if sol.feasible:
        lines.append(f"[result] {method.upper()}: feasible, objective ${sol.objective:.4f}/h, {stats['replicas']} "
                     f"replicas on {stats['gpus']} GPUs, {runtime:.4f} s")
    else:
        lines.append(f"[result] {method.upper()}: no feasible allocation: {sol.reason}")
    if opt.explain:
        fired = {}
        for line in lines:
            tag = line.split(" ", 1)[0]
            if tag in LOG_TAGS and tag not in ("[start]", "[result]"):
                fired[tag] = fired.get(tag, 0) + 1
        lines.append("[result] decisions logged per mechanism: " + (", ".join(f"{k} {v}" for k, v in fired.items())
                                                                    or "none"))
    return sol
