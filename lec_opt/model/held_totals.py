"""The MILP with every peer's P2P total held at a relaxation's (models/FORMULATION.md §4,
"Levels with a minimum trade", step 3(f)).

Level 1 (Σx = Σ_i sold_i) and priority C's level 3 (Σ (bid_j − ask_i) x_ij = Σ_j bid_j bought_j −
Σ_i ask_i sold_i) depend on each peer's P2P total only: flows of at least m on the relaxation's own
totals have the relaxation's value, its bound, and are optimal. Such trades are searched for
without a solve first (``lec_opt.model.totals_search``); else the totals are held by fixing each
peer's other columns (CES, export, grid), which only adds bounds to the MILP, and HiGHS searches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lec_opt.model import rounding
from lec_opt.model.level_solver import GAP_EQUAL, LevelFailed
from lec_opt.model.small_trades import breaks_minimum
from lec_opt.model.totals_search import flows_on_totals

if TYPE_CHECKING:
    from lec_opt.model.min_trade import MinTradeLevels

SEPARABLE = ("p2p", "priority_c")  # objectives of the peers' totals only
TOTAL_ROUNDS = 3  # relaxations solved again to clear peer totals in (0, m)


def peer_totals(semi: MinTradeLevels, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each seller's and each buyer's P2P total in ``x``."""
    flows = semi.flows_of(x)
    sold = np.bincount(semi.pairs.seller, weights=flows, minlength=len(semi.snap.sellers))
    bought = np.bincount(semi.pairs.buyer, weights=flows, minlength=len(semi.snap.buyers))
    return sold, bought


def on_totals(semi: MinTradeLevels, point: np.ndarray, name: str) -> np.ndarray | None:
    """``point`` with its flows replaced by trades of at least m on its own peer totals
    (``flows_on_totals``, no solve), or None if none is found or the point breaks a row."""
    sold, bought = peer_totals(semi, point)
    _, _, _, allowed, cost, _ = rounding.repair_args(semi, name)
    cost = None if name in SEPARABLE else cost  # any flows on the totals have the same value there
    flows = flows_on_totals(sold, bought, semi.pairs, allowed, semi.min_trade, cost)
    if flows is None:
        return None
    found = semi.consistent(flows, point)  # y, W of ``point`` set from these flows too
    return found if semi.is_point(found) else None


def with_totals(
    semi: MinTradeLevels,
    relaxed_x: np.ndarray,
    level: int,
    name: str,
    limit: float,
    gap: float,
    node_limit: int,
    totals_tried: bool = False,
) -> tuple[np.ndarray | None, float]:
    """The MILP with every peer's P2P total held at a relaxation's; (solution or None, HiGHS s).

    A total in (0, m) cannot be made of trades of at least m: such peers' other columns are
    bounded so that they trade at least m (no CES flow, grid or export at most their energy less
    m) and the relaxation solved again, or, if that is infeasible, they are closed (every pair
    fixed to 0), up to ``TOTAL_ROUNDS`` rounds. Then trades on that relaxation's totals are searched
    for (``on_totals``); if none is found, the totals are held by fixing each peer's other columns at
    that relaxation's values and HiGHS searches (``totals_tried``: ``on_totals`` has already failed
    on ``relaxed_x`` itself). Every step only adds bounds: a sub-problem of the MILP, so any answer
    is feasible for it. For an objective that depends on the totals only (``SEPARABLE``) an answer
    on the relaxation's own totals attains its bound.
    """
    solver, m, pairs = semi.solver, semi.solver.m, semi.pairs
    others = [solver.cols(v) for v in (m.seller_to_ces, m.seller_export, m.ces_to_buyer, m.grid_to_buyer)]
    of_seller, of_buyer = np.stack(others[:2]), np.stack(others[2:])  # (2, peers) each
    highs_seconds = 0.0
    point = relaxed_x
    try:
        with solver.restored() as changed:
            with semi.relaxed():
                for rounds in range(TOTAL_ROUNDS + 1):
                    sold, bought = peer_totals(semi, point)
                    small_s, small_b = breaks_minimum(sold, semi.min_trade), breaks_minimum(bought, semi.min_trade)
                    if not (small_s.any() or small_b.any()):
                        break
                    if rounds == TOTAL_ROUNDS:
                        return None, highs_seconds
                    raised: list[np.ndarray] = []
                    for (ces, grid), small, energy in (
                        (of_seller, small_s, semi.snap.surplus_kwh),
                        (of_buyer, small_b, semi.snap.deficit_kwh),
                    ):
                        ces, grid, left = ces[small], grid[small], energy[small] - semi.min_trade
                        solver.fix(ces[ces >= 0], 0.0)
                        grid, left = grid[grid >= 0], left[grid >= 0]
                        solver.set_bounds(grid, solver.col_lower[grid], np.maximum(left, 0.0))
                        raised += [ces[ces >= 0], grid]
                    changed += raised
                    try:
                        record = solver.solve(level, name, limit, gap)
                    except LevelFailed:  # they cannot all trade m: closed instead
                        for cols in raised:
                            solver.unfix(cols)
                        closing = semi.x[(small_s[pairs.seller] | small_b[pairs.buyer]) & ~semi.never]
                        solver.fix(closing, 0.0)
                        changed.append(closing)
                        record = solver.solve(level, name, limit, gap)
                    highs_seconds += record.highs_seconds or 0.0
                    point = solver.x.copy()
            found = None if point is relaxed_x and totals_tried else on_totals(semi, point, name)
            if found is not None:
                return found, highs_seconds
            held = np.concatenate([c[c >= 0] for c in others])
            solver.fix(held, point[held])
            changed.append(held)
            record = solver.solve(level, name, limit, gap, node_limit=node_limit, abs_gap=GAP_EQUAL)
            return solver.x.copy(), highs_seconds + (record.highs_seconds or 0.0)
    except LevelFailed:
        return None, highs_seconds
