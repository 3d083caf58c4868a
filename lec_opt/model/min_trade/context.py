"""What every step of the minimum-trade search shares: the context of one interval model and the
level being solved (models/FORMULATION.md §4, "Levels with a minimum trade").

- ``MinTradeContext``: the level solver, the snapshot, the pairs, the minimum m, which pairs can
  never trade, and the operations every step uses (a point's flows, a point made consistent with
  its flows, the relaxation as a scope, the level with its flows fixed, the costs a repair
  minimises). The steps read it and change HiGHS's model only in scopes that undo the change.
- ``LevelTask``: one level (number, objective, time limit, mip gap, accepted gap).
- ``Incumbent``: the level's answer so far (point, value, bound, status, HiGHS seconds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lec_opt.market.pairs import BELOW, PairData, allowed_pairs
from lec_opt.market.result import Status
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.level4 import set_incumbent
from lec_opt.model.level_solver import LevelFailed, LevelSolver, relative_gap
from lec_opt.model.min_trade.small_trades import breaks_minimum
from lec_opt.model.tolerances import FLOW_EPS

SEPARABLE = ("p2p", "priority_c")  # objectives of the peers' totals only
NODE_LIMIT = 200  # branch-and-bound nodes of a MILP search when the incumbent misses the gap
REACH_SHARE = 0.5  # a restricted search runs only when it leaves at most this share of the open pairs


@dataclass(frozen=True)
class LevelTask:
    """One level to solve: its number, objective ``obj_<name>``, wall-clock safety limit (s), the
    mip gap that counts as optimal and the accepted gap that answers the level."""

    level: int
    name: str
    limit: float
    gap: float
    accept: float


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


def close_small_pairs(solver: LevelSolver, pairs: PairData, min_trade: float) -> np.ndarray:
    """Fix x = 0 on the pairs with min(s_i, r_j) < m: x >= m y and x <= cap y force y = 0 there.

    Exact (the MILP's feasible set is unchanged) and it tightens every relaxation. Returns the mask.
    """
    small = pairs.cap < min_trade - BELOW
    solver.fix(solver.cols(solver.m.p2p)[small], 0.0)
    return small


class MinTradeContext:
    """The semi-continuous levels' shared state on one interval model.

    On a model without the linking rows (``linked`` False; models/FORMULATION.md §4, "Levels with a
    minimum trade", step 0) the relaxation is the model itself, the pairs of unwilling peers and
    (``price_rule``) those with bid < ask are closed by their flows, and a point counts only if no
    flow breaks the minimum.
    """

    def __init__(self, solver: LevelSolver, snap: IntervalSnapshot, pairs: PairData, min_trade: float):
        self.solver, self.snap, self.pairs, self.min_trade = solver, snap, pairs, min_trade
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

    def sign(self, name: str) -> float:
        """1 when objective ``obj_<name>`` is maximised, -1 when minimised."""
        return 1.0 if self.solver.maximise[f"obj_{name}"] else -1.0

    def within(self, name: str, x: np.ndarray, bound: float, gap: float) -> bool:
        """Is ``x``'s value of ``obj_<name>`` within relative ``gap`` of ``bound``?"""
        return (relative_gap(self.solver.objective(name, x), bound) or 0.0) <= gap

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

    def peer_totals(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each seller's and each buyer's P2P total in ``x``."""
        flows = self.flows_of(x)
        sold = np.bincount(self.pairs.seller, weights=flows, minlength=len(self.snap.sellers))
        bought = np.bincount(self.pairs.buyer, weights=flows, minlength=len(self.snap.buyers))
        return sold, bought

    def consistent(self, flows: np.ndarray, point: np.ndarray) -> np.ndarray:
        """``point`` with these flows and y, W set from them (y = 1 exactly where x > 0), written into
        ``point`` itself (the caller's array); a copy of it."""
        return set_incumbent(self.solver, self.pairs, flows, point).copy()

    def repair_args(self, name: str) -> tuple:
        """What a repair and the local moves need after the flows: pairs, energies, the allowed
        pairs and the level's cost per kWh of each pair, to be minimised, and m."""
        allowed = allowed_pairs(self.snap, self.pairs, self.price_pairs) & ~self.never
        cost = -self.sign(name) * self.solver.cost[f"obj_{name}"][self.x]
        return self.pairs, self.snap.surplus_kwh, self.snap.deficit_kwh, allowed, cost, self.min_trade

    def with_trades(self, flows: np.ndarray, task: LevelTask) -> tuple[np.ndarray | None, float]:
        """The level with every flow fixed at ``flows`` (which meet the minimum); (solution or None, HiGHS s).

        Exact at level 2: the CES objective sees the trades only through their total (models/FORMULATION.md §4).
        """
        solver, open_ = self.solver, ~self.never  # the never-trading pairs stay fixed at 0 throughout
        try:
            with solver.fixed(self.x[open_], flows[open_]):
                record = solver.solve(task.level, task.name, task.limit, task.gap)
            return solver.x.copy(), record.highs_seconds or 0.0
        except LevelFailed:
            return None, 0.0
