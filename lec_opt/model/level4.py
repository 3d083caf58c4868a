"""Levels 3 and 4 of one priority: the priority's optimum, then the fewest transactions on it.

Level 4 is deterministic (models/FORMULATION.md §4): its incumbent is the level-3 vertex, or the
greedy matching when that keeps levels 1-3 with fewer trades; its proven lower bound is
structural (``market.pairs.transactions_lower_bound``), and when the incumbent meets it the level
is optimal without a search. Otherwise a HiGHS search limited by nodes (work, never time) may
improve it (``solver.level4_node_limit``; 0 = none); the result reports the bound and the gap.
"""

from __future__ import annotations

import contextlib

import numpy as np

from lec_opt.market.greedy import match
from lec_opt.market.outcome import share_in_proportion
from lec_opt.market.pairs import BELOW, PairData, allowed_pairs, transactions_lower_bound
from lec_opt.market.priorities import priority_a_face, unique_priority_a_optimum
from lec_opt.market.result import LevelRecord, LevelStatus, Status
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.level_solver import LevelFailed, LevelSolver, relative_gap
from lec_opt.model.open_pairs import OpenPairs
from lec_opt.model.sources import Origin, Source
from lec_opt.model.tolerances import DUST_KWH, FLOW_EPS
from lec_opt.scenario.schema import Scenario

__all__ = ["DUST_KWH", "FLOW_EPS", "greedy_flows", "level_4", "set_incumbent", "share_ces"]

THINNING_ROUNDS = 5  # restricted LPs of level 4, each on the trades of the last: a fixed amount of work


def set_incumbent(solver: LevelSolver, pairs: PairData, flows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The point ``x`` (the caller's array, written in place) with its flows set to ``flows`` (pair
    order) and y, W consistently (y = 1 exactly where x > 0): a level-4 incumbent; ``x``.

    A peer that trades is willing, one that does not gets W = 0 (an unwilling peer never trades).
    """
    m = solver.m
    trades = flows > FLOW_EPS
    solver.put(x, m.p2p, flows)
    if not solver.linked:  # the LP levels without linking rows: no matching binaries
        return x
    solver.put(x, m.transaction, trades.astype(float))
    solver.put(x, m.willing_seller, (np.bincount(pairs.seller[trades], minlength=len(m.I)) > 0).astype(float))
    solver.put(x, m.willing_buyer, (np.bincount(pairs.buyer[trades], minlength=len(m.J)) > 0).astype(float))
    return x


def share_ces(
    solver: LevelSolver, snap: IntervalSnapshot, pairs: PairData, flows: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """The point ``x`` (the caller's array, written in place) with its CES totals kept and split over
    what each peer has left after ``flows``; ``x``."""
    m = solver.m
    sold = np.bincount(pairs.seller, weights=flows, minlength=len(snap.sellers)).astype(float)
    bought = np.bincount(pairs.buyer, weights=flows, minlength=len(snap.buyers)).astype(float)
    for left, ces_var, grid_var in (
        (snap.surplus_kwh - sold, m.seller_to_ces, m.seller_export),
        (snap.deficit_kwh - bought, m.ces_to_buyer, m.grid_to_buyer),
    ):
        left = np.clip(left, 0.0, None)
        # the flows may move up to the level-1 slack more than the solution's: never share more than is left
        total = min(float(solver.values(ces_var, x).sum()), float(left.sum()))
        share = share_in_proportion(total, left)
        solver.put(x, ces_var, share)
        solver.put(x, grid_var, left - share)
    return x


def _keeps_levels(solver: LevelSolver, levels: list[LevelRecord], flows: np.ndarray, tolerance: float) -> bool:
    """Do these flows keep every fixed level (1 and 3; 2 depends on the volume only)?"""
    x = solver.x.copy()
    x[solver.cols(solver.m.p2p)] = flows
    for record in levels:
        if record.name != "p2p" and not record.name.startswith("priority_"):
            continue
        value = solver.objective(record.name, x)
        slack = tolerance * max(1.0, abs(record.objective))
        if solver.maximise[f"obj_{record.name}"]:
            ok = value >= record.objective - slack
        else:
            ok = value <= record.objective + slack
        if not ok:
            return False
    return True


def greedy_flows(snap: IntervalSnapshot, pairs: PairData, priority: str, min_trade: float) -> np.ndarray | None:
    """The greedy matching as flows in pair order; None when it uses a pair that is no candidate."""
    position = np.full((len(snap.sellers), len(snap.buyers)), -1)
    position[pairs.seller, pairs.buyer] = np.arange(len(pairs.seller))
    flows = np.zeros(len(pairs.seller))
    for i, j, x in match(snap, priority, min_trade):
        if position[i, j] < 0:
            return None
        flows[position[i, j]] = x
    return flows


def _unique_a(solver: LevelSolver, snap: IntervalSnapshot, pairs: PairData) -> LevelRecord:
    """Level 4 of A when level 3's optimum is unique: the greedy A itself (the solver's vertex may
    differ from that point by slack-sized flows), left in the solver; optimal, no search."""
    greedy = greedy_flows(snap, pairs, "A", 0.0)
    solver.keep(set_incumbent(solver, pairs, greedy, share_ces(solver, snap, pairs, greedy, solver.x.copy())))
    status = Status(LevelStatus.OPTIMAL, ": the level-3 optimum is unique (strict inverse-Monge), no search needed")
    return LevelRecord(4, "transactions", status, _trades(greedy), _trades(greedy), 0.0)


def level_4(
    solver: LevelSolver,
    snap: IntervalSnapshot,
    scenario: Scenario,
    pairs: PairData,
    priority: str,
    levels: list[LevelRecord],
    opened: OpenPairs | None,
) -> LevelRecord:
    """Fewest transactions on the optimum of levels 1-3; the flows of the answer are left in the solver.

    ``opened``: the LP levels' fixings (None when levels 1-3 were MILPs); a node-limited search
    frees them for its duration.
    """
    opts = scenario.solver
    min_trade = scenario.willingness.min_trade_kwh
    dense = opts.candidate_pairs == "dense"
    if priority == "A" and unique_priority_a_optimum(snap, dense, min_trade):
        return _unique_a(solver, snap, pairs)
    vertex = _flows(solver)
    greedy = greedy_flows(snap, pairs, priority, min_trade)
    start, source = vertex, Origin(Source.LEVEL3_VERTEX)
    if (
        greedy is not None
        and _trades(greedy) < _trades(vertex)
        and _keeps_levels(solver, levels, greedy, opts.lexicographic_tolerance)
    ):
        start, source = greedy, Origin(Source.GREEDY)
        solver.keep(share_ces(solver, snap, pairs, greedy, solver.x.copy()))
    solver.keep(set_incumbent(solver, pairs, start, solver.x.copy()))
    incumbent = _trades(start)
    volume = levels[0].objective or 0.0
    slack = opts.lexicographic_tolerance * max(1.0, volume)
    tradeable = allowed_pairs(snap, pairs, priority == "C") & (pairs.cap >= min_trade - BELOW)  # m: cap >= m
    bound = float(transactions_lower_bound(snap, pairs, tradeable, volume, slack))
    seconds = highs_seconds = 0.0
    if incumbent > bound and opened is not None:
        allowed = ~opened.closed
        on_face = priority == "A" and dense and min_trade == 0 and greedy is not None and solver.large
        if on_face:  # the pairs off A's optimal face closed too (exact; spares the LPs most columns)
            opened.open(allowed & priority_a_face(snap, pairs.seller, pairs.buyer, greedy), opened.price_pairs)
        try:
            start, source, bound, seconds, highs_seconds = _relaxations(
                solver, snap, pairs, opts, start, source, bound, opened
            )
        finally:
            opened.open(allowed, opened.price_pairs)
        if on_face:
            source = source.then(" (the pairs off A's optimal face closed)")
        incumbent = _trades(start)
    status = Status(LevelStatus.INCUMBENT, f" {source}")
    if incumbent <= bound:
        status = Status(LevelStatus.OPTIMAL, f": {status} meets the lower bound")
    elif opts.level4_node_limit > 0:
        incumbent, bound, status, spent = _node_search(solver, opts, opened, incumbent, bound, status)
        seconds, highs_seconds = seconds + spent[0], highs_seconds + spent[1]
    return LevelRecord(
        4, "transactions", status, incumbent, bound, relative_gap(incumbent, bound), seconds, highs_seconds
    )


def _node_search(
    solver: LevelSolver, opts, opened: OpenPairs | None, incumbent: float, bound: float, status: Status
) -> tuple[float, float, Status, tuple[float, float]]:
    """HiGHS's search of level 4's MILP from the incumbent in the solver, limited by
    ``level4_node_limit`` nodes (the LP levels' closed pairs freed meanwhile); (the incumbent's
    trades, the bound, the status, (seconds, HiGHS seconds)). The better point is left in the solver."""
    saved = solver.x.copy()
    seconds = highs_seconds = 0.0
    with opened.freed() if opened is not None else contextlib.nullcontext():
        try:
            tree = solver.solve(
                4,
                "transactions",
                opts.level4_time_limit_s,
                opts.level4_mip_gap,
                start=solver.x,
                node_limit=opts.level4_node_limit,
            )
            seconds, highs_seconds = tree.seconds, tree.highs_seconds or 0.0
            if tree.bound is not None and np.isfinite(tree.bound):
                bound = max(bound, float(np.ceil(tree.bound - 1e-6)))
            if tree.objective is not None and tree.objective < incumbent - 0.5:
                incumbent = float(round(tree.objective))
                status = tree.how.then(f": a node-limited search improved the {status}")
                saved = solver.x.copy()
            else:
                status = tree.how.then(f": a node-limited search kept the {status}")
        except LevelFailed as failed:
            status = failed.record.how.then(f": a node-limited search kept the {status}")
            seconds = failed.record.seconds
    solver.keep(saved)
    return incumbent, bound, status, (seconds, highs_seconds)


def _trades(flows: np.ndarray) -> float:
    """How many of these flows are trades, not solver dust (as the result will count them)."""
    return float(np.count_nonzero(flows >= DUST_KWH))


def _flows(solver: LevelSolver) -> np.ndarray:
    """The current solution's flows in pair order, solver noise below ``FLOW_EPS`` set to 0."""
    x = solver.values(solver.m.p2p)
    return np.where(x > FLOW_EPS, x, 0.0)


def _relaxations(
    solver: LevelSolver,
    snap: IntervalSnapshot,
    pairs: PairData,
    opts,
    start: np.ndarray,
    source: Origin,
    bound: float,
    opened: OpenPairs,
):
    """Level 4's LP relaxation (a proven bound and a candidate vertex), then the same LP restricted
    to the best candidate's trades, whose vertex has at most as many (models/FORMULATION.md §4).

    Both keep levels 1-3. The solver is left at the best matching, with the CES of the level-3
    solution shared over what each peer has left. Returns (flows, source, bound, seconds, HiGHS seconds).
    """
    saved = solver.x.copy()
    seconds = highs_seconds = 0.0
    best, best_source, thinned = start, source, False
    try:
        relaxed = solver.solve(4, "transactions_relaxed", opts.level4_time_limit_s, 0.0)
        seconds, highs_seconds = relaxed.seconds, relaxed.highs_seconds or 0.0
        bound = max(bound, float(np.ceil(relaxed.objective - 1e-6)))
        vertex = _flows(solver)
        if _trades(vertex) < _trades(best):
            best, best_source = vertex, Origin(Source.RELAXED_VERTEX)
        for _ in range(THINNING_ROUNDS):
            outside = opened.x[(best <= FLOW_EPS) & ~opened.closed]
            with solver.fixed(outside, 0.0):
                within = solver.solve(4, "transactions_relaxed", opts.level4_time_limit_s, 0.0)
                seconds, highs_seconds = seconds + within.seconds, highs_seconds + (within.highs_seconds or 0.0)
            thinner = _flows(solver)
            if _trades(thinner) >= _trades(best):
                break
            best, thinned = thinner, True
    except LevelFailed as failed:  # the incumbent stands; only the bound may be weaker
        seconds += failed.record.seconds
        best_source = best_source.then(f" (an LP of level 4 ended {failed.record.status})")
    if thinned:
        best_source = best_source.then(", thinned by the LP on its trades")
    if best is not start:  # the CES of the level-3 solution shared over what each peer has left
        saved = set_incumbent(solver, pairs, best, share_ces(solver, snap, pairs, best, saved))
    solver.keep(saved)  # back to the incumbent
    return best, best_source, bound, seconds, highs_seconds
