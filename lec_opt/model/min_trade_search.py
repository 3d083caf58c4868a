"""Step 4 of a level with a minimum trade: HiGHS's node-limited searches of the MILP from the
incumbent, each with the pairs closed that no point good enough can use (models/FORMULATION.md §4,
"Levels with a minimum trade", step 4).

First where a point within the accepted gap of the bound can be (an incumbent), then where a point
that proves the incumbent can be (the proof), then, should that not prove it, on every pair; the
pairs are closed by the reduced costs of the LP relaxation towards each target
(``lec_opt.model.reach``), so the bound becomes the better of the search's and the target. Each
search is limited by ``NODE_LIMIT`` nodes, never by time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lec_opt.market.result import LevelRecord, LevelStatus, Status
from lec_opt.model.level_solver import GAP_EQUAL, LevelFailed, relative_gap
from lec_opt.model.reach import DUAL_MARGIN, bound_target, combined_bound, target_value, trade_losses
from lec_opt.model.sources import Origin, Source

if TYPE_CHECKING:
    from lec_opt.model.min_trade import MinTradeLevels

NODE_LIMIT = 200  # branch-and-bound nodes of the MILP search when the incumbent misses the gap
# the states of a search that ended with an answer (a node or time limit keeps the incumbent it found)
ANSWERED = (LevelStatus.OPTIMAL, LevelStatus.NODE_LIMIT, LevelStatus.TIME_LIMIT)
REACH_SHARE = 0.5  # the search closes the pairs that cannot reach the accepted gap when at most this share can


@dataclass
class Incumbent:
    """A level's answer so far: its point, value (None: no point yet), bound, status and HiGHS's time."""

    best: np.ndarray
    value: float | None
    bound: float
    status: Status
    highs_seconds: float = 0.0

    def within(self, gap: float) -> bool:
        """Is there a point, proven within relative ``gap`` of the bound?"""
        return self.value is not None and (relative_gap(self.value, self.bound) or 0.0) <= gap


def closable(
    semi: MinTradeLevels, losses: np.ndarray | None, lp: float, target: float | None, maximise: bool
) -> np.ndarray | None:
    """The open pairs that no point at least as good as ``target`` trades on (``trade_losses`` against
    the LP optimum ``lp``), when closing them leaves at most ``REACH_SHARE`` of the open pairs; else None."""
    if losses is None or target is None:
        return None
    slack = (lp - target if maximise else target - lp) + DUAL_MARGIN * max(1.0, abs(lp))
    open_ = ~semi.never
    reach = (losses <= slack) & open_
    return open_ & ~reach if np.count_nonzero(reach) <= REACH_SHARE * np.count_nonzero(open_) else None


def node_limited(
    semi: MinTradeLevels,
    level: int,
    name: str,
    limit: float,
    accept: float,
    closed: np.ndarray,
    start: np.ndarray,
    warm_start_exists: bool,
) -> tuple[LevelRecord, float]:
    """HiGHS on the MILP with the ``closed`` pairs fixed to 0, from ``start`` if it is one of its
    points, limited to ``NODE_LIMIT`` nodes and stopping at the relative gap ``accept``;
    (its record, HiGHS s), the record with no objective if it failed (``LevelFailed`` without
    an incumbent to keep). Its answer, if any, is left in the solver."""
    solver = semi.solver
    warm = warm_start_exists and not (semi.flows_of(start)[closed] > 0).any()
    try:
        with solver.restored(semi.x[closed], semi.y[closed]):
            solver.fix(semi.x[closed], 0.0)
            solver.fix(semi.y[closed], 0.0)
            # stop once the relative gap of models/FORMULATION.md §4 is proven (no absolute stop before it)
            tree = solver.solve(
                level, name, limit, accept, start=start if warm else None, node_limit=NODE_LIMIT, abs_gap=GAP_EQUAL
            )
        return tree, tree.highs_seconds or 0.0
    except LevelFailed as failed:
        if not warm_start_exists:
            raise  # nothing to fall back on: the level fails
        return failed.record, 0.0


def losses_at_relaxation(
    semi: MinTradeLevels, level: int, name: str, limit: float, gap: float
) -> tuple[np.ndarray | None, float, float]:
    """Each pair's least loss as a trade (``trade_losses``) at the level's LP relaxation with the CES
    modes continuous too; (losses or None, the LP's optimum, HiGHS s). The current solution is kept."""
    solver, m = semi.solver, semi.solver.m
    before = solver.x.copy()
    maximise = solver.maximise[f"obj_{name}"]
    modes = (m.charging, m.discharging)
    with semi.relaxed():
        solver.set_integer(modes, False)
        try:
            record, duals = solver.solve_with_duals(level, name, limit, gap)
        except LevelFailed:
            return None, float("nan"), 0.0
        finally:
            solver.set_integer(modes, True)
        losses = None
        if duals is not None:  # HiGHS's reduced costs, dual feasible
            x, y, lp = semi.x, semi.y, solver.x
            losses = trade_losses(duals[x], duals[y], lp[x], lp[y], semi.pairs.cap, semi.min_trade, maximise)
    solver.keep(before)
    return losses, record.objective, record.highs_seconds or 0.0


def search(
    semi: MinTradeLevels,
    level: int,
    name: str,
    limit: float,
    gap: float,
    accept: float,
    flows: np.ndarray,
    now: Incumbent,
    around_tried: bool,
) -> None:
    """The searches of step 4 from the incumbent ``now`` (updated in place; its point left in the
    solver); ``flows``: the relaxation's, around which the sub-MILP of step 3(d) runs once at level 3
    before the first search of every pair (unless ``around_tried``)."""
    solver = semi.solver
    maximise = solver.maximise[f"obj_{name}"]
    sign = 1.0 if maximise else -1.0
    losses, lp = None, float("nan")
    if now.value is not None:  # without an incumbent the search must find any point, not only good ones
        losses, lp, hs = losses_at_relaxation(semi, level, name, limit, gap)
        now.highs_seconds += hs
    hope = bound_target(now.bound, accept, maximise)
    everything = np.zeros(len(semi.x), dtype=bool)
    last_closed = everything
    ran_out = False  # a search ended at its node limit: a larger one would not finish either
    last_tree = None  # the last search's record, when it closed pairs and ended with an answer
    for stage, target in (("the bound", hope), ("the incumbent", None), ("every pair", None)):
        if stage != "the bound":
            if ran_out or now.within(accept):
                break
            if stage == "every pair" and not last_closed.any():
                break  # the stage before searched every pair already
            if stage == "the incumbent" and now.value is not None:
                target = target_value(now.value, accept, maximise)
        closed = closable(semi, losses, lp, target, maximise)
        if last_tree is not None and closed is not None and np.array_equal(closed, last_closed):
            # the same pairs as the search before, from the same incumbent: its tree's bound with this target
            now.bound = combined_bound(now.bound, last_tree.bound, target, maximise)
            continue
        if closed is None:
            if stage == "the bound":
                continue
            closed = everything
            if level >= 3 and not around_tried:  # before the whole MILP: the sub-MILP around the relaxation
                around_tried = True
                near, hs = semi.around(flows, level, name, limit, accept)
                now.highs_seconds += hs
                if near is not None:
                    near_value = solver.objective(name, near)
                    if now.value is None or sign * near_value > sign * now.value + 1e-12:
                        now.value, now.best = near_value, near
                        now.status = Status(LevelStatus.INCUMBENT, f" {Origin(Source.AROUND)}")
                    if now.within(accept):
                        now.status = now.status.then(f", proven within {accept:.0%} of the relaxation's bound")
                        break
        last_closed = closed
        what = f" on the {np.count_nonzero(~closed & ~semi.never)} pairs that can reach {accept:.0%} of {stage}"
        tree, hs = node_limited(semi, level, name, limit, accept, closed, now.best, now.value is not None)
        now.highs_seconds += hs
        ran_out = tree.state is LevelStatus.NODE_LIMIT
        if tree.objective is None or tree.state not in ANSWERED:
            now.status = tree.how.then(f": a node-limited search{what if closed.any() else ''} kept the {now.status}")
            continue
        if closed.any():  # a point on a closed pair is worse than the target
            now.bound = combined_bound(now.bound, tree.bound, target, maximise)
            last_tree = tree
        elif tree.bound is not None and np.isfinite(tree.bound):
            now.bound = min(now.bound, tree.bound) if maximise else max(now.bound, tree.bound)
        searched = f"a node-limited search{what if closed.any() else ''}"
        if now.value is None or sign * tree.objective > sign * now.value + 1e-12:
            now.value, now.best = tree.objective, solver.x.copy()
            now.status = tree.how.then(f": {searched} improved the {now.status}")
        else:
            now.status = tree.how.then(f": {searched} kept the {now.status}")
    solver.keep(now.best)
    final = relative_gap(now.value, now.bound)
    if now.status.state is LevelStatus.OPTIMAL and final is not None and final > gap:
        # HiGHS's "optimal" means its search met the accepted gap, not this level's mip_gap
        if final <= accept:
            now.status = Status(LevelStatus.WITHIN_GAP, now.status.detail, proven=accept)
        else:
            now.status = Status(LevelStatus.OUTSIDE_GAP, now.status.detail, proven=final)
