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
   otherwise HiGHS searches the MILP from the incumbent, limited by ``NODE_LIMIT`` nodes, first
   where a point within the accepted gap of the bound can be, then where a point that proves the
   incumbent can be, each time with the pairs closed that no such point can use
   (``lec_opt.model.reach``: reduced costs of the LP relaxation towards a target).
   The record carries the answer, the bound and the gap.

Pairs with min(s_i, r_j) < m never trade: their flows are fixed to 0 once (``close_small_pairs``).
Between levels the model stays the MILP (``min_trade`` on, binaries integer) for every later solve.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from lec_opt.market.pairs import PairData
from lec_opt.market.result import LevelRecord
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model import rounding, totals_levels
from lec_opt.model.held_totals import SEPARABLE, on_totals, with_totals
from lec_opt.model.level4 import FLOW_EPS, set_incumbent, share_ces
from lec_opt.model.level_solver import GAP_EQUAL, LevelFailed, LevelSolver, relative_gap
from lec_opt.model.reach import DUAL_MARGIN, bound_target, combined_bound, target_value, trade_losses
from lec_opt.model.small_trades import BELOW, breaks_minimum

ACCEPT_GAP = 0.01  # a level is answered once its incumbent is proven within 1 % of its bound
EXACT_PAIRS = 400  # up to this many open pairs the search is cheap: no 1 % acceptance, mip_gap only
NODE_LIMIT = 200  # branch-and-bound nodes of the MILP search when the incumbent misses the gap
TRADES_BEFORE, PREVIOUS, GREEDY = (
    "the trades before this level, the rest solved again",
    "the previous solution",
    "the greedy matching",
)
SPARSE = "the sparsest vertex near the relaxation's optimum, its small trades moved onto their peers' trades"
LOCAL_TOTALS = "the relaxation with the trades of its small trades' peers searched again on their totals"
ON_TOTALS = "trades of at least m on the relaxation's peer totals"
AROUND = "the MILP around the relaxation on its trades and its small trades' peers"
UNMOVED = (TRADES_BEFORE, PREVIOUS, GREEDY)  # the incumbents not yet improved by the local moves
REACH_SHARE = 0.5  # the search closes the pairs that cannot reach the accepted gap when at most this share can


def close_small_pairs(solver: LevelSolver, pairs: PairData, min_trade: float) -> np.ndarray:
    """Fix x = 0 on the pairs with min(s_i, r_j) < m: x >= m y and x <= cap y force y = 0 there.

    Exact (the MILP's feasible set is unchanged) and it tightens every relaxation. Returns the mask.
    """
    small = pairs.cap < min_trade - BELOW
    solver.fix(solver.cols(solver.m.p2p)[small], 0.0)
    return small


class MinTradeLevels:
    """The semi-continuous levels of one interval model (``solve`` one level at a time)."""

    def __init__(self, solver: LevelSolver, snap: IntervalSnapshot, pairs: PairData, min_trade: float):
        self.solver, self.snap, self.pairs, self.min_trade = solver, snap, pairs, min_trade
        m = solver.m
        self.x = solver.cols(m.p2p)
        self.y = solver.cols(m.transaction)
        self.binaries = (m.transaction, m.willing_seller, m.willing_buyer)
        self.never = close_small_pairs(solver, pairs, min_trade)
        solver.activate(m.min_trade)  # the MILP between levels

    @contextlib.contextmanager
    def relaxed(self) -> Iterator[None]:
        """No ``min_trade`` rows and continuous matching binaries inside the block."""
        solver = self.solver
        solver.activate(solver.m.min_trade, False)
        solver.set_integer(self.binaries, False)
        try:
            yield
        finally:
            solver.activate(solver.m.min_trade)
            solver.set_integer(self.binaries, True)

    @contextlib.contextmanager
    def modes_fixed(self) -> Iterator[None]:
        """The CES modes fixed at the current solution's values (and not integer) inside the block:
        with the relaxed matching binaries every solve is then an LP, warm-started from the last basis."""
        solver, m = self.solver, self.solver.m
        modes = np.concatenate([solver.cols(m.charging), solver.cols(m.discharging)])
        modes = modes[modes >= 0]
        solver.fix(modes, np.round(solver.x[modes]))
        solver.set_integer((m.charging, m.discharging), False)
        try:
            yield
        finally:
            solver.unfix(modes)
            solver.set_integer((m.charging, m.discharging), True)

    def _closable(
        self, losses: np.ndarray | None, lp: float, target: float | None, maximise: bool
    ) -> np.ndarray | None:
        """The open pairs that no point at least as good as ``target`` trades on (``trade_losses`` against
        the LP optimum ``lp``), when closing them leaves at most ``REACH_SHARE`` of the open pairs; else None."""
        if losses is None or target is None:
            return None
        slack = (lp - target if maximise else target - lp) + DUAL_MARGIN * max(1.0, abs(lp))
        open_ = ~self.never
        reach = (losses <= slack) & open_
        return open_ & ~reach if np.count_nonzero(reach) <= REACH_SHARE * np.count_nonzero(open_) else None

    def _search(
        self,
        level: int,
        name: str,
        limit: float,
        accept: float,
        closed: np.ndarray,
        start: np.ndarray,
        warm_start_exists: bool,
    ) -> tuple[LevelRecord, float, float]:
        """HiGHS on the MILP with the ``closed`` pairs fixed to 0, from ``start`` if it is one of its
        points, limited to ``NODE_LIMIT`` nodes and stopping at the relative gap ``accept``;
        (its record, s, HiGHS s), the record with no objective if it failed (``LevelFailed`` without
        an incumbent to keep). Its answer, if any, is left in the solver."""
        solver = self.solver
        solver.x = start
        warm = warm_start_exists and not (self.flows_of(start)[closed] > 0).any()
        solver.fix(self.x[closed], 0.0)
        solver.fix(self.y[closed], 0.0)
        try:
            # stop once the relative gap of models/FORMULATION.md §4 is proven (no absolute stop before it)
            tree = solver.solve(level, name, limit, accept, warm=warm, node_limit=NODE_LIMIT, abs_gap=GAP_EQUAL)
            return tree, tree.seconds, tree.highs_seconds or 0.0
        except LevelFailed as failed:
            if not warm_start_exists:
                raise  # nothing to fall back on: the level fails
            return failed.record, failed.record.seconds, 0.0
        finally:
            solver.unfix(self.x[closed])
            solver.unfix(self.y[closed])

    def _losses(self, level: int, name: str, limit: float, gap: float) -> tuple[np.ndarray | None, float, float, float]:
        """Each pair's least loss as a trade (``trade_losses``) at the level's LP relaxation with the CES
        modes continuous too; (losses or None, the LP's optimum, s, HiGHS s). The current solution is kept."""
        solver, m = self.solver, self.solver.m
        before = solver.x.copy()
        maximise = solver.maximise[f"obj_{name}"]
        modes = (m.charging, m.discharging)
        with self.relaxed():
            solver.set_integer(modes, False)
            try:
                record = solver.solve(level, name, limit, gap)
            except LevelFailed as failed:
                return None, float("nan"), failed.record.seconds, 0.0
            finally:
                solver.set_integer(modes, True)
            info = solver.highs.getInfo()
            losses = None
            if info.dual_solution_status == 2 and info.num_dual_infeasibilities == 0:  # kSolutionStatusFeasible
                duals = np.asarray(solver.highs.getSolution().col_dual)
                x, y = self.x, self.y
                losses = trade_losses(
                    duals[x], duals[y], solver.x[x], solver.x[y], self.pairs.cap, self.min_trade, maximise
                )
        solver.x = before
        return losses, record.objective, record.seconds, record.highs_seconds or 0.0

    def _flows(self) -> np.ndarray:
        return self.flows_of(self.solver.x)

    def flows_of(self, solution: np.ndarray) -> np.ndarray:
        """The flows of ``solution`` in pair order, solver dust (<= FLOW_EPS) as 0."""
        x = solution[self.x]
        return np.where(x > FLOW_EPS, x, 0.0)

    def consistent(self, flows: np.ndarray) -> np.ndarray:
        """The current solution with these flows and y, W set from them (y = 1 exactly where x > 0)."""
        set_incumbent(self.solver, self.pairs, flows)
        return self.solver.x.copy()

    def with_trades(
        self, flows: np.ndarray, level: int, name: str, limit: float, gap: float
    ) -> tuple[np.ndarray | None, float, float]:
        """The level with every flow fixed at ``flows`` (which meet the minimum); (solution or None, s, HiGHS s).

        Exact at level 2: the CES objective sees the trades only through their total (models/FORMULATION.md §4).
        """
        solver, open_ = self.solver, ~self.never  # the never-trading pairs stay fixed at 0 throughout
        solver.fix(self.x[open_], flows[open_])
        try:
            record = solver.solve(level, name, limit, gap)
            return solver.x.copy(), record.seconds, record.highs_seconds or 0.0
        except LevelFailed as failed:
            return None, failed.record.seconds, 0.0
        finally:
            solver.unfix(self.x[open_])

    def _neighbourhood(
        self, flows: np.ndarray, level: int, name: str, limit: float, gap: float, force: bool
    ) -> tuple[np.ndarray | None, float, float]:
        """The MILP restricted around the relaxation ``flows``; (solution or None, s, HiGHS s).

        Every pair of a peer with a flow in (0, m) is free (its y binary); the pairs whose flow
        meets the minimum stay open (``force``: y = 1, x >= m) or free; every other pair is closed.
        A sub-problem of the MILP: any answer is feasible for it. Limited by ``NODE_LIMIT`` nodes.
        At level 3 it is searched only if it frees at most ``REACH_SHARE`` of the open pairs (else
        (None, 0, 0)): a larger one costs about what the search of the whole MILP does.
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
            return None, 0.0, 0.0
        solver.fix(self.y[keep], 1.0)
        solver.set_lower(self.x[keep], m)
        solver.fix(self.x[closed], 0.0)
        solver.fix(self.y[closed], 0.0)
        changed = keep | closed
        try:
            record = solver.solve(level, name, limit, gap, node_limit=NODE_LIMIT, abs_gap=GAP_EQUAL)
            return solver.x.copy(), record.seconds, record.highs_seconds or 0.0
        except LevelFailed as failed:
            return None, failed.record.seconds, 0.0
        finally:
            solver.unfix(self.x[changed])
            solver.unfix(self.y[changed])

    def _around(self, flows: np.ndarray, level: int, name: str, limit: float, accept: float):
        """The sub-MILP around the relaxation ``flows`` with its trades free (``_neighbourhood``),
        its answer polished by the local moves; (a point of the MILP or None, s, HiGHS s)."""
        near, s, hs = self._neighbourhood(flows, level, name, limit, accept, False)
        if near is None or not self.solver.is_feasible(near):
            return None, s, hs
        return rounding.polished(self, name, near), s, hs

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
        solver = self.solver
        key = f"obj_{name}"
        maximise = solver.maximise[key]
        before = solver.x.copy()
        accept = gap if np.count_nonzero(~self.never) <= EXACT_PAIRS else max(gap, ACCEPT_GAP)
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
            seconds, highs_seconds = relaxation.seconds, relaxation.highs_seconds or 0.0
            bound = relaxation.bound if chain_bound is None else min(relaxation.bound, chain_bound)
            flows = self._flows()
            if not breaks_minimum(flows, self.min_trade).any():
                self.consistent(flows)
                return replace(relaxation, status=f"{relaxation.status}: the relaxation meets the minimum trade")
            relaxed_x = solver.x.copy()
            within = lambda x, g: (relative_gap(solver.objective(name, x), bound) or 0.0) <= g  # noqa: E731
            found: list[tuple[str, np.ndarray]] = []
            rounded = rounding.rounded(self, name, flows)
            if rounded is not None:
                found.append(("the relaxation with its small trades moved onto their peers' trades", rounded))
            if not any(within(x, accept) for _, x in found):
                local = rounding.on_local_totals(self, name, flows)
                if local is not None:
                    found.append((LOCAL_TOTALS, local))
            if level >= 3 and name not in SEPARABLE and not any(within(x, accept) for _, x in found):
                sparse, s, hs = rounding.sparse_vertex(self, level, name, limit, bound, accept)
                seconds, highs_seconds = seconds + s, highs_seconds + hs
                if sparse is not None:
                    found.append((SPARSE, sparse))
                solver.x = relaxed_x.copy()
            totals_tried = not any(within(x, gap if name in SEPARABLE else accept) for _, x in found)
            if totals_tried:  # optimal for the objectives of the totals; else polished by the local moves
                on_own = on_totals(self, relaxed_x, name)
                if on_own is not None:
                    found.append((ON_TOTALS, on_own if name in SEPARABLE else rounding.polished(self, name, on_own)))
            previous = self.flows_of(before)
            if not any(within(x, accept) for _, x in found) and not breaks_minimum(previous, self.min_trade).any():
                kept, s, hs = self.with_trades(previous, level, name, limit, gap)
                seconds, highs_seconds = seconds + s, highs_seconds + hs
                if kept is not None:
                    found.append((TRADES_BEFORE, kept))
            if not any(within(x, accept) for _, x in found):
                solver.x = relaxed_x.copy()
                repaired, s, hs = rounding.lp_rounds(self, level, name, limit, gap)
                seconds, highs_seconds = seconds + s, highs_seconds + hs
                if repaired is not None:
                    found.append(
                        ("LP rounds on the relaxation's repaired trades", rounding.polished(self, name, repaired))
                    )
        candidates: list[tuple[str, np.ndarray]] = []
        accepted = lambda x: within(x, accept)  # noqa: E731
        for source, x in found:
            solver.x = x
            candidates.append((source, self.consistent(self.flows_of(x))))
        solver.x = before
        if not breaks_minimum(previous, self.min_trade).any():
            candidates.append((PREVIOUS, self.consistent(previous)))
        if greedy is not None:
            solver.x = relaxed_x.copy()  # the CES of the relaxation, shared over what each peer has left
            share_ces(solver, self.snap, self.pairs, greedy)
            candidates.append((GREEDY, self.consistent(greedy)))
        if level >= 3 and accept > gap:  # improved window by window (a small model is searched exactly)
            windowed, hs = rounding.windowed(self, name, candidates, UNMOVED, bound, accept, limit)
            seconds, highs_seconds, candidates = seconds + hs, highs_seconds + hs, candidates + windowed
        for force in (True, False) if level < 3 else (True,):  # level 3: the free one only in ``_around``
            if any(accepted(x) for _, x in candidates):
                break
            near, s, hs = self._neighbourhood(flows, level, name, limit, gap if level < 3 else accept, force)
            seconds, highs_seconds = seconds + s, highs_seconds + hs
            if near is not None:
                source = "the MILP around the relaxation with its trades kept" if force else AROUND
                candidates.append((source, rounding.polished(self, name, near)))
        candidates = [(source, x) for source, x in candidates if solver.is_feasible(x)]
        if not any(accepted(x) for _, x in candidates):  # the local moves on the candidates that had none yet
            candidates = [
                (source, rounding.polished(self, name, x) if source in UNMOVED else x) for source, x in candidates
            ]
        if name in SEPARABLE and not any(accepted(x) for _, x in candidates):
            held, s, hs = with_totals(self, relaxed_x, level, name, limit, gap, NODE_LIMIT, totals_tried)
            seconds, highs_seconds = seconds + s, highs_seconds + hs
            if held is not None and solver.is_feasible(held):
                candidates.append(("the MILP with every peer's total held at the relaxation's", held))
        around_tried = False  # level 3: the sub-MILP with the relaxation's trades free, once
        if level >= 3 and name in SEPARABLE and not any(accepted(x) for _, x in candidates):
            around_tried = True  # after the held totals, before the searches (models/FORMULATION.md §4)
            near, s, hs = self._around(flows, level, name, limit, accept)
            seconds, highs_seconds = seconds + s, highs_seconds + hs
            if near is not None:
                candidates.append((AROUND, near))
        sign = 1.0 if maximise else -1.0
        if candidates:
            source, best = max(candidates, key=lambda c: sign * solver.objective(name, c[1]))
            value = solver.objective(name, best)
            status = f"incumbent from {source}"
        else:  # the search starts from nothing
            best, value, status = relaxed_x, None, "no incumbent"
        solver.x = best
        if value is not None and (relative_gap(value, bound) or 0.0) <= gap:
            status = f"optimal: {status} within mip_gap of the relaxation's bound"
        elif value is not None and (relative_gap(value, bound) or 0.0) <= accept:
            status = f"{status}, proven within {accept:.0%} of the relaxation's bound"
        else:
            losses, lp = None, float("nan")
            if value is not None:  # without an incumbent the search must find any point, not only good ones
                losses, lp, s, hs = self._losses(level, name, limit, gap)
                seconds, highs_seconds = seconds + s, highs_seconds + hs
            # first where a point within the accepted gap of the bound can be (an incumbent), then where a
            # point that proves the incumbent can be (the proof); each closes the pairs that cannot reach
            # its target, so the bound becomes the better of the search's and the target
            hope = bound_target(bound, accept, maximise)
            # (and, should that not prove it, on every pair, as without the reduced costs)
            everything = np.zeros(len(self.x), dtype=bool)
            last_closed = everything
            ran_out = False  # a search ended at its node limit: a larger one would not finish either
            last_tree = None  # the last search's record, when it closed pairs and ended with an answer
            for stage, target in (("the bound", hope), ("the incumbent", None), ("every pair", None)):
                if stage != "the bound":
                    if ran_out or (value is not None and (relative_gap(value, bound) or 0.0) <= accept):
                        break
                    if stage == "every pair" and not last_closed.any():
                        break  # the stage before searched every pair already
                    if stage == "the incumbent" and value is not None:
                        target = target_value(value, accept, maximise)
                closed = self._closable(losses, lp, target, maximise)
                if last_tree is not None and closed is not None and np.array_equal(closed, last_closed):
                    # the same pairs as the search before, from the same incumbent: its tree's bound with this target
                    bound = combined_bound(bound, last_tree.bound, target, maximise)
                    continue
                if closed is None:
                    if stage == "the bound":
                        continue
                    closed = everything
                    if level >= 3 and not around_tried:  # before the whole MILP: the sub-MILP around the relaxation
                        around_tried = True
                        near, s, hs = self._around(flows, level, name, limit, accept)
                        seconds, highs_seconds = seconds + s, highs_seconds + hs
                        if near is not None:
                            near_value = solver.objective(name, near)
                            if value is None or sign * near_value > sign * value + 1e-12:
                                value, best, status = near_value, near, f"incumbent from {AROUND}"
                            if (relative_gap(value, bound) or 0.0) <= accept:
                                status = f"{status}, proven within {accept:.0%} of the relaxation's bound"
                                break
                last_closed = closed
                what = f" on the {np.count_nonzero(~closed & ~self.never)} pairs that can reach {accept:.0%} of {stage}"
                tree, s, hs = self._search(level, name, limit, accept, closed, best, value is not None)
                seconds, highs_seconds = seconds + s, highs_seconds + hs
                ran_out = tree.status.startswith("maxNodes")
                if tree.objective is None or tree.status.split(" ")[0] not in ("optimal", "maxNodes", "maxTimeLimit"):
                    status = f"{tree.status}: a node-limited search{what if closed.any() else ''} kept the {status}"
                    continue
                if closed.any():  # a point on a closed pair is worse than the target
                    bound = combined_bound(bound, tree.bound, target, maximise)
                    last_tree = tree
                elif tree.bound is not None and np.isfinite(tree.bound):
                    bound = min(bound, tree.bound) if maximise else max(bound, tree.bound)
                searched = f"a node-limited search{what if closed.any() else ''}"
                if value is None or sign * tree.objective > sign * value + 1e-12:
                    value, best = tree.objective, solver.x.copy()
                    status = f"{tree.status}: {searched} improved the {status}"
                else:
                    status = f"{tree.status}: {searched} kept the {status}"
            solver.x = best
            final = relative_gap(value, bound)
            if status.startswith("optimal:") and final is not None and final > gap:
                # HiGHS's "optimal" means its search met the accepted gap, not this level's mip_gap
                proven = f"proven within {accept:.0%}" if final <= accept else f"{final:.1%} from the bound"
                status = f"{proven}:{status.removeprefix('optimal:')}"
        return LevelRecord(level, name, status, value, bound, relative_gap(value, bound), seconds, highs_seconds)
