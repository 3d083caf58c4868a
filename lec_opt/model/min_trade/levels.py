"""The driver of the minimum-trade levels: one level's steps in order, until a point is within the
accepted gap of the bound (models/FORMULATION.md §4, "Levels with a minimum trade").

``start`` runs the steps on flows only (the levels of the peers' totals on nested pairs, the
relaxation, the candidates repaired from it), ``incumbent`` the sub-MILPs and the held totals, and
``MinTradeLevels.solve`` accepts the best candidate or hands it to the node-limited searches
(``lec_opt.model.min_trade.node_search``). Within ``mip_gap`` of the bound: optimal; within
``ACCEPT_GAP``: the answer, with its proven gap (only above ``EXACT_PAIRS`` open pairs: a smaller
model is searched to mip_gap). The record carries the answer, the bound and the gap.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from lec_opt.market.pairs import PairData
from lec_opt.market.result import LevelRecord, LevelStatus, Status
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.level4 import share_ces
from lec_opt.model.level_solver import LevelSolver, relative_gap
from lec_opt.model.min_trade.carry_over import NeedsLinks, Started, carry_over, named_columns
from lec_opt.model.min_trade.context import SEPARABLE, Incumbent, LevelTask, MinTradeContext
from lec_opt.model.min_trade.local_moves import polished
from lec_opt.model.min_trade.neighbourhood import around, neighbourhood
from lec_opt.model.min_trade.nested_totals import nested_volume, on_chain
from lec_opt.model.min_trade.node_search import search
from lec_opt.model.min_trade.peer_totals import on_totals, with_totals
from lec_opt.model.min_trade.relaxation_repair import lp_rounds, on_local_totals, rounded, sparse_vertex
from lec_opt.model.min_trade.small_trades import breaks_minimum
from lec_opt.model.min_trade.window_sweep import windowed
from lec_opt.model.sources import Origin, Source

ACCEPT_GAP = 0.01  # a level is answered once its incumbent is proven within 1 % of its bound
EXACT_PAIRS = 400  # up to this many open pairs the search is cheap: no 1 % acceptance, mip_gap only

Found = list[tuple[Origin, np.ndarray]]


def _from_relaxation(
    ctx: MinTradeContext, task: LevelTask, bound: float, flows: np.ndarray, relaxed_x: np.ndarray, before: np.ndarray
) -> tuple[Found, bool, float]:
    """Steps 3(a)-(c) and (f)'s search without a solver from the relaxation (``flows``, ``relaxed_x``),
    cheapest first until one is within the accepted gap of ``bound``: the relaxation repaired, on its
    small trades' peers' totals, the sparse vertex, on its own peer totals, with the trades before
    this level kept, LP rounds; (the candidates, whether the peer totals were tried, HiGHS s).
    Inside ``relaxed``."""
    name, accept = task.name, task.accept
    within = lambda x, g: ctx.within(name, x, bound, g)  # noqa: E731
    found: Found = []
    highs_seconds = 0.0
    repaired = rounded(ctx, name, flows, relaxed_x)
    if repaired is not None:
        found.append((Origin(Source.ROUNDED), repaired))
    if not any(within(x, accept) for _, x in found):
        local = on_local_totals(ctx, name, flows, relaxed_x)
        if local is not None:
            found.append((Origin(Source.LOCAL_TOTALS), local))
    if task.level >= 3 and name not in SEPARABLE and not any(within(x, accept) for _, x in found):
        sparse, hs = sparse_vertex(ctx, task, bound)
        highs_seconds += hs
        if sparse is not None:
            found.append((Origin(Source.SPARSE), sparse))
    totals_tried = not any(within(x, task.gap if name in SEPARABLE else accept) for _, x in found)
    if totals_tried:  # optimal for the objectives of the totals; else polished by the local moves
        on_own = on_totals(ctx, relaxed_x, name)
        if on_own is not None:
            found.append((Origin(Source.ON_TOTALS), on_own if name in SEPARABLE else polished(ctx, name, on_own)))
    previous = ctx.flows_of(before)
    if not any(within(x, accept) for _, x in found) and not breaks_minimum(previous, ctx.min_trade).any():
        kept, hs = ctx.with_trades(previous, task)
        highs_seconds += hs
        if kept is not None:
            found.append((Origin(Source.TRADES_BEFORE), kept))
    if not any(within(x, accept) for _, x in found):
        lp_point, hs = lp_rounds(ctx, task, relaxed_x)
        highs_seconds += hs
        if lp_point is not None:
            found.append((Origin(Source.LP_ROUNDS), polished(ctx, name, lp_point)))
    return found, totals_tried, highs_seconds


def start(ctx: MinTradeContext, task: LevelTask, greedy: np.ndarray | None) -> Started | LevelRecord:
    """The steps on flows only: the levels of the peers' totals on nested pairs (a record when one
    answers the level), the relaxation (a record when it meets the minimum), the candidates from it
    (``_from_relaxation``), the previous and greedy points, and at level 3 the windows."""
    solver, name = ctx.solver, task.name
    before = solver.x.copy()
    if name == "p2p":
        nested = nested_volume(ctx, task)
        if nested is not None:
            return nested
    chain_bound = None
    if name in SEPARABLE:
        chained, chain_bound = on_chain(ctx, task)
        if chained is not None:
            return chained
    with ctx.relaxed():
        relaxation = solver.solve(task.level, name, task.limit, task.gap)  # LevelFailed: nothing keeps the levels
        bound = relaxation.bound if chain_bound is None else min(relaxation.bound, chain_bound)
        flows = ctx.flows_of(solver.x)
        if not breaks_minimum(flows, ctx.min_trade).any():
            solver.keep(ctx.consistent(flows, solver.x.copy()))
            return relaxation.then(": the relaxation meets the minimum trade")
        relaxed_x = solver.x.copy()
        found, totals_tried, hs = _from_relaxation(ctx, task, bound, flows, relaxed_x, before)
    started = Started(name, bound, flows, relaxed_x, [], totals_tried, 0.0, (relaxation.highs_seconds or 0.0) + hs)
    candidates = started.candidates
    for source, x in found:
        candidates.append((source, ctx.consistent(ctx.flows_of(x), x)))
    previous = ctx.flows_of(before)
    if not breaks_minimum(previous, ctx.min_trade).any():
        candidates.append((Origin(Source.PREVIOUS), ctx.consistent(previous, before)))
    if greedy is not None:  # the CES of the relaxation, shared over what each peer has left
        shared = share_ces(solver, ctx.snap, ctx.pairs, greedy, relaxed_x.copy())
        candidates.append((Origin(Source.GREEDY), ctx.consistent(greedy, shared)))
    if task.level >= 3 and task.accept > task.gap:  # improved window by window (a small model is searched exactly)
        improved, hs = windowed(ctx, task, candidates, bound)
        started.highs_seconds += hs
        candidates += improved
    return started


def incumbent(ctx: MinTradeContext, task: LevelTask, started: Started) -> tuple[Incumbent, bool]:
    """Steps 3(d)-(f) until a candidate is within the accepted gap: the sub-MILPs around the
    relaxation's trades, the local moves on the candidates without them, the MILP with the peers'
    totals held, at level 3 the sub-MILP with the relaxation's trades free; the best point of the
    MILP among the candidates (or none: the relaxation's point, no value), and whether that last
    sub-MILP ran."""
    solver, name, level = ctx.solver, task.name, task.level
    bound, flows, candidates = started.bound, started.flows, started.candidates
    highs_seconds = started.highs_seconds
    accepted = lambda x: ctx.within(name, x, bound, task.accept)  # noqa: E731
    for force in (True, False) if level < 3 else (True,):  # level 3: the free one only in ``around``
        if any(accepted(x) for _, x in candidates):
            break
        near, hs = neighbourhood(ctx, task, flows, task.gap if level < 3 else task.accept, force)
        highs_seconds += hs
        if near is not None:
            candidates.append((Origin(Source.AROUND_KEPT if force else Source.AROUND), polished(ctx, name, near)))
    candidates = [(source, x) for source, x in candidates if ctx.is_point(x)]
    if not any(accepted(x) for _, x in candidates):  # the local moves on the candidates that had none yet
        candidates = [(source, polished(ctx, name, x) if source.unmoved else x) for source, x in candidates]
    if name in SEPARABLE and not any(accepted(x) for _, x in candidates):
        held, hs = with_totals(ctx, task, started.relaxed_x, started.totals_tried)
        highs_seconds += hs
        if held is not None and ctx.is_point(held):
            candidates.append((Origin(Source.HELD_TOTALS), held))
    around_tried = False  # level 3: the sub-MILP with the relaxation's trades free, once
    if level >= 3 and name in SEPARABLE and not any(accepted(x) for _, x in candidates):
        around_tried = True  # after the held totals, before the searches (models/FORMULATION.md §4)
        near, hs = around(ctx, task, flows)
        highs_seconds += hs
        if near is not None:
            candidates.append((Origin(Source.AROUND), near))
    if candidates:
        source, best = max(candidates, key=lambda c: ctx.sign(name) * solver.objective(name, c[1]))
        now = Incumbent(best, solver.objective(name, best), bound, Status(LevelStatus.INCUMBENT, f" {source}"))
    else:  # the search starts from nothing
        now = Incumbent(started.relaxed_x, None, bound, Status(LevelStatus.NO_INCUMBENT))
    now.highs_seconds = highs_seconds
    return now, around_tried


class MinTradeLevels:
    """The semi-continuous levels of one interval model (``solve`` one level at a time), over their
    ``MinTradeContext``. ``carried``: where a level got on the model without linking rows
    (``NeedsLinks.started``); the model with linking rows goes on from there."""

    def __init__(
        self,
        solver: LevelSolver,
        snap: IntervalSnapshot,
        pairs: PairData,
        min_trade: float,
        carried: Started | None = None,
    ):
        self.ctx = MinTradeContext(solver, snap, pairs, min_trade)
        self.min_trade = min_trade
        self.carried = carried

    def price_rule(self, on: bool) -> None:
        """Priority C's rule on or off (``MinTradeContext.price_rule``)."""
        self.ctx.price_rule(on)

    def solve(
        self, level: int, name: str, limit: float, gap: float, greedy: np.ndarray | None
    ) -> LevelRecord | NeedsLinks:
        """Level ``level`` (objective ``obj_<name>``) with the minimum; its answer left in the solver.

        ``greedy``: the greedy matching's flows in pair order (None if not a candidate). Every
        incumbent is checked against every row, bound and integrality of the MILP as HiGHS holds it
        (the levels kept so far included) before it may count. Without the linking rows, a level no
        point on flows only answers within the accepted gap returns ``NeedsLinks``.
        """
        ctx, solver = self.ctx, self.ctx.solver
        t0, earlier = time.perf_counter(), 0.0  # the level's wall time, its own steps' too
        accept = gap if ctx.open_pairs <= EXACT_PAIRS else max(gap, ACCEPT_GAP)
        task = LevelTask(level, name, limit, gap, accept)
        if self.carried is not None and self.carried.name == name:
            started, self.carried = carry_over(ctx, self.carried), None
            earlier = started.seconds  # spent on the model without linking rows
        else:
            started = start(ctx, task, greedy)
            if isinstance(started, LevelRecord):
                return replace(started, seconds=time.perf_counter() - t0)
        if not ctx.linked and not any(
            ctx.within(name, x, started.bound, accept) and ctx.is_point(x) for _, x in started.candidates
        ):
            wall = time.perf_counter() - t0  # the steps below search the MILP
            return NeedsLinks(replace(started, seconds=wall, columns=named_columns(solver)))
        now, around_tried = incumbent(ctx, task, started)
        solver.keep(now.best)
        if now.within(gap):
            now.status = Status(LevelStatus.OPTIMAL, f": {now.status} within mip_gap of the relaxation's bound")
        elif now.within(accept):
            now.status = now.status.then(f", proven within {accept:.0%} of the relaxation's bound")
        else:
            search(ctx, task, started.flows, now, around_tried)
        wall = earlier + time.perf_counter() - t0
        return LevelRecord(
            level, name, now.status, now.value, now.bound, relative_gap(now.value, now.bound), wall, now.highs_seconds
        )
