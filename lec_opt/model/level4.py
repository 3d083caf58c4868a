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
import pyomo.environ as pyo

from lec_opt.market.greedy import match
from lec_opt.market.outcome import share_in_proportion
from lec_opt.market.pairs import PairData, allowed_pairs, transactions_lower_bound
from lec_opt.market.priorities import unique_priority_a_optimum
from lec_opt.market.result import LevelRecord
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.level_solver import LevelFailed, LevelSolver
from lec_opt.model.open_pairs import OpenPairs
from lec_opt.scenario.schema import Scenario

FLOW_EPS = 1e-9
DUST_KWH = 1e-6  # flows below this are solver tolerance, not trades
THINNING_ROUNDS = 5  # restricted LPs of level 4, each on the trades of the last: a fixed amount of work


def set_incumbent(m, flows: dict[tuple[int, int], float]) -> None:
    """Set x to ``flows`` and y, W consistently (y = 1 exactly where x > 0): a level-4 incumbent."""
    for p in m.P:
        x = flows.get(p, 0.0)
        m.p2p[p].set_value(x, skip_validation=True)
        m.transaction[p].set_value(1 if x > FLOW_EPS else 0)
    used_i = {i for (i, _), x in flows.items() if x > FLOW_EPS}
    used_j = {j for (_, j), x in flows.items() if x > FLOW_EPS}
    for i in m.I:
        if not m.willing_seller[i].fixed:
            m.willing_seller[i].set_value(1 if i in used_i else 0)
    for j in m.J:
        if not m.willing_buyer[j].fixed:
            m.willing_buyer[j].set_value(1 if j in used_j else 0)


def share_ces(m, snap: IntervalSnapshot, flows: dict[tuple[int, int], float]) -> None:
    """Keep the CES totals of the current solution, split over what each peer has left after ``flows``."""
    sold = np.zeros(len(snap.sellers))
    bought = np.zeros(len(snap.buyers))
    for (i, j), x in flows.items():
        sold[i] += x
        bought[j] += x
    for side, left, ces_var, grid_var in (
        (m.I, snap.surplus_kwh - sold, m.seller_to_ces, m.seller_export),
        (m.J, snap.deficit_kwh - bought, m.ces_to_buyer, m.grid_to_buyer),
    ):
        left = np.clip(left, 0.0, None)
        # the flows may move up to the level-1 slack more than the solution's: never share more than is left
        total = min(sum(ces_var[k].value or 0.0 for k in side), float(left.sum()))
        share = share_in_proportion(total, left)
        for k in side:
            ces_var[k].set_value(float(share[k]), skip_validation=True)
            grid_var[k].set_value(float(left[k] - share[k]), skip_validation=True)


def _keeps_levels(m, levels: list[LevelRecord], flows: dict[tuple[int, int], float], tolerance: float) -> bool:
    """Do these flows keep every fixed level (1 and 3; 2 depends on the volume only)?"""
    if any(p not in m.P for p in flows):
        return False
    current = {p: m.p2p[p].value or 0.0 for p in m.P}
    for p in m.P:
        m.p2p[p].set_value(flows.get(p, 0.0), skip_validation=True)
    try:
        for record in levels:
            if record.name != "p2p" and not record.name.startswith("priority_"):
                continue
            obj = getattr(m, f"obj_{record.name}")
            value = pyo.value(obj.expr)
            slack = tolerance * max(1.0, abs(record.objective))
            ok = value >= record.objective - slack if obj.sense == pyo.maximize else value <= record.objective + slack
            if not ok:
                return False
        return True
    finally:
        for p, x in current.items():
            m.p2p[p].set_value(x, skip_validation=True)


def level_4(
    m,
    solver: LevelSolver,
    snap: IntervalSnapshot,
    scenario: Scenario,
    pairs: PairData,
    priority: str,
    levels: list[LevelRecord],
    opened: OpenPairs | None,
) -> LevelRecord:
    """Fewest transactions on the optimum of levels 1-3; the flows of the answer are left in ``m``.

    ``opened``: the LP levels' fixings (None when levels 1-3 were MILPs); a node-limited search
    frees them for its duration.
    """
    opts = scenario.solver
    min_trade = scenario.willingness.min_trade_kwh
    dense = opts.candidate_pairs == "dense"
    if priority == "A" and unique_priority_a_optimum(snap, dense, min_trade):
        # the solver's vertex may differ from that point by slack-sized flows: take the point itself
        greedy = {(i, j): x for i, j, x in match(snap, "A", 0.0)}
        share_ces(m, snap, greedy)
        set_incumbent(m, greedy)
        status = "optimal: the level-3 optimum is unique (strict inverse-Monge), no search needed"
        return LevelRecord(4, "transactions", status, _trades(greedy), _trades(greedy), 0.0)
    vertex = _flows(m)
    greedy = {(i, j): x for i, j, x in match(snap, priority, min_trade)}
    start, source = vertex, "the level-3 vertex"
    if _trades(greedy) < _trades(vertex) and _keeps_levels(m, levels, greedy, opts.lexicographic_tolerance):
        start, source = greedy, "the greedy matching"
        share_ces(m, snap, greedy)
    set_incumbent(m, start)
    incumbent = _trades(start)
    volume = levels[0].objective or 0.0
    slack = opts.lexicographic_tolerance * max(1.0, volume)
    bound = float(transactions_lower_bound(snap, pairs, allowed_pairs(snap, pairs, priority == "C"), volume, slack))
    seconds = highs_seconds = 0.0
    if incumbent > bound and opened is not None:
        start, source, bound, seconds, highs_seconds = _relaxations(m, solver, snap, opts, start, source, bound)
        incumbent = _trades(start)
    status = f"incumbent from {source}"
    if incumbent <= bound:
        status = f"optimal: {status} meets the lower bound"
    elif opts.level4_node_limit > 0:
        saved = _values(m)
        with opened.freed() if opened is not None else contextlib.nullcontext():
            try:
                tree = solver.solve(
                    m,
                    4,
                    "transactions",
                    opts.level4_time_limit_s,
                    opts.level4_mip_gap,
                    warm=True,
                    node_limit=opts.level4_node_limit,
                )
                seconds, highs_seconds = seconds + tree.seconds, highs_seconds + (tree.highs_seconds or 0.0)
                if tree.bound is not None and np.isfinite(tree.bound):
                    bound = max(bound, float(np.ceil(tree.bound - 1e-6)))
                if tree.objective is not None and tree.objective < incumbent - 0.5:
                    incumbent = float(round(tree.objective))
                    status = f"{tree.status}: a node-limited search improved the {status}"
                    saved = _values(m)
                else:
                    status = f"{tree.status}: a node-limited search kept the {status}"
            except LevelFailed as failed:
                status = f"{failed.record.status}: a node-limited search kept the {status}"
                seconds += failed.record.seconds
        _restore(saved)
    gap = (incumbent - bound) / max(1.0, incumbent)
    return LevelRecord(4, "transactions", status, incumbent, bound, gap, seconds, highs_seconds)


def _trades(flows: dict[tuple[int, int], float]) -> float:
    """How many of these flows are trades, not solver dust (as the result will count them)."""
    return float(sum(x >= DUST_KWH for x in flows.values()))


def _flows(m) -> dict[tuple[int, int], float]:
    return {p: m.p2p[p].value or 0.0 for p in m.P if (m.p2p[p].value or 0.0) > FLOW_EPS}


def _relaxations(m, solver: LevelSolver, snap: IntervalSnapshot, opts, start, source: str, bound: float):
    """Level 4's LP relaxation (a proven bound and a candidate vertex), then the same LP restricted
    to the best candidate's trades, whose vertex has at most as many (models/FORMULATION.md §4).

    Both keep levels 1-3. The model is left at the best matching, with the CES of the level-3
    solution shared over what each peer has left. Returns (flows, source, bound, seconds, HiGHS seconds).
    """
    saved = _values(m)
    seconds = highs_seconds = 0.0
    best, best_source, thinned = start, source, False
    try:
        relaxed = solver.solve(m, 4, "transactions_relaxed", opts.level4_time_limit_s, 0.0)
        seconds, highs_seconds = relaxed.seconds, relaxed.highs_seconds or 0.0
        bound = max(bound, float(np.ceil(relaxed.objective - 1e-6)))
        vertex = _flows(m)
        if _trades(vertex) < _trades(best):
            best, best_source = vertex, "the vertex of its LP relaxation"
        for _ in range(THINNING_ROUNDS):
            outside = [m.p2p[p] for p in m.P if p not in best and not m.p2p[p].fixed]
            for x in outside:
                x.fix(0.0)
            solver.vars_changed()
            try:
                within = solver.solve(m, 4, "transactions_relaxed", opts.level4_time_limit_s, 0.0)
                seconds, highs_seconds = seconds + within.seconds, highs_seconds + (within.highs_seconds or 0.0)
            finally:
                for x in outside:
                    x.unfix()
                solver.vars_changed()
            thinner = _flows(m)
            if _trades(thinner) >= _trades(best):
                break
            best, thinned = thinner, True
    except LevelFailed as failed:  # the incumbent stands; only the bound may be weaker
        seconds += failed.record.seconds
        best_source = f"{best_source} (an LP of level 4 ended {failed.record.status})"
    if thinned:
        best_source = f"{best_source}, thinned by the LP on its trades"
    _restore(saved)  # back to the incumbent, with the CES of the level-3 solution
    if best is not start:
        share_ces(m, snap, best)
        set_incumbent(m, best)
    return best, best_source, bound, seconds, highs_seconds


def _restore(saved: list[tuple[pyo.Var, float | None]]) -> None:
    for v, value in saved:
        v.set_value(value, skip_validation=True)


def _values(m) -> list[tuple[pyo.Var, float | None]]:
    """The values a level solve may change and a result reads: flows, CES and grid flows, CES modes."""
    return [(v, v.value) for v in solution_vars(m)]


def solution_vars(m) -> list:
    """x, c, e, d, g, Eg, Ev, Evg, zc, zd, the utility hypographs: what a result is read from."""
    names = (
        "p2p",
        "seller_to_ces",
        "seller_export",
        "ces_to_buyer",
        "grid_to_buyer",
        "grid_to_ces",
        "ces_to_ev",
        "grid_to_ev",
        "charging",
        "discharging",
        "u01_quad",
        "u02_quad",
    )
    return [v for name in names for v in getattr(m, name).values()]
