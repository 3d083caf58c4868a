"""Levels 1-3 as LPs when no minimum trade is set (models/FORMULATION.md §4).

With no minimum trade no matching binary can bind at levels 1-3: the rows linking x to y and W
(willingness, trade caps, ``price_pairs_only``) are not built, and a pair that may not trade
(an opted-out peer, or bid < ask under priority C) has its flow x fixed to 0. HiGHS is handed only
the balances, the bounds and the level rows: a transportation LP whose simplex vertex is a forest
of few trades. A node-limited level-4 search adds the linking rows and frees x (``freed``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyomo.environ as pyo

from lec_opt.market.pairs import PairData
from lec_opt.model.build import add_links
from lec_opt.model.level_solver import LevelSolver


class OpenPairs:
    """The closed pairs of the LP levels of one interval model, and the way back to the MILP."""

    def __init__(self, m: pyo.ConcreteModel, solver: LevelSolver, pairs: PairData):
        self.m = m
        self.solver = solver
        self.pairs = pairs
        self.closed: tuple[tuple[int, int], ...] | None = None
        self.price_pairs = False

    def open(self, allowed: dict[tuple[int, int], bool], price_pairs: bool) -> None:
        """x = 0 on every pair that may not trade under this priority (``allowed``), free elsewhere."""
        closed = tuple(p for p, ok in allowed.items() if not ok)
        self.price_pairs = price_pairs
        if closed == self.closed:
            return
        for p in self.closed or ():
            self.m.p2p[p].unfix()
        for p in closed:
            self.m.p2p[p].fix(0.0)
        self.closed = closed
        self.solver.vars_changed()

    @contextlib.contextmanager
    def freed(self) -> Iterator[None]:
        """The MILP of level 4: linking rows built or back, closed flows free; as before afterwards."""
        m = self.m
        if not hasattr(m, "trade_cap"):
            add_links(m, self.pairs, 0.0)
        rows = [m.transaction_needs_seller, m.transaction_needs_buyer, m.trade_cap]
        if self.price_pairs:
            rows.append(m.price_pairs_only)
        for row in rows:
            row.activate()
        for p in self.closed or ():
            m.p2p[p].unfix()
        self.solver.structure_changed()
        try:
            yield
        finally:
            for row in rows:
                row.deactivate()
            for p in self.closed or ():
                m.p2p[p].fix(0.0)
            self.solver.structure_changed()
