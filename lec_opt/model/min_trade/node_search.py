"""Step 4 of a level with a minimum trade: HiGHS's node-limited searches of the MILP from the
incumbent, each with the pairs closed that no point good enough can use (models/FORMULATION.md §4,
"Levels with a minimum trade", step 4).

First where a point within the accepted gap of the bound can be (an incumbent), then where a point
that proves the incumbent can be (the proof), then, should that not prove it, on every pair; the
pairs are closed by the reduced costs of the LP relaxation towards each target
(``lec_opt.model.min_trade.reduced_cost_fixing``), so the bound becomes the better of the search's
and the target. Each search is limited by ``NODE_LIMIT`` nodes, never by time.
"""

from __future__ import annotations

import numpy as np

from lec_opt.market.result import LevelRecord, LevelStatus, Status
from lec_opt.model.level_solver import GAP_EQUAL, LevelFailed, relative_gap
from lec_opt.model.min_trade.context import NODE_LIMIT, Incumbent, LevelTask, MinTradeContext
from lec_opt.model.min_trade.neighbourhood import around
from lec_opt.model.min_trade.reduced_cost_fixing import (
    bound_target,
    closable,
    combined_bound,
    losses_at_relaxation,
    target_value,
)
from lec_opt.model.sources import Origin, Source

# the states of a search that ended with an answer (a node or time limit keeps the incumbent it found)
ANSWERED = (LevelStatus.OPTIMAL, LevelStatus.NODE_LIMIT, LevelStatus.TIME_LIMIT)


def node_limited(
    ctx: MinTradeContext, task: LevelTask, closed: np.ndarray, start: np.ndarray, warm_start_exists: bool
) -> tuple[LevelRecord, float]:
    """HiGHS on the MILP with the ``closed`` pairs fixed to 0, from ``start`` if it is one of its
    points, limited to ``NODE_LIMIT`` nodes and stopping at the accepted gap; (its record, HiGHS s),
    the record with no objective if it failed (``LevelFailed`` without an incumbent to keep). Its
    answer, if any, is left in the solver."""
    solver = ctx.solver
    warm = warm_start_exists and not (ctx.flows_of(start)[closed] > 0).any()
    try:
        with solver.restored(ctx.x[closed], ctx.y[closed]):
            solver.fix(ctx.x[closed], 0.0)
            solver.fix(ctx.y[closed], 0.0)
            # stop once the relative gap of models/FORMULATION.md §4 is proven (no absolute stop before it)
            tree = solver.solve(
                task.level,
                task.name,
                task.limit,
                task.accept,
                start=start if warm else None,
                node_limit=NODE_LIMIT,
                abs_gap=GAP_EQUAL,
            )
        return tree, tree.highs_seconds or 0.0
    except LevelFailed as failed:
        if not warm_start_exists:
            raise  # nothing to fall back on: the level fails
        return failed.record, 0.0


def _around_first(ctx: MinTradeContext, task: LevelTask, flows: np.ndarray, now: Incumbent) -> bool:
    """The sub-MILP around the relaxation ``flows`` (``around``), its answer the incumbent if better;
    whether the incumbent is then proven within the accepted gap."""
    near, hs = around(ctx, task, flows)
    now.highs_seconds += hs
    if near is not None:
        near_value = ctx.solver.objective(task.name, near)
        if now.value is None or ctx.sign(task.name) * near_value > ctx.sign(task.name) * now.value + 1e-12:
            now.value, now.best = near_value, near
            now.status = Status(LevelStatus.INCUMBENT, f" {Origin(Source.AROUND)}")
        if now.within(task.accept):
            now.status = now.status.then(f", proven within {task.accept:.0%} of the relaxation's bound")
            return True
    return False


def _take(
    ctx: MinTradeContext, task: LevelTask, now: Incumbent, tree: LevelRecord, closed: np.ndarray, target, what: str
) -> None:
    """A search's answer ``tree`` into the incumbent ``now``: its bound (with ``target`` when pairs
    were ``closed``), its point when better, and the status saying which search did what."""
    maximise, sign = ctx.sign(task.name) > 0, ctx.sign(task.name)
    if closed.any():  # a point on a closed pair is worse than the target
        now.bound = combined_bound(now.bound, tree.bound, target, maximise)
    elif tree.bound is not None and np.isfinite(tree.bound):
        now.bound = min(now.bound, tree.bound) if maximise else max(now.bound, tree.bound)
    searched = f"a node-limited search{what if closed.any() else ''}"
    if now.value is None or sign * tree.objective > sign * now.value + 1e-12:
        now.value, now.best = tree.objective, ctx.solver.x.copy()
        now.status = tree.how.then(f": {searched} improved the {now.status}")
    else:
        now.status = tree.how.then(f": {searched} kept the {now.status}")


def search(ctx: MinTradeContext, task: LevelTask, flows: np.ndarray, now: Incumbent, around_tried: bool) -> None:
    """The searches of step 4 from the incumbent ``now`` (updated in place; its point left in the
    solver); ``flows``: the relaxation's, around which the sub-MILP of step 3(d) runs once at level 3
    before the first search of every pair (unless ``around_tried``)."""
    accept, maximise = task.accept, ctx.sign(task.name) > 0
    losses, lp = None, float("nan")
    if now.value is not None:  # without an incumbent the search must find any point, not only good ones
        losses, lp, hs = losses_at_relaxation(ctx, task)
        now.highs_seconds += hs
    everything = np.zeros(len(ctx.x), dtype=bool)
    last_closed, ran_out, last_tree = everything, False, None  # ran_out: a search ended at its node limit
    for stage, target in (
        ("the bound", bound_target(now.bound, accept, maximise)),
        ("the incumbent", None),
        ("every pair", None),
    ):
        if stage != "the bound":
            if ran_out or now.within(accept) or (stage == "every pair" and not last_closed.any()):
                break  # a larger search would not finish either / proven / the stage before searched every pair
            if stage == "the incumbent" and now.value is not None:
                target = target_value(now.value, accept, maximise)
        closed = closable(ctx, losses, lp, target, maximise)
        if last_tree is not None and closed is not None and np.array_equal(closed, last_closed):
            # the same pairs as the search before, from the same incumbent: its tree's bound with this target
            now.bound = combined_bound(now.bound, last_tree.bound, target, maximise)
            continue
        if closed is None:
            if stage == "the bound":
                continue
            closed = everything
            if task.level >= 3 and not around_tried:  # before the whole MILP: the sub-MILP around the relaxation
                around_tried = True
                if _around_first(ctx, task, flows, now):
                    break
        last_closed = closed
        what = f" on the {np.count_nonzero(~closed & ~ctx.never)} pairs that can reach {accept:.0%} of {stage}"
        tree, hs = node_limited(ctx, task, closed, now.best, now.value is not None)
        now.highs_seconds += hs
        ran_out = tree.state is LevelStatus.NODE_LIMIT
        if tree.objective is None or tree.state not in ANSWERED:
            now.status = tree.how.then(f": a node-limited search{what if closed.any() else ''} kept the {now.status}")
            continue
        last_tree = tree if closed.any() else last_tree
        _take(ctx, task, now, tree, closed, target, what)
    ctx.solver.keep(now.best)
    _settle(now, task)


def _settle(now: Incumbent, task: LevelTask) -> None:
    """HiGHS's "optimal" means its search met the accepted gap, not this level's mip_gap: the status
    says which gap the incumbent is proven within."""
    final = relative_gap(now.value, now.bound)
    if now.status.state is LevelStatus.OPTIMAL and final is not None and final > task.gap:
        if final <= task.accept:
            now.status = Status(LevelStatus.WITHIN_GAP, now.status.detail, proven=task.accept)
        else:
            now.status = Status(LevelStatus.OUTSIDE_GAP, now.status.detail, proven=final)
