"""Candidates improved window by window (models/FORMULATION.md §4, "Levels with a minimum trade",
step 3(g)): at level 3, when no candidate is within the accepted gap, the best one's trades are
re-solved a few sellers at a time (``lec_opt.model.min_trade.trade_windows``), then moved.
"""

from __future__ import annotations

import numpy as np

from lec_opt.model.min_trade.context import LevelTask, MinTradeContext
from lec_opt.model.min_trade.local_moves import better, moved, polished
from lec_opt.model.min_trade.reduced_cost_fixing import bound_target
from lec_opt.model.min_trade.trade_windows import improve_by_windows
from lec_opt.model.sources import Origin

WINDOW_STARTS = 2  # candidates a window sweep starts from, the next only when the one before improved nothing


def windowed(
    ctx: MinTradeContext, task: LevelTask, candidates: list[tuple[Origin, np.ndarray]], bound: float
) -> tuple[list[tuple[Origin, np.ndarray]], float]:
    """When no feasible candidate is within the accepted gap of ``bound``: the best one (polished
    first if the local moves have not improved it yet, ``Origin.unmoved``) with its trades improved
    window by window (``improve_by_windows``) until it is, then ``moved``; if the windows improve
    nothing, the next best one likewise (up to ``WINDOW_STARTS`` starts); ([(source, point)] of
    each start, [] if none is feasible; HiGHS s)."""
    solver, name, accept = ctx.solver, task.name, task.accept
    sign = ctx.sign(name)
    feasible = [(source, x) for source, x in candidates if ctx.is_point(x)]
    if not feasible or any(ctx.within(name, x, bound, accept) for _, x in feasible):
        return [], 0.0
    feasible.sort(key=lambda c: -sign * solver.objective(name, c[1]))  # stable: the earlier source first on ties
    pairs, surplus, deficit, allowed, cost, m = args = ctx.repair_args(name)
    target = -sign * (bound_target(bound, accept, sign > 0) - solver.cost_offset[f"obj_{name}"])  # in Σ cost·x
    options = solver.options | {"time_limit": task.limit}
    improved, seconds = [], 0.0
    for source, point in feasible[:WINDOW_STARTS]:
        point = polished(ctx, name, point) if source.unmoved else point
        stalled = False
        if not ctx.within(name, point, bound, accept):
            flows, s = improve_by_windows(
                ctx.flows_of(point), pairs, (surplus, deficit), allowed, cost, m, target, options
            )
            seconds += s
            candidate = moved(ctx, flows, args, point)
            stalled = not better(ctx, name, candidate, point)
            point = point if candidate is None else candidate
        improved.append((source.then(", improved window by window"), point))
        if ctx.within(name, point, bound, accept) or not stalled:  # a sweep that moved its start: then the search
            break
    return improved, seconds
