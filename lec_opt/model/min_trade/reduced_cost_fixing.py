"""The pairs a point within the accepted gap may use: reduced-cost fixing towards a target
(models/FORMULATION.md §4, "Levels with a minimum trade", step 4).

The LP relaxation of a level (no ``min_trade`` rows, every binary continuous) has optimum b' and,
at an optimal basis, reduced costs d. For every point z the LP admits, each MILP point included,
c·z ≤ b' − Σ_k loss_k(z) when maximising (≥ b' + Σ loss when minimising), where a column at its
lower bound 0 loses |d_k| per unit it rises. A pair (i, j) that trades carries x ≥ m and, through
x ≤ cap·y, y ≥ m / cap: if both sit at 0 in the LP's answer, that trade alone loses at least
|d_x| m + |d_y| m / cap. A pair whose loss exceeds the slack |b' − T| trades in no MILP point better than a target T, so a
search for such points may close it: every point it misses is worse than T, and the level's bound
becomes the better of T and the search's own bound (``combined_bound``). The targets: a value within
the accepted gap of the bound (``bound_target``), to find a better incumbent, and the bound that
would prove the incumbent v within the accepted gap (``target_value``): then either the search's
bound is better than T, and the search's own gap holds, or the bound is T, and every answer at
least as good as v is within the accepted gap of it.

``losses_at_relaxation`` solves that LP relaxation and reads each pair's loss; ``closable`` says
which pairs a search towards a target may close.
"""

from __future__ import annotations

import numpy as np

from lec_opt.model.level_solver import LevelFailed
from lec_opt.model.min_trade.context import REACH_SHARE, LevelTask, MinTradeContext
from lec_opt.model.tolerances import FLOW_EPS

TARGET_SHARE = 1.0 - 1e-6  # of the accepted gap: the target's own rounding stays inside it
DUAL_MARGIN = 1e-7  # per unit of |b'|: the duals are feasible within HiGHS's dual tolerance, not exactly


def trade_losses(
    x_dual: np.ndarray,
    y_dual: np.ndarray,
    x_value: np.ndarray,
    y_value: np.ndarray,
    cap: np.ndarray,
    min_trade: float,
    maximise: bool,
) -> np.ndarray:
    """The least each pair costs the LP optimum when it trades (at least m): |d_x| m + |d_y| m / cap
    for a flow and binary at 0 in the LP's answer (0 for one that is not).

    ``x_dual``, ``y_dual``: the reduced costs of each pair's flow and binary at the LP optimum
    (HiGHS's sign: <= 0 at a lower bound when maximising, >= 0 when minimising); ``x_value``,
    ``y_value``: the LP's answer. A wrong sign (dual infeasibility within tolerance) counts as no loss.
    Summed over the pairs a MILP point trades on, the losses are at most b' − its value (maximising).
    """
    per_x = np.maximum(0.0, -x_dual if maximise else x_dual)
    per_y = np.maximum(0.0, -y_dual if maximise else y_dual)
    loss = np.where(x_value <= FLOW_EPS, per_x * min_trade, 0.0)
    return loss + np.where(y_value <= FLOW_EPS, per_y * min_trade / np.maximum(cap, min_trade), 0.0)


def bound_target(bound: float, accept: float, maximise: bool) -> float:
    """The worst value v still within ``accept`` of ``bound`` by the relative gap |v − b| / |v|:
    b / (1 + accept) or b / (1 − accept), whichever lies on the feasible side of b; ∓inf for accept >= 1."""
    if accept >= 1.0:
        return -np.inf if maximise else np.inf
    return bound / (1.0 + accept) if maximise == (bound > 0) else bound / (1.0 - accept)


def target_value(incumbent: float, accept: float, maximise: bool) -> float:
    """The bound that proves ``incumbent`` within ``accept`` by the relative gap |v − b| / |v|:
    v + accept·|v| (maximising) or v − accept·|v|, a hair closer to v (``TARGET_SHARE``) so that
    rounding cannot put the proven gap above ``accept``."""
    room = accept * TARGET_SHARE * abs(incumbent)
    return incumbent + room if maximise else incumbent - room


def combined_bound(bound: float, tree_bound: float | None, target: float, maximise: bool) -> float:
    """The level's bound after a search over the reachable pairs only: a point outside them is worse
    than ``target``, a point inside them no better than ``tree_bound`` (the sub-MILP's bound)."""
    if tree_bound is None or not np.isfinite(tree_bound):
        return bound
    return min(bound, max(tree_bound, target)) if maximise else max(bound, min(tree_bound, target))


def closable(
    ctx: MinTradeContext, losses: np.ndarray | None, lp: float, target: float | None, maximise: bool
) -> np.ndarray | None:
    """The open pairs that no point at least as good as ``target`` trades on (``trade_losses`` against
    the LP optimum ``lp``), when closing them leaves at most ``REACH_SHARE`` of the open pairs; else None."""
    if losses is None or target is None:
        return None
    slack = (lp - target if maximise else target - lp) + DUAL_MARGIN * max(1.0, abs(lp))
    open_ = ~ctx.never
    reach = (losses <= slack) & open_
    return open_ & ~reach if np.count_nonzero(reach) <= REACH_SHARE * np.count_nonzero(open_) else None


def losses_at_relaxation(ctx: MinTradeContext, task: LevelTask) -> tuple[np.ndarray | None, float, float]:
    """Each pair's least loss as a trade (``trade_losses``) at the level's LP relaxation with the CES
    modes continuous too; (losses or None, the LP's optimum, HiGHS s). The current solution is kept."""
    solver, m = ctx.solver, ctx.solver.m
    before = solver.x.copy()
    maximise = solver.maximise[f"obj_{task.name}"]
    modes = (m.charging, m.discharging)
    with ctx.relaxed():
        solver.set_integer(modes, False)
        try:
            record, duals = solver.solve_with_duals(task.level, task.name, task.limit, task.gap)
        except LevelFailed:
            return None, float("nan"), 0.0
        finally:
            solver.set_integer(modes, True)
        losses = None
        if duals is not None:  # HiGHS's reduced costs, dual feasible
            x, y, lp = ctx.x, ctx.y, solver.x
            losses = trade_losses(duals[x], duals[y], lp[x], lp[y], ctx.pairs.cap, ctx.min_trade, maximise)
    solver.keep(before)
    return losses, record.objective, record.highs_seconds or 0.0
