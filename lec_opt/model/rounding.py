"""A relaxation's flows rounded into points of the MILP, and points of the MILP improved, with
little or no solving (models/FORMULATION.md §4, "Levels with a minimum trade", steps 3(a), 3(c)).

``rounded``: the small trades repaired (``lec_opt.model.small_trades``) and the trades improved by
local moves (``lec_opt.model.trade_moves``), no solve; ``polished``: the local moves on any point;
``lp_rounds``: LP rounds on the repaired trades. Each point's CES totals are shared over what each
peer has left, and a point counts only if it meets every row HiGHS holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lec_opt.market.pairs import allowed_pairs
from lec_opt.model.level4 import FLOW_EPS, share_ces
from lec_opt.model.level_solver import LOOSE, LevelFailed, relative_gap
from lec_opt.model.reach import bound_target
from lec_opt.model.small_trades import breaks_minimum, repair_small_trades
from lec_opt.model.sources import Origin
from lec_opt.model.totals_search import local_flows_on_totals
from lec_opt.model.trade_moves import improve_trades
from lec_opt.model.trade_windows import improve_by_windows

if TYPE_CHECKING:
    from lec_opt.model.min_trade import MinTradeLevels

REPAIR_ROUNDS = 5  # LP rounds of one level at most, each two LPs
WINDOW_STARTS = 2  # candidates a window sweep starts from, the next only when the one before improved nothing


def repair_args(semi: MinTradeLevels, name: str) -> tuple:
    """What a repair and the local moves need after the flows: pairs, energies, the allowed
    pairs and the level's cost per kWh of each pair, to be minimised."""
    solver = semi.solver
    sign = 1.0 if solver.maximise[f"obj_{name}"] else -1.0
    allowed = allowed_pairs(semi.snap, semi.pairs, semi.price_pairs) & ~semi.never
    cost = -sign * solver.cost[f"obj_{name}"][semi.x]
    return semi.pairs, semi.snap.surplus_kwh, semi.snap.deficit_kwh, allowed, cost, semi.min_trade


def rounded(semi: MinTradeLevels, name: str, flows: np.ndarray, ces_of: np.ndarray) -> np.ndarray | None:
    """The relaxation's ``flows`` with their small trades moved onto their peers' trades
    (``repair_small_trades``; no solve), then ``moved`` with the CES totals of ``ces_of``; None if
    the repair fails."""
    args = repair_args(semi, name)
    repaired = repair_small_trades(flows, *args)
    return None if repaired is None else moved(semi, repaired, args, ces_of)


def on_local_totals(semi: MinTradeLevels, name: str, flows: np.ndarray, ces_of: np.ndarray) -> np.ndarray | None:
    """The relaxation's ``flows`` with the trades among its small trades' peers searched again on
    those peers' totals (``local_flows_on_totals``, cheapest pairs first; no solve), then ``moved``;
    None if that fails. Every peer keeps its total: the CES and grid columns stay as they are (``ces_of``'s)."""
    pairs, surplus, deficit, allowed, cost, m = args = repair_args(semi, name)
    local = local_flows_on_totals(flows, pairs, allowed, m, cost, (surplus, deficit))
    return None if local is None else moved(semi, local, args, ces_of)


def polished(semi: MinTradeLevels, name: str, point: np.ndarray) -> np.ndarray:
    """A point of the MILP after the local moves (``moved``, its own CES totals shared), if that
    is better for the level; else the point itself."""
    solver = semi.solver
    better = moved(semi, semi.flows_of(point), repair_args(semi, name), point)
    sign = 1.0 if solver.maximise[f"obj_{name}"] else -1.0
    if better is None or sign * solver.objective(name, better) <= sign * solver.objective(name, point) + 1e-12:
        return point
    return better


def windowed(
    semi: MinTradeLevels,
    name: str,
    candidates: list[tuple[Origin, np.ndarray]],
    bound: float,
    accept: float,
    limit: float,
) -> tuple[list[tuple[Origin, np.ndarray]], float]:
    """When no feasible candidate is within ``accept`` of ``bound``: the best one (polished first if
    the local moves have not improved it yet, ``Origin.unmoved``) with its trades improved window by window (``improve_by_windows``)
    until it is, then ``moved``; if the windows improve nothing, the next best one likewise (up to
    ``WINDOW_STARTS`` starts); ([(source, point)] of each start, [] if none is feasible; HiGHS s)."""
    solver = semi.solver
    key = f"obj_{name}"
    sign = 1.0 if solver.maximise[key] else -1.0
    within = lambda x: (relative_gap(solver.objective(name, x), bound) or 0.0) <= accept  # noqa: E731
    feasible = [(source, x) for source, x in candidates if semi.is_point(x)]
    if not feasible or any(within(x) for _, x in feasible):
        return [], 0.0
    feasible.sort(key=lambda c: -sign * solver.objective(name, c[1]))  # stable: the earlier source first on ties
    pairs, surplus, deficit, allowed, cost, m = args = repair_args(semi, name)
    target = -sign * (bound_target(bound, accept, sign > 0) - solver.cost_offset[key])  # in Σ cost·x
    options = solver.options | {"time_limit": limit}
    improved, seconds = [], 0.0
    for source, point in feasible[:WINDOW_STARTS]:
        point = polished(semi, name, point) if source.unmoved else point
        stalled = False
        if not within(point):
            flows, s = improve_by_windows(
                semi.flows_of(point), pairs, (surplus, deficit), allowed, cost, m, target, options
            )
            seconds += s
            better = moved(semi, flows, args, point)
            stalled = (
                better is None or sign * solver.objective(name, better) <= sign * solver.objective(name, point) + 1e-12
            )
            point = point if better is None else better
        improved.append((source.then(", improved window by window"), point))
        if within(point) or not stalled:  # a sweep that moved its start is followed by the search
            break
    return improved, seconds


def moved(semi: MinTradeLevels, flows: np.ndarray, args: tuple, ces_of: np.ndarray) -> np.ndarray | None:
    """``flows`` (which keep the minimum) improved by local moves (``improve_trades``), with the
    CES totals of ``ces_of`` shared over what each peer has left: a point of the MILP, or None if it
    breaks a row. ``ces_of`` is not changed (the point is built on a copy)."""
    improved = improve_trades(flows, *args)
    shared = share_ces(semi.solver, semi.snap, semi.pairs, improved, ces_of.copy())
    point = semi.consistent(improved, shared)
    return point if semi.is_point(point) else None


def lp_rounds(
    semi: MinTradeLevels, level: int, name: str, limit: float, gap: float, start: np.ndarray
) -> tuple[np.ndarray | None, float]:
    """The small trades of ``start`` (the relaxation's answer) moved onto their peers' trades
    (``repair_small_trades``), then the LP over the trades that remain, each kept >= m, every other
    pair closed; (solution or None, HiGHS s).

    Called in the relaxed state. Every step only adds bounds to the MILP, so the answer is MILP-feasible.
    """
    solver = semi.solver
    args = repair_args(semi, name)
    highs_seconds = 0.0
    best = None
    sign = 1.0 if solver.maximise[f"obj_{name}"] else -1.0
    point = start
    with semi.modes_fixed(start):
        for _ in range(REPAIR_ROUNDS):
            flows = repair_small_trades(semi.flows_of(point), *args)
            if flows is None:
                break
            trades = flows > FLOW_EPS
            others = ~trades & ~semi.never
            try:
                with solver.restored(semi.x[~semi.never]):
                    solver.set_bounds(semi.x[trades], semi.min_trade)
                    solver.fix(semi.x[others], 0.0)  # the best point on these trades: MILP-feasible
                    record = solver.solve(level, name, limit, gap)
                    highs_seconds += record.highs_seconds or 0.0
                    if best is None or sign * solver.objective(name) > sign * solver.objective(name, best):
                        best = solver.x.copy()
                    solver.unfix(semi.x[others])  # the other pairs open again: a better point with new small trades?
                    again = solver.solve(level, name, limit, gap)
                    highs_seconds += again.highs_seconds or 0.0
            except LevelFailed:
                break
            point = solver.x
            if not breaks_minimum(semi.flows_of(solver.x), semi.min_trade).any():
                best = solver.x.copy()  # the LP over every pair kept the minimum: no better point here
                break
            if (relative_gap(solver.objective(name, best), solver.objective(name)) or 0.0) <= gap:
                break
    return best, highs_seconds


SPARSE_SHARE = 0.3  # the sparse vertex may lose this share of the accepted gap


def sparse_vertex(
    semi: MinTradeLevels, level: int, name: str, limit: float, bound: float, accept: float
) -> tuple[np.ndarray | None, float]:
    """Within ``SPARSE_SHARE`` of the accepted gap of the relaxation's ``bound``, the vertex of the
    fewest and largest flows (min Σ x / min(s_i, r_j), level 4's relaxation), rounded as in
    ``rounding.rounded``; (a point of the MILP or None, HiGHS s). Called in the relaxed state."""
    solver, m = semi.solver, semi.solver.m
    row = getattr(m, f"level_{name}", None)
    if row is None:
        return None, 0.0
    maximise = solver.maximise[f"obj_{name}"]
    slack = SPARSE_SHARE * accept * abs(bound)
    solver.set_bound(row, bound - slack if maximise else bound + slack)
    try:
        record = solver.solve(level, "transactions_relaxed", limit, 0.0)
    except LevelFailed:
        return None, 0.0
    finally:
        solver.set_bound(row, -LOOSE if maximise else LOOSE)
    vertex = solver.x
    return rounded(semi, name, semi.flows_of(vertex), vertex), record.highs_seconds or 0.0
