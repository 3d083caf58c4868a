"""Levels of the peers' totals only (level 1, priority C's level 3) on nested pairs, answered before
any relaxation is solved (models/FORMULATION.md §4, "Levels with a minimum trade", step 2).

``nested_volume``: level 1's relaxation in closed form (the nested greedy's volume over the peers of
at least m), its flows repaired. ``on_chain``: the totals' MILP along the chain of nested sellers
(``lec_opt.model.min_trade.chain_totals``), its totals met by trades of at least m without a solver
(``lec_opt.model.min_trade.totals_search``). Each fixes its flows and solves the rest of the point; it is the
level's answer when within the accepted gap of its bound.
"""

from __future__ import annotations

from lec_opt.market.pairs import nested_flows
from lec_opt.market.result import LevelRecord, LevelStatus, Status
from lec_opt.model.level_solver import LOOSE, relative_gap
from lec_opt.model.min_trade.chain_totals import chain_totals
from lec_opt.model.min_trade.context import LevelTask, MinTradeContext
from lec_opt.model.min_trade.small_trades import repair_small_trades
from lec_opt.model.min_trade.totals_search import flows_on_totals


def _proven(gap_now: float | None, gap: float, accept: float, detail: str) -> Status:
    """Optimal when within ``gap`` of the bound, else proven within ``accept``."""
    if (gap_now or 0.0) <= gap:
        return Status(LevelStatus.OPTIMAL, detail)
    return Status(LevelStatus.WITHIN_GAP, detail, proven=accept)


def nested_volume(ctx: MinTradeContext, task: LevelTask) -> LevelRecord | None:
    """Level 1 from its relaxation in closed form, or None (then the steps below).

    When the buyers' sets of allowed sellers that can trade (both energies >= m) are nested (dense
    pairs; C's price rule), the relaxation's optimum is the nested greedy's volume
    (``nested_flows``): its bound. Those flows repaired (``repair_small_trades``, which keeps
    the volume or adds up to m) and fixed, the rest of the point solved: the answer if within the
    accepted gap of that bound.
    """
    solver, level, gap, accept = ctx.solver, task.level, task.gap, task.accept
    args = ctx.repair_args("p2p")
    _, _, _, allowed, _, _ = args  # the pairs that can trade
    flows = nested_flows(ctx.snap, ctx.pairs, allowed)
    if flows is None:
        return None
    bound = float(flows.sum())
    repaired = repair_small_trades(flows, *args)
    if repaired is None or (relative_gap(float(repaired.sum()), bound) or 0.0) > accept:
        return None
    kept, highs_seconds = ctx.with_trades(repaired, task)
    if kept is None:
        return None
    value = solver.objective("p2p")
    what = ": the nested volume over the peers of at least m (the relaxation's optimum), its small trades repaired"
    status = _proven(relative_gap(value, bound), gap, accept, what)
    # seconds 0.0: the caller (``MinTradeLevels.solve``) sets the level's wall time
    return LevelRecord(level, "p2p", status, value, bound, relative_gap(value, bound), 0.0, highs_seconds)


def on_chain(ctx: MinTradeContext, task: LevelTask) -> tuple[LevelRecord | None, float | None]:
    """A level of the peers' totals (``SEPARABLE``) from the totals' MILP on nested pairs
    (``chain_totals``): trades of at least m on its totals (``flows_on_totals``) fixed and the rest
    of the point solved; (the record if within the accepted gap of its bound, else None; that
    bound, or None if the MILP does not apply)."""
    solver, level, name, gap, accept = ctx.solver, task.level, task.name, task.gap, task.accept
    allowed = ctx.repair_args(name)[3]
    kept = getattr(solver.m, "level_p2p_bound", None)
    volume = None if name == "p2p" or kept is None or kept.value <= -LOOSE else float(kept.value)
    options = solver.options | {"time_limit": task.limit, "mip_rel_gap": gap}
    totals = chain_totals(ctx.snap, ctx.pairs, allowed, ctx.min_trade, name, volume, options)
    if totals is None:
        return None, None
    flows = flows_on_totals(totals.sold, totals.bought, ctx.pairs, allowed, ctx.min_trade)
    if flows is None:
        return None, totals.bound
    point, highs_seconds = ctx.with_trades(flows, task)
    value = solver.objective(name)
    gap_now = relative_gap(value, totals.bound)
    if point is None or (gap_now or 0.0) > accept:
        return None, totals.bound
    what = ": trades of at least m on the peer totals of the totals' MILP along the chain of nested sellers"
    status = _proven(gap_now, gap, accept, what)
    highs_seconds += totals.seconds
    # seconds 0.0: the caller (``MinTradeLevels.solve``) sets the level's wall time
    return LevelRecord(level, name, status, value, totals.bound, gap_now, 0.0, highs_seconds), None
