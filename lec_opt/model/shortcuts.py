"""Closed forms and fixed-flow solves that spare large models their hardest LPs (models/FORMULATION.md §4).

Level 1 in closed form (dense pairs: min(Σs, Σr); under C's price rule the nested greedy), level 2
on flows fixed at a maximum-volume matching, level 3 of A from the north-west-corner greedy on its
Monge weights, level 3 of C from a min-cost flow along the sellers in price order, and the CES
modes fixed at level 2's answer so that levels 3-4 stay LPs. Each returns a level record, or None
when it does not apply (then the level's LP is solved).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lec_opt.market.pairs import PairData, allowed_pairs, max_volume_closed_form, nested_flows, price_rule_optimum
from lec_opt.market.result import LevelRecord, LevelStatus, Status
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.level4 import greedy_flows
from lec_opt.model.level_solver import LevelSolver
from lec_opt.model.open_pairs import OpenPairs

CLOSED_FORM = Status(LevelStatus.CLOSED_FORM, " min(Σs, Σr) over the willing peers")
NESTED = Status(
    LevelStatus.CLOSED_FORM, ", the buyers with the fewest allowed sellers served first (nested price rule)"
)
FIXED_FLOWS = "the flows fixed at a maximum-volume matching (the CES sees only their total)"
MONGE_A = Status(LevelStatus.CLOSED_FORM, ", the north-west-corner (greedy A) solution of the Monge weights")
CHAIN_C = Status(LevelStatus.CLOSED_FORM, ", the min-cost flow along the sellers in price order (additive margins)")


MODES = "modes"  # in a list of fixes: the CES modes fixed at level 2's answer (``fix_modes``)


def fix_modes(solver: LevelSolver) -> list[str]:
    """The CES modes zc, zd fixed at level 2's answer, and continuous: levels 3-4 become LPs.

    Level 3 and 4 change the trades, which the CES sees only through their total, kept by level 1:
    level 2's CES point stays feasible for every matching they consider (models/FORMULATION.md §4).
    """
    m = solver.m
    for z in (m.charging, m.discharging):
        solver.fix(solver.cols(z), float(round(solver.value(z))))
    solver.set_integer((m.charging, m.discharging), False)
    return [MODES]


def release_modes(solver: LevelSolver) -> None:
    """The CES modes back to their own bounds, and integer (``fix_modes`` undone)."""
    m = solver.m
    solver.unfix(np.concatenate([solver.cols(m.charging), solver.cols(m.discharging)]))
    solver.set_integer((m.charging, m.discharging), True)


def volume_closed_form(
    solver: LevelSolver, snap: IntervalSnapshot, pairs: PairData, price_pairs: bool
) -> LevelRecord | None:
    """Level 1 on dense pairs without a minimum trade in closed form, or None (then the LP).

    Without the price rule: min(Σ willing s, Σ willing r). With it (C), in large models, the
    nested greedy (``nested_flows``); on a small one C's level-1 LP is cheap and its basis is
    the warm start of C's level 3.
    """
    if not price_pairs:
        return LevelRecord(1, "p2p", CLOSED_FORM, max_volume_closed_form(snap))
    if not solver.large:
        return None
    flows = nested_flows(snap, pairs, allowed_pairs(snap, pairs, True))
    return None if flows is None else LevelRecord(1, "p2p", NESTED, float(flows.sum()))


def ces_on_fixed_flows(
    solver: LevelSolver, snap: IntervalSnapshot, pairs: PairData, opened: OpenPairs, price_pairs: bool, opts
) -> LevelRecord | None:
    """Level 2 with the flows fixed at one maximum-volume matching (``nested_flows``), or None.

    The CES objective sees the trades only through their total V, and every split of what the
    peers have left is feasible (models/FORMULATION.md §4), so any matching of the kept volume gives
    level 2's optimum; with the flows fixed the LP is small after presolve.
    """
    flows = nested_flows(snap, pairs, allowed_pairs(snap, pairs, price_pairs))
    if flows is None:
        return None
    with solver.fixed(opened.x[~opened.closed], flows[~opened.closed]):
        record = solver.solve(2, "ces", opts.level_time_limit_s, opts.mip_gap)
    return record.then(f": {FIXED_FLOWS}")


def _completed(
    solver: LevelSolver, opened: OpenPairs, flows: np.ndarray, name: str, status: Status, opts
) -> LevelRecord:
    """Level 3 at fixed flows: HiGHS completes the rest of the point (CES, grid, EV), which becomes
    the current solution; the record says which closed form gave the flows."""
    with solver.fixed(opened.x[~opened.closed], flows[~opened.closed]):
        completed = solver.solve(3, name, opts.level_time_limit_s, 0.0)
    return replace(completed, how=status, bound=completed.objective, gap=0.0)


def priority_c_closed_form(
    solver: LevelSolver, snap: IntervalSnapshot, pairs: PairData, opened: OpenPairs, volume: float, opts
) -> LevelRecord | None:
    """Level 3 of C on dense pairs without a minimum trade, in large models: the min-cost flow along
    the sellers in price order (``price_rule_optimum``), at level 1's volume; None when the price
    rule's seller sets are not nested or that volume is out of the chain's reach (then the LP)."""
    flows = price_rule_optimum(snap, pairs, allowed_pairs(snap, pairs, True), volume)
    if flows is None:
        return None
    return _completed(solver, opened, flows, "priority_c", CHAIN_C, opts)


def priority_a_closed_form(
    solver: LevelSolver, snap: IntervalSnapshot, pairs: PairData, opened: OpenPairs, opts
) -> LevelRecord | None:
    """Level 3 of A on dense pairs without a minimum trade: the greedy A, optimal on a Monge array.

    The weights (s_i/s_max)(r_j/r_max) sorted by size are inverse-Monge (ties allowed), so the
    north-west-corner solution, which is the paper's greedy A, is optimal (models/FORMULATION.md §4).
    Its flows are fixed and HiGHS completes the rest of the point (CES, grid, EV), which becomes
    the current solution; None when the greedy uses a pair that is no candidate. Used on large
    models only: on a small one the LP is cheap and its basis is the warm start of B's level 3.
    """
    flows = greedy_flows(snap, pairs, "A", 0.0)
    if flows is None:
        return None
    return _completed(solver, opened, flows, "priority_a", MONGE_A, opts)
