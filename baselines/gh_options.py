"""The options GH's main phase weighs at each greedy step for one query type (split out of ``gh.place_type``).

At every step the type's residual demand can go to (1) spare capacity of active replicas, (2) a block of new
replicas of a candidate template, (3) an M3 TP upgrade of an active deployment, or (4) unmet demand within ζ.
:func:`step_options` computes, for every option, the demand it can take (``eff``) and the $/h it adds
(``add``); :func:`option_scores` ranks them (M2: added $/h per effective req/s plus delay cost; without M2:
raw added $/h). Pure reads of the state: applying the chosen option is ``gh.place_type``'s.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from hetserve_env import fleet_cost

from .gh_state import EPS, Context, GHOptions, State, budget_left, inv_left, kmax


class StepOptions(NamedTuple):
    """Every option of one step: spare (``active``…), new replicas (over the candidates ``c``), upgrades
    (``us`` -> ``ud``), and the concatenated ``eff`` / ``add`` / ``delay`` over [spare, new, upgrade, unmet]."""

    active: np.ndarray
    sp_cap: np.ndarray
    sp_eff: np.ndarray
    nw_cap: np.ndarray
    nw_k: np.ndarray
    us: np.ndarray
    ud: np.ndarray
    up_add: np.ndarray
    up_tot: np.ndarray
    eff: np.ndarray
    add: np.ndarray
    delay: np.ndarray


def upgrade_pairs(ctx: Context, i: int, opt: GHOptions, banned: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The M3 upgrade pairs (source, higher-TP destination) open to type ``i`` (none without M3)."""
    if not (opt.m3 and len(ctx.up_src) > 0):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    up_ok = ctx.servable[i, ctx.up_dst]
    if banned is not None:
        up_ok &= ~banned[ctx.up_dst]
    return ctx.up_src[up_ok], ctx.up_dst[up_ok]


def _limited(S: float, w: np.ndarray) -> np.ndarray:
    """Demand the error slack ``S`` lets through templates of error excess ``w`` (inf where w <= 0)."""
    return np.where(w > 0, S / np.where(w > 0, w, 1.0), np.inf)


def _upgrades(ctx: Context, st: State, i: int, us: np.ndarray, ud: np.ndarray, S: float, r: float):
    """(eff, add, total replicas) of upgrading each live deployment ``us`` to ``ud`` for type ``i``."""
    mu_i, w_i, inv_mu_i = ctx.capacity[i], ctx.error_excess[i], ctx.inv_capacity[i]
    X = st.x[:, us]
    blocked = ((X > 0) & ~ctx.servable[:, ud]).any(axis=0)
    conv = (ctx.rate[:, None] * X * ctx.inv_capacity[:, ud]).sum(axis=0)
    ddelay = (ctx.rate[:, None] * X * (ctx.delay_unit[:, ud] - ctx.delay_unit[:, us])).sum(axis=0)
    ld = st.load[ud] + conv
    freed_cost = st.R[us] * ctx.cost[us]
    kmax_tot = st.R[ud] + fleet_cost.new_replicas_within(
        ctx.cost[ud], ctx.gpus[ud], budget_left(ctx, st) + freed_cost,
        inv_left(ctx, st, ctx.template_gpu[ud]) + st.R[us] * ctx.gpus[us], np.zeros(len(us)), math.inf)
    up_lim = _limited(S, w_i[ud])
    up_eff = np.maximum(np.minimum(np.minimum((kmax_tot - ld) * mu_i[ud], up_lim), r), 0.0)
    up_tot = np.ceil(ld + up_eff * inv_mu_i[ud] - EPS)
    up_add = (up_tot - st.R[ud]) * ctx.cost[ud] - freed_cost + ddelay
    up_eff = np.where(blocked | (up_tot > kmax_tot + 0.5), 0.0, up_eff)
    return up_eff, up_add, up_tot


def step_options(ctx: Context, st: State, i: int, c: np.ndarray, up_src: np.ndarray, up_dst: np.ndarray,
                 S: float, r: float, m2: bool) -> StepOptions:
    """The four options of one step for type ``i`` with residual ``r`` req/s and error slack ``S``."""
    mu_i, w_i, dl_i, inv_mu_i = ctx.capacity[i], ctx.error_excess[i], ctx.delay_unit[i], ctx.inv_capacity[i]
    # ---- option 1: spare capacity on active replicas (any template that serves i)
    active = np.flatnonzero((st.R > 0) & ctx.servable[i])
    sp_cap = np.maximum(st.R[active] - st.load[active], 0.0) * mu_i[active]
    sp_eff = np.minimum(np.minimum(sp_cap, _limited(S, w_i[active])), r)
    sp_add = np.zeros(len(active))
    # ---- option 2: a block of new replicas of a candidate
    km = kmax(ctx, st, c)
    if not m2:
        km = np.minimum(km, 1.0)  # naive: one replica at a time
    nw_cap = (st.R[c] + km - st.load[c]) * mu_i[c]
    nw_eff = np.maximum(np.minimum(np.minimum(nw_cap, _limited(S, w_i[c])), r), 0.0)
    nw_k = np.maximum(np.ceil(st.load[c] + nw_eff * inv_mu_i[c] - st.R[c] - EPS), 0.0)
    nw_add = nw_k * ctx.cost[c] + ctx.storage_add[ctx.template_artifact[c]] * ((st.art_R[ctx.template_artifact[c]] == 0) & (nw_k > 0))
    nw_eff = np.where(nw_k > 0, nw_eff, 0.0)  # k = 0 is the spare option, scored above
    # ---- option 3: M3 TP upgrade of an active deployment
    live = st.R[up_src] > 0
    us, ud = up_src[live], up_dst[live]
    if len(us):
        up_eff, up_add, up_tot = _upgrades(ctx, st, i, us, ud, S, r)
    else:
        us = ud = np.zeros(0, dtype=np.int64)
        up_eff = up_add = up_tot = np.zeros(0)
    # ---- option 4: unmet demand (within ζ_i)
    un_eff = min(r, max(ctx.unmet_cap[i] - ctx.rate[i] * st.u[i], 0.0))
    eff = np.concatenate([sp_eff, nw_eff, up_eff, [un_eff]])
    add = np.concatenate([sp_add, nw_add, up_add, [0.0]])
    delay = np.concatenate([dl_i[active], dl_i[c], dl_i[ud], [ctx.unmet_unit[i]]])
    return StepOptions(active, sp_cap, sp_eff, nw_cap, nw_k, us, ud, up_add, up_tot, eff, add, delay)


def option_scores(o: StepOptions, valid: np.ndarray, m2: bool) -> np.ndarray:
    """Score of every option (lowest wins; inf where not ``valid``)."""
    if m2:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(valid, o.add / np.where(valid, o.eff, 1.0) + o.delay, np.inf)
    # raw added $/h; unmet only when nothing else can take demand (unavoidable)
    score = np.where(valid, o.add, np.inf)
    if valid[:-1].any():
        score[-1] = np.inf
    return score


__all__ = ["StepOptions", "option_scores", "step_options", "upgrade_pairs"]
