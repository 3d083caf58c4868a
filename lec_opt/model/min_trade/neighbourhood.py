"""Sub-MILPs around the relaxation's trades (models/FORMULATION.md §4, "Levels with a minimum
trade", step 3(d)).

Every pair of a peer with a flow in (0, m) is free (its y binary); the pairs whose flow meets the
minimum stay open (``force``: y = 1, x >= m) or free; every other pair is closed. A sub-problem of
the MILP, so any answer is feasible for it; each search is limited by ``NODE_LIMIT`` nodes.
"""

from __future__ import annotations

import numpy as np

from lec_opt.market.pairs import BELOW
from lec_opt.model.level_solver import GAP_EQUAL, LevelFailed
from lec_opt.model.min_trade.context import NODE_LIMIT, REACH_SHARE, LevelTask, MinTradeContext
from lec_opt.model.min_trade.local_moves import polished
from lec_opt.model.min_trade.small_trades import breaks_minimum


def neighbourhood(
    ctx: MinTradeContext, task: LevelTask, flows: np.ndarray, gap: float, force: bool
) -> tuple[np.ndarray | None, float]:
    """The MILP restricted around the relaxation ``flows``, searched to relative ``gap``;
    (solution or None, HiGHS s).

    At level 3 it is searched only if it frees at most ``REACH_SHARE`` of the open pairs (else
    (None, 0)): a larger one costs about what the search of the whole MILP does.
    """
    solver, m, pairs = ctx.solver, ctx.min_trade, ctx.pairs
    small = breaks_minimum(flows, m)
    support = (flows >= m - BELOW) & ~ctx.never
    keep = support if force else np.zeros_like(support)
    sellers = np.zeros(len(ctx.snap.sellers), dtype=bool)
    buyers = np.zeros(len(ctx.snap.buyers), dtype=bool)
    sellers[pairs.seller[small]] = True
    buyers[pairs.buyer[small]] = True
    free = ((sellers[pairs.seller] | buyers[pairs.buyer]) | support) & ~keep & ~ctx.never
    closed = ~keep & ~free & ~ctx.never
    if task.level >= 3 and np.count_nonzero(free) > REACH_SHARE * np.count_nonzero(~ctx.never):
        return None, 0.0
    changed = keep | closed
    try:
        with solver.restored(ctx.x[changed], ctx.y[changed]):
            solver.fix(ctx.y[keep], 1.0)
            solver.set_bounds(ctx.x[keep], m)
            solver.fix(ctx.x[closed], 0.0)
            solver.fix(ctx.y[closed], 0.0)
            record = solver.solve(task.level, task.name, task.limit, gap, node_limit=NODE_LIMIT, abs_gap=GAP_EQUAL)
        return solver.x.copy(), record.highs_seconds or 0.0
    except LevelFailed:
        return None, 0.0


def around(ctx: MinTradeContext, task: LevelTask, flows: np.ndarray) -> tuple[np.ndarray | None, float]:
    """The sub-MILP around the relaxation ``flows`` with its trades free, searched to the accepted
    gap, its answer polished by the local moves; (a point of the MILP or None, HiGHS s)."""
    near, hs = neighbourhood(ctx, task, flows, task.accept, False)
    if near is None or not ctx.is_point(near):
        return None, hs
    return polished(ctx, task.name, near), hs
