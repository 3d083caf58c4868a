"""Trades on the peers' totals, and the MILP with every peer's P2P total held at a relaxation's
(models/FORMULATION.md §4, "Levels with a minimum trade", step 3(f)).

Level 1 (Σx = Σ_i sold_i) and priority C's level 3 (Σ (bid_j − ask_i) x_ij = Σ_j bid_j bought_j −
Σ_i ask_i sold_i) depend on each peer's P2P total only (``SEPARABLE``): flows of at least m on the
relaxation's own totals have the relaxation's value, its bound, and are optimal. ``on_totals``
searches such trades without a solve (``lec_opt.model.min_trade.totals_search``); ``with_totals``
holds the totals by fixing each peer's other columns (CES, export, grid), which only adds bounds to
the MILP, and HiGHS searches.
"""

from __future__ import annotations

import numpy as np

from lec_opt.model.level_solver import GAP_EQUAL, LevelFailed
from lec_opt.model.min_trade.context import NODE_LIMIT, SEPARABLE, LevelTask, MinTradeContext
from lec_opt.model.min_trade.small_trades import breaks_minimum
from lec_opt.model.min_trade.totals_search import flows_on_totals

TOTAL_ROUNDS = 3  # relaxations solved again to clear peer totals in (0, m)


def on_totals(ctx: MinTradeContext, point: np.ndarray, name: str) -> np.ndarray | None:
    """``point`` with its flows replaced by trades of at least m on its own peer totals
    (``flows_on_totals``, no solve), or None if none is found or the point breaks a row. When
    found, ``point``'s own flows and y, W are set to them too."""
    sold, bought = ctx.peer_totals(point)
    _, _, _, allowed, cost, _ = ctx.repair_args(name)
    cost = None if name in SEPARABLE else cost  # any flows on the totals have the same value there
    flows = flows_on_totals(sold, bought, ctx.pairs, allowed, ctx.min_trade, cost)
    if flows is None:
        return None
    found = ctx.consistent(flows, point)  # y, W of ``point`` set from these flows too
    return found if ctx.is_point(found) else None


def _other_columns(ctx: MinTradeContext) -> list[np.ndarray]:
    """Each peer's columns besides its trades: seller to CES, seller export, CES to buyer, grid to buyer."""
    m = ctx.solver.m
    return [ctx.solver.cols(v) for v in (m.seller_to_ces, m.seller_export, m.ces_to_buyer, m.grid_to_buyer)]


def _totals_of_at_least_m(
    ctx: MinTradeContext, task: LevelTask, relaxed_x: np.ndarray, changed: list[np.ndarray]
) -> tuple[np.ndarray | None, float]:
    """The relaxation solved again until no peer's total lies in (0, m), up to ``TOTAL_ROUNDS``
    rounds; (its point, None if the rounds ran out; HiGHS s). Such peers' other columns are bounded
    so that they trade at least m (no CES flow, grid or export at most their energy less m), or,
    if that is infeasible, their pairs closed (None if that fails too); every changed column is
    appended to ``changed``."""
    solver, pairs = ctx.solver, ctx.pairs
    others = _other_columns(ctx)
    of_seller, of_buyer = np.stack(others[:2]), np.stack(others[2:])  # (2, peers) each
    highs_seconds, point = 0.0, relaxed_x
    for rounds in range(TOTAL_ROUNDS + 1):
        sold, bought = ctx.peer_totals(point)
        small_s, small_b = breaks_minimum(sold, ctx.min_trade), breaks_minimum(bought, ctx.min_trade)
        if not (small_s.any() or small_b.any()):
            break
        if rounds == TOTAL_ROUNDS:
            return None, highs_seconds
        raised: list[np.ndarray] = []
        for (ces, grid), small, energy in (
            (of_seller, small_s, ctx.snap.surplus_kwh),
            (of_buyer, small_b, ctx.snap.deficit_kwh),
        ):
            ces, grid, left = ces[small], grid[small], energy[small] - ctx.min_trade
            solver.fix(ces[ces >= 0], 0.0)
            grid, left = grid[grid >= 0], left[grid >= 0]
            solver.set_bounds(grid, solver.col_lower[grid], np.maximum(left, 0.0))
            raised += [ces[ces >= 0], grid]
        changed += raised
        try:
            record = solver.solve(task.level, task.name, task.limit, task.gap)
        except LevelFailed:  # they cannot all trade m: closed instead
            for cols in raised:
                solver.unfix(cols)
            closing = ctx.x[(small_s[pairs.seller] | small_b[pairs.buyer]) & ~ctx.never]
            solver.fix(closing, 0.0)
            changed.append(closing)
            try:
                record = solver.solve(task.level, task.name, task.limit, task.gap)
            except LevelFailed:
                return None, highs_seconds
        highs_seconds += record.highs_seconds or 0.0
        point = solver.x.copy()
    return point, highs_seconds


def with_totals(
    ctx: MinTradeContext,
    task: LevelTask,
    relaxed_x: np.ndarray,
    totals_tried: bool = False,
    node_limit: int = NODE_LIMIT,
) -> tuple[np.ndarray | None, float]:
    """The MILP with every peer's P2P total held at a relaxation's; (solution or None, HiGHS s).

    First the relaxation without peer totals in (0, m) (``_totals_of_at_least_m``); then trades on
    its totals (``on_totals``; ``totals_tried``: already failed on ``relaxed_x`` itself); if none
    is found, the totals are held by fixing each peer's other columns at that relaxation's values
    and HiGHS searches, limited to ``node_limit`` nodes. Every step only adds bounds: a sub-problem
    of the MILP, so any answer is feasible for it. For an objective that depends on the totals only
    (``SEPARABLE``) an answer on the relaxation's own totals attains its bound.
    """
    solver = ctx.solver
    highs_seconds = 0.0
    try:
        with solver.restored() as changed:
            with ctx.relaxed():
                point, highs_seconds = _totals_of_at_least_m(ctx, task, relaxed_x, changed)
            if point is None:
                return None, highs_seconds
            found = None if point is relaxed_x and totals_tried else on_totals(ctx, point, task.name)
            if found is not None:
                return found, highs_seconds
            held = np.concatenate([c[c >= 0] for c in _other_columns(ctx)])
            solver.fix(held, point[held])
            changed.append(held)
            record = solver.solve(task.level, task.name, task.limit, task.gap, node_limit=node_limit, abs_gap=GAP_EQUAL)
            return solver.x.copy(), highs_seconds + (record.highs_seconds or 0.0)
    except LevelFailed:
        return None, highs_seconds
