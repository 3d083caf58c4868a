"""Levels 1-3 with a minimum trade size: semi-continuous flows, a proven bound, work limits
(models/FORMULATION.md §4, "Levels with a minimum trade").

With ``min_trade_kwh = m > 0`` a pair trades x[i,j] ∈ {0} ∪ [m, min(s_i, r_j)]. Each level is
solved in steps, each a fixed amount of work (nodes, never time):

1. **Relaxation.** The level without the ``min_trade`` rows, its matching binaries continuous: its
   optimum bounds the level, and is the level's optimum when no flow lies in (0, m). Level 1 and C's
   level 3 on nested pairs try ``lec_opt.model.totals_levels`` first (the nested volume; the totals'
   MILP: a tighter bound, and with trades on its totals the optimum).
2. **Incumbents**, cheapest first, until one is within the accepted gap (``lec_opt.model.rounding``):
   the relaxation's small trades moved onto their peers' trades, or re-placed among those peers on
   their totals, and improved by local moves; the sparsest vertex near the relaxation (A's and B's
   level 3); trades on the relaxation's totals; the trades before this level kept, the rest solved
   again (``with_trades``; exact at level 2); LP rounds on the repaired trades; at level 3 the best
   so far improved window by window; sub-MILPs around the relaxation's trades (``_neighbourhood``);
   the solution before this level and the greedy matching with the minimum; for objectives of the
   peers' totals only (level 1, C) the MILP with every peer's total held at the relaxation's
   (``lec_opt.model.held_totals``). Each is checked against every row, bound and integrality of the
   MILP as HiGHS holds it; the best one, polished by the local moves, is the incumbent.
3. **Gap.** Within ``mip_gap`` of the bound: optimal; within ``ACCEPT_GAP``: the answer, with its
   proven gap (only above ``EXACT_PAIRS`` open pairs: a smaller model is searched to mip_gap);
   otherwise HiGHS's node-limited searches from the incumbent (``lec_opt.model.min_trade_search``).
   The record carries the answer, the bound and the gap.

On a model built without the linking rows (y, W and their rows), the steps that need flows only
run, and a level none of them answers raises ``NeedsLinks`` (``MinTradeLevels``).
Pairs with min(s_i, r_j) < m never trade: their flows are fixed to 0 once (``close_small_pairs``).
Between levels the model stays the MILP (``min_trade`` on, binaries integer) for every later solve.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from lec_opt.market.pairs import BELOW, PairData, allowed_pairs
from lec_opt.market.result import LevelRecord, LevelStatus, Status
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model import rounding, totals_levels
from lec_opt.model.held_totals import SEPARABLE, on_totals, with_totals
from lec_opt.model.level4 import FLOW_EPS, set_incumbent, share_ces
from lec_opt.model.level_solver import GAP_EQUAL, LevelFailed, LevelSolver, relative_gap
from lec_opt.model.min_trade_search import NODE_LIMIT, REACH_SHARE, Incumbent, search
from lec_opt.model.small_trades import breaks_minimum
from lec_opt.model.sources import Origin, Source
from lec_opt.model.unlinked import NeedsLinks, Started, carry_over, named_columns

ACCEPT_GAP = 0.01  # a level is answered once its incumbent is proven within 1 % of its bound
EXACT_PAIRS = 400  # up to this many open pairs the search is cheap: no 1 % acceptance, mip_gap only


def close_small_pairs(solver: LevelSolver, pairs: PairData, min_trade: float) -> np.ndarray:
    """Fix x = 0 on the pairs with min(s_i, r_j) < m: x >= m y and x <= cap y force y = 0 there.

    Exact (the MILP's feasible set is unchanged) and it tightens every relaxation. Returns the mask.
    """
    small = pairs.cap < min_trade - BELOW
    solver.fix(solver.cols(solver.m.p2p)[small], 0.0)
    return small


class MinTradeLevels:
    """The semi-continuous levels of one interval model (``solve`` one level at a time).

    On a model without the linking rows (``linked`` False; models/FORMULATION.md §4, "Levels with a
    minimum trade", step 0) the relaxation is the model itself, the pairs of unwilling peers and
    (``price_rule``) those with bid < ask are closed by their flows, a point counts only if no flow
    breaks the minimum, and a level no cheap point answers raises ``NeedsLinks``. ``carried``: where
    that level got (``NeedsLinks.started``); the model with linking rows goes on from there.
    """

    def __init__(
        self,
        solver: LevelSolver,
        snap: IntervalSnapshot,
        pairs: PairData,
        min_trade: float,
        carried: Started | None = None,
    ):
        self.solver, self.snap, self.pairs, self.min_trade, self.carried = solver, snap, pairs, min_trade, carried
        m = solver.m
        self.linked = solver.linked
        self.x = solver.cols(m.p2p)
        small = close_small_pairs(solver, pairs, min_trade)
        self.open_pairs = int(np.count_nonzero(~small))  # what the accepted gap depends on, in either model
        self.price_pairs = False
        if self.linked:
            self.y = solver.cols(m.transaction)
            self.binaries = (m.transaction, m.willing_seller, m.willing_buyer)
            self.never = small
            solver.activate(m.min_trade)  # the MILP between levels
        else:
            self.never = small | ~allowed_pairs(snap, pairs, False)
            solver.fix(self.x[self.never & ~small], 0.0)
        self._closed = self.never.copy()  # without the price rule

    def price_rule(self, on: bool) -> None:
        """Priority C's rule (only pairs with bid >= ask trade) on or off: its row, or without linking
        rows the other pairs' flows fixed to 0 (and counted among ``never`` while it holds)."""
        self.price_pairs = on
        if self.linked:
            self.solver.activate(self.solver.m.price_pairs_only, on)
            return
        bad = ~self.pairs.price_ok & ~self._closed
        if on:  # a state that holds over the priority's levels: not scoped
            self.solver.fix(self.x[bad], 0.0)
        else:
            self.solver.unfix(self.x[bad])
        self.never = self._closed | bad if on else self._closed

    def is_point(self, solution: np.ndarray) -> bool:
        """Is ``solution`` a point of the level's MILP: every row, bound and integrality HiGHS holds,
        and no flow in (0, m) (which only the linking rows would rule out)?"""
        return self.solver.is_feasible(solution) and not breaks_minimum(self.flows_of(solution), self.min_trade).any()

    @contextlib.contextmanager
    def relaxed(self) -> Iterator[None]:
        """No ``min_trade`` rows and continuous matching binaries inside the block (without linking
        rows the model is its own relaxation)."""
        if not self.linked:
            yield
            return
        solver = self.solver
        solver.activate(solver.m.min_trade, False)
        solver.set_integer(self.binaries, False)
        try:
            yield
        finally:
            solver.activate(solver.m.min_trade)
            solver.set_integer(self.binaries, True)

    @contextlib.contextmanager
    def modes_fixed(self, point: np.ndarray) -> Iterator[None]:
        """The CES modes fixed at ``point``'s values (and not integer) inside the block: with the
        relaxed matching binaries every solve is then an LP, warm-started from the last basis."""
        solver, m = self.solver, self.solver.m
        modes = np.concatenate([solver.cols(m.charging), solver.cols(m.discharging)])
        modes = modes[modes >= 0]
        solver.fix(modes, np.round(point[modes]))
        solver.set_integer((m.charging, m.discharging), False)
        try:
            yield
        finally:  # bounds first, then integrality, as they were changed
            solver.unfix(modes)
            solver.set_integer((m.charging, m.discharging), True)

    def flows_of(self, solution: np.ndarray) -> np.ndarray:
        """The flows of ``solution`` in pair order, solver dust (<= FLOW_EPS) as 0."""
        x = solution[self.x]
        return np.where(x > FLOW_EPS, x, 0.0)

    def consistent(self, flows: np.ndarray, point: np.ndarray) -> np.ndarray:
        """``point`` with these flows and y, W set from them (y = 1 exactly where x > 0), written into
        ``point`` itself (the caller's array); a copy of it."""
        return set_incumbent(self.solver, self.pairs, flows, point).copy()

    def with_trades(
        self, flows: np.ndarray, level: int, name: str, limit: float, gap: float
    ) -> tuple[np.ndarray | None, float]:
        """The level with every flow fixed at ``flows`` (which meet the minimum); (solution or None, HiGHS s).

        Exact at level 2: the CES objective sees the trades only through their total (models/FORMULATION.md §4).
        """
        solver, open_ = self.solver, ~self.never  # the never-trading pairs stay fixed at 0 throughout
        try:
            with solver.fixed(self.x[open_], flows[open_]):
                record = solver.solve(level, name, limit, gap)
            return solver.x.copy(), record.highs_seconds or 0.0
        except LevelFailed:
            return None, 0.0

    def _neighbourhood(
        self, flows: np.ndarray, level: int, name: str, limit: float, gap: float, force: bool
    ) -> tuple[np.ndarray | None, float]:
        """The MILP restricted around the relaxation ``flows``; (solution or None, HiGHS s).

        Every pair of a peer with a flow in (0, m) is free (its y binary); the pairs whose flow
        meets the minimum stay open (``force``: y = 1, x >= m) or free; every other pair is closed.
        A sub-problem of the MILP: any answer is feasible for it. Limited by ``NODE_LIMIT`` nodes.
        At level 3 it is searched only if it frees at most ``REACH_SHARE`` of the open pairs (else
        (None, 0)): a larger one costs about what the search of the whole MILP does.
        """
        solver, m, pairs = self.solver, self.min_trade, self.pairs
        small = breaks_minimum(flows, m)
        support = (flows >= m - BELOW) & ~self.never
        keep = support if force else np.zeros_like(support)
        sellers = np.zeros(len(self.snap.sellers), dtype=bool)
        buyers = np.zeros(len(self.snap.buyers), dtype=bool)
        sellers[pairs.seller[small]] = True
        buyers[pairs.buyer[small]] = True
        free = ((sellers[pairs.seller] | buyers[pairs.buyer]) | support) & ~keep & ~self.never
        closed = ~keep & ~free & ~self.never
        if level >= 3 and np.count_nonzero(free) > REACH_SHARE * np.count_nonzero(~self.never):
            return None, 0.0
        changed = keep | closed
        try:
            with solver.restored(self.x[changed], self.y[changed]):
                solver.fix(self.y[keep], 1.0)
                solver.set_bounds(self.x[keep], m)
                solver.fix(self.x[closed], 0.0)
                solver.fix(self.y[closed], 0.0)
                record = solver.solve(level, name, limit, gap, node_limit=NODE_LIMIT, abs_gap=GAP_EQUAL)
            return solver.x.copy(), record.highs_seconds or 0.0
        except LevelFailed:
            return None, 0.0

    def _cheap(
        self,
        level: int,
        name: str,
        limit: float,
        gap: float,
        accept: float,
        bound: float,
        flows: np.ndarray,
        relaxed_x: np.ndarray,
        before: np.ndarray,
    ) -> tuple[list[tuple[str, np.ndarray]], bool, float]:
        """Steps 3(a)-(c) and (f)'s search without a solver from the relaxation (``flows``, ``relaxed_x``),
        cheapest first until one is within ``accept`` of ``bound``; (the candidates, whether the
        peer totals were tried, HiGHS s). Inside ``relaxed``."""
        solver = self.solver
        within = lambda x, g: (relative_gap(solver.objective(name, x), bound) or 0.0) <= g  # noqa: E731
        found: list[tuple[str, np.ndarray]] = []
        highs_seconds = 0.0
        rounded = rounding.rounded(self, name, flows, relaxed_x)
        if rounded is not None:
            found.append((Origin(Source.ROUNDED), rounded))
        if not any(within(x, accept) for _, x in found):
            local = rounding.on_local_totals(self, name, flows, relaxed_x)
            if local is not None:
                found.append((Origin(Source.LOCAL_TOTALS), local))
        if level >= 3 and name not in SEPARABLE and not any(within(x, accept) for _, x in found):
            sparse, hs = rounding.sparse_vertex(self, level, name, limit, bound, accept)
            highs_seconds += hs
            if sparse is not None:
                found.append((Origin(Source.SPARSE), sparse))
        totals_tried = not any(within(x, gap if name in SEPARABLE else accept) for _, x in found)
        if totals_tried:  # optimal for the objectives of the totals; else polished by the local moves
            on_own = on_totals(self, relaxed_x, name)
            if on_own is not None:
                found.append(
                    (Origin(Source.ON_TOTALS), on_own if name in SEPARABLE else rounding.polished(self, name, on_own))
                )
        previous = self.flows_of(before)
        if not any(within(x, accept) for _, x in found) and not breaks_minimum(previous, self.min_trade).any():
            kept, hs = self.with_trades(previous, level, name, limit, gap)
            highs_seconds += hs
            if kept is not None:
                found.append((Origin(Source.TRADES_BEFORE), kept))
        if not any(within(x, accept) for _, x in found):
            repaired, hs = rounding.lp_rounds(self, level, name, limit, gap, relaxed_x)
            highs_seconds += hs
            if repaired is not None:
                found.append((Origin(Source.LP_ROUNDS), rounding.polished(self, name, repaired)))
        return found, totals_tried, highs_seconds

    def around(self, flows: np.ndarray, level: int, name: str, limit: float, accept: float):
        """The sub-MILP around the relaxation ``flows`` with its trades free (``_neighbourhood``),
        its answer polished by the local moves; (a point of the MILP or None, HiGHS s)."""
        near, hs = self._neighbourhood(flows, level, name, limit, accept, False)
        if near is None or not self.is_point(near):
            return None, hs
        return rounding.polished(self, name, near), hs

    def _start(
        self, level: int, name: str, limit: float, gap: float, accept: float, greedy: np.ndarray | None
    ) -> Started | LevelRecord:
        """The steps on flows only: the shortcuts of the totals and the relaxation (a record when one
        answers the level), the cheap candidates and the previous and greedy points, and at level 3
        the windows."""
        solver = self.solver
        before = solver.x.copy()
        if name == "p2p":
            nested = totals_levels.nested_volume(self, level, limit, gap, accept)
            if nested is not None:
                return nested
        chain_bound = None
        if name in SEPARABLE:
            on_chain, chain_bound = totals_levels.on_chain(self, level, name, limit, gap, accept)
            if on_chain is not None:
                return on_chain
        with self.relaxed():
            relaxation = solver.solve(level, name, limit, gap)  # LevelFailed: nothing keeps the levels
            bound = relaxation.bound if chain_bound is None else min(relaxation.bound, chain_bound)
            flows = self.flows_of(solver.x)
            if not breaks_minimum(flows, self.min_trade).any():
                solver.keep(self.consistent(flows, solver.x.copy()))
                return relaxation.then(": the relaxation meets the minimum trade")
            relaxed_x = solver.x.copy()
            found, totals_tried, hs = self._cheap(level, name, limit, gap, accept, bound, flows, relaxed_x, before)
        highs_seconds = (relaxation.highs_seconds or 0.0) + hs
        started = Started(name, bound, flows, relaxed_x, [], totals_tried, 0.0, highs_seconds)
        candidates = started.candidates
        for source, x in found:
            candidates.append((source, self.consistent(self.flows_of(x), x)))
        previous = self.flows_of(before)
        if not breaks_minimum(previous, self.min_trade).any():
            candidates.append((Origin(Source.PREVIOUS), self.consistent(previous, before)))
        if greedy is not None:  # the CES of the relaxation, shared over what each peer has left
            shared = share_ces(solver, self.snap, self.pairs, greedy, relaxed_x.copy())
            candidates.append((Origin(Source.GREEDY), self.consistent(greedy, shared)))
        if level >= 3 and accept > gap:  # improved window by window (a small model is searched exactly)
            windowed, hs = rounding.windowed(self, name, candidates, bound, accept, limit)
            started.highs_seconds += hs
            candidates += windowed
        return started

    def solve(
        self,
        level: int,
        name: str,
        limit: float,
        gap: float,
        greedy: np.ndarray | None,
    ) -> LevelRecord:
        """Level ``level`` (objective ``obj_<name>``) with the minimum; its answer left in the solver.

        ``greedy``: the greedy matching's flows in pair order (None if not a candidate). Every
        incumbent is checked against every row, bound and integrality of the MILP as HiGHS holds it
        (the levels kept so far included) before it may count.
        """
        solver, t0, earlier = self.solver, time.perf_counter(), 0.0  # the level's wall time, its own steps' too
        sign = 1.0 if solver.maximise[f"obj_{name}"] else -1.0
        accept = gap if self.open_pairs <= EXACT_PAIRS else max(gap, ACCEPT_GAP)
        if self.carried is not None and self.carried.name == name:
            started, self.carried = carry_over(self, self.carried), None
            earlier = started.seconds  # spent on the model without linking rows
        else:
            started = self._start(level, name, limit, gap, accept, greedy)
            if isinstance(started, LevelRecord):
                return replace(started, seconds=time.perf_counter() - t0)
        bound, flows, candidates = started.bound, started.flows, started.candidates
        highs_seconds = started.highs_seconds
        accepted = lambda x: (relative_gap(solver.objective(name, x), bound) or 0.0) <= accept  # noqa: E731
        if not self.linked and not any(accepted(x) and self.is_point(x) for _, x in candidates):
            wall = time.perf_counter() - t0  # the steps below search the MILP
            raise NeedsLinks(replace(started, seconds=wall, columns=named_columns(solver)))
        for force in (True, False) if level < 3 else (True,):  # level 3: the free one only in ``around``
            if any(accepted(x) for _, x in candidates):
                break
            near, hs = self._neighbourhood(flows, level, name, limit, gap if level < 3 else accept, force)
            highs_seconds += hs
            if near is not None:
                source = Origin(Source.AROUND_KEPT if force else Source.AROUND)
                candidates.append((source, rounding.polished(self, name, near)))
        candidates = [(source, x) for source, x in candidates if self.is_point(x)]
        if not any(accepted(x) for _, x in candidates):  # the local moves on the candidates that had none yet
            candidates = [
                (source, rounding.polished(self, name, x) if source.unmoved else x) for source, x in candidates
            ]
        if name in SEPARABLE and not any(accepted(x) for _, x in candidates):
            held, hs = with_totals(self, started.relaxed_x, level, name, limit, gap, NODE_LIMIT, started.totals_tried)
            highs_seconds += hs
            if held is not None and self.is_point(held):
                candidates.append((Origin(Source.HELD_TOTALS), held))
        around_tried = False  # level 3: the sub-MILP with the relaxation's trades free, once
        if level >= 3 and name in SEPARABLE and not any(accepted(x) for _, x in candidates):
            around_tried = True  # after the held totals, before the searches (models/FORMULATION.md §4)
            near, hs = self.around(flows, level, name, limit, accept)
            highs_seconds += hs
            if near is not None:
                candidates.append((Origin(Source.AROUND), near))
        if candidates:
            source, best = max(candidates, key=lambda c: sign * solver.objective(name, c[1]))
            now = Incumbent(best, solver.objective(name, best), bound, Status(LevelStatus.INCUMBENT, f" {source}"))
        else:  # the search starts from nothing
            now = Incumbent(started.relaxed_x, None, bound, Status(LevelStatus.NO_INCUMBENT))
        now.highs_seconds = highs_seconds
        solver.keep(now.best)
        if now.within(gap):
            now.status = Status(LevelStatus.OPTIMAL, f": {now.status} within mip_gap of the relaxation's bound")
        elif now.within(accept):
            now.status = now.status.then(f", proven within {accept:.0%} of the relaxation's bound")
        else:
            search(self, level, name, limit, gap, accept, flows, now, around_tried)
        gap_now = relative_gap(now.value, now.bound)
        wall = earlier + time.perf_counter() - t0
        return LevelRecord(level, name, now.status, now.value, now.bound, gap_now, wall, now.highs_seconds)
