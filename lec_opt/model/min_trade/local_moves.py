"""Local moves on a point of the MILP, without a solve (models/FORMULATION.md §4, "Levels with a
minimum trade", step 3(a), "Local moves").

``moved``: flows that keep the minimum improved by the swaps, shifts and cycles of
``lec_opt.model.min_trade.trade_moves``, made a point with a given point's CES totals shared over
what each peer has left; ``polished``: a point replaced by its moved self when that is better.
A point counts only if it meets every row HiGHS holds.
"""

from __future__ import annotations

import numpy as np

from lec_opt.model.level4 import share_ces
from lec_opt.model.min_trade.context import MinTradeContext
from lec_opt.model.min_trade.trade_moves import improve_trades


def moved(ctx: MinTradeContext, flows: np.ndarray, args: tuple, ces_of: np.ndarray) -> np.ndarray | None:
    """``flows`` (which keep the minimum) improved by local moves (``improve_trades``), with the
    CES totals of ``ces_of`` shared over what each peer has left: a point of the MILP, or None if it
    breaks a row. ``ces_of`` is not changed (the point is built on a copy). ``args``:
    ``MinTradeContext.repair_args``."""
    improved = improve_trades(flows, *args)
    shared = share_ces(ctx.solver, ctx.snap, ctx.pairs, improved, ces_of.copy())
    point = ctx.consistent(improved, shared)
    return point if ctx.is_point(point) else None


def better(ctx: MinTradeContext, name: str, candidate: np.ndarray | None, point: np.ndarray) -> bool:
    """Is ``candidate`` (None: no) strictly better than ``point`` for objective ``obj_<name>``?"""
    if candidate is None:
        return False
    sign, objective = ctx.sign(name), ctx.solver.objective
    return not sign * objective(name, candidate) <= sign * objective(name, point) + 1e-12


def polished(ctx: MinTradeContext, name: str, point: np.ndarray) -> np.ndarray:
    """A point of the MILP after the local moves (``moved``, its own CES totals shared), if that
    is better for the level; else the point itself."""
    candidate = moved(ctx, ctx.flows_of(point), ctx.repair_args(name), point)
    return candidate if better(ctx, name, candidate, point) else point
