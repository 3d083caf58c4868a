"""A relaxation's flows repaired into points of the MILP (models/FORMULATION.md §4, "Levels with a
minimum trade", steps 3(a)-(c)).

- ``rounded``: the relaxation's small trades moved onto their peers' trades
  (``lec_opt.model.min_trade.small_trades``), then the local moves; no solve.
- ``on_local_totals``: the trades among the small trades' peers searched again on those peers'
  totals (``lec_opt.model.min_trade.totals_search``), then the local moves; no solve.
- ``sparse_vertex``: the vertex of the fewest and largest flows near the relaxation's bound, rounded.
- ``lp_rounds``: LP rounds on the repaired trades, each kept >= m, every other pair closed.

Each point's CES totals are shared over what each peer has left, and a point counts only if it
meets every row HiGHS holds.
"""

from __future__ import annotations

import numpy as np

from lec_opt.model.level_solver import LOOSE, LevelFailed, relative_gap
from lec_opt.model.min_trade.context import LevelTask, MinTradeContext
from lec_opt.model.min_trade.local_moves import moved
from lec_opt.model.min_trade.small_trades import breaks_minimum, repair_small_trades
from lec_opt.model.min_trade.totals_search import local_flows_on_totals
from lec_opt.model.tolerances import FLOW_EPS

REPAIR_ROUNDS = 5  # LP rounds of one level at most, each two LPs
SPARSE_SHARE = 0.3  # the sparse vertex may lose this share of the accepted gap


def rounded(ctx: MinTradeContext, name: str, flows: np.ndarray, ces_of: np.ndarray) -> np.ndarray | None:
    """The relaxation's ``flows`` with their small trades moved onto their peers' trades
    (``repair_small_trades``; no solve), then ``moved`` with the CES totals of ``ces_of``; None if
    the repair fails."""
    args = ctx.repair_args(name)
    repaired = repair_small_trades(flows, *args)
    return None if repaired is None else moved(ctx, repaired, args, ces_of)


def on_local_totals(ctx: MinTradeContext, name: str, flows: np.ndarray, ces_of: np.ndarray) -> np.ndarray | None:
    """The relaxation's ``flows`` with the trades among its small trades' peers searched again on
    those peers' totals (``local_flows_on_totals``, cheapest pairs first; no solve), then ``moved``;
    None if that fails. Every peer keeps its total: the CES and grid columns stay as they are (``ces_of``'s)."""
    pairs, surplus, deficit, allowed, cost, m = args = ctx.repair_args(name)
    local = local_flows_on_totals(flows, pairs, allowed, m, cost, (surplus, deficit))
    return None if local is None else moved(ctx, local, args, ces_of)


def lp_rounds(ctx: MinTradeContext, task: LevelTask, start: np.ndarray) -> tuple[np.ndarray | None, float]:
    """The small trades of ``start`` (the relaxation's answer) moved onto their peers' trades
    (``repair_small_trades``), then the LP over the trades that remain, each kept >= m, every other
    pair closed; (solution or None, HiGHS s).

    Called in the relaxed state. Every step only adds bounds to the MILP, so the answer is MILP-feasible.
    """
    solver, name = ctx.solver, task.name
    args = ctx.repair_args(name)
    highs_seconds = 0.0
    best = None
    sign = ctx.sign(name)
    point = start
    with ctx.modes_fixed(start):
        for _ in range(REPAIR_ROUNDS):
            flows = repair_small_trades(ctx.flows_of(point), *args)
            if flows is None:
                break
            trades = flows > FLOW_EPS
            others = ~trades & ~ctx.never
            try:
                with solver.restored(ctx.x[~ctx.never]):
                    solver.set_bounds(ctx.x[trades], ctx.min_trade)
                    solver.fix(ctx.x[others], 0.0)  # the best point on these trades: MILP-feasible
                    record = solver.solve(task.level, name, task.limit, task.gap)
                    highs_seconds += record.highs_seconds or 0.0
                    if best is None or sign * solver.objective(name) > sign * solver.objective(name, best):
                        best = solver.x.copy()
                    solver.unfix(ctx.x[others])  # the other pairs open again: a better point with new small trades?
                    again = solver.solve(task.level, name, task.limit, task.gap)
                    highs_seconds += again.highs_seconds or 0.0
            except LevelFailed:
                break
            point = solver.x
            if not breaks_minimum(ctx.flows_of(point), ctx.min_trade).any():
                best = point.copy()  # the LP over every pair kept the minimum: no better point here
                break
            if (relative_gap(solver.objective(name, best), solver.objective(name)) or 0.0) <= task.gap:
                break
    return best, highs_seconds


def sparse_vertex(ctx: MinTradeContext, task: LevelTask, bound: float) -> tuple[np.ndarray | None, float]:
    """Within ``SPARSE_SHARE`` of the accepted gap of the relaxation's ``bound``, the vertex of the
    fewest and largest flows (min Σ x / min(s_i, r_j), level 4's relaxation), rounded as in
    ``rounded``; (a point of the MILP or None, HiGHS s). Called in the relaxed state."""
    solver, name = ctx.solver, task.name
    row = getattr(solver.m, f"level_{name}", None)
    if row is None:
        return None, 0.0
    maximise = solver.maximise[f"obj_{name}"]
    slack = SPARSE_SHARE * task.accept * abs(bound)
    solver.set_bound(row, bound - slack if maximise else bound + slack)
    try:
        record = solver.solve(task.level, "transactions_relaxed", task.limit, 0.0)
    except LevelFailed:
        return None, 0.0
    finally:
        solver.set_bound(row, -LOOSE if maximise else LOOSE)
    vertex = solver.x
    return rounded(ctx, name, ctx.flows_of(vertex), vertex), record.highs_seconds or 0.0
