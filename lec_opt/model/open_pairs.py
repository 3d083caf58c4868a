"""Levels 1-3 as LPs when no minimum trade is set (models/FORMULATION.md §4).

With no minimum trade no matching binary can bind at levels 1-3: the rows linking x to y and W
(willingness, trade caps, ``price_pairs_only``) are switched off, and a pair that may not trade
(an opted-out peer, or bid < ask under priority C) has its flow x fixed to 0. HiGHS solves only
the balances, the bounds and the level rows: a transportation LP whose simplex vertex is a forest
of few trades. A node-limited level-4 search switches the linking rows on and frees x (``freed``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from lec_opt.model.level_solver import LevelSolver


class OpenPairs:
    """The closed pairs of the LP levels of one interval model, and the way back to the MILP."""

    def __init__(self, solver: LevelSolver):
        self.solver = solver
        self.x = solver.cols(solver.m.p2p)  # the flows' columns, in pair order
        self.closed = np.zeros(len(self.x), dtype=bool)
        self.price_pairs = False

    def open(self, allowed: np.ndarray, price_pairs: bool) -> None:
        """x = 0 on every pair that may not trade under this priority (``allowed``), free elsewhere."""
        closed = ~np.asarray(allowed, dtype=bool)
        self.price_pairs = price_pairs
        self.solver.unfix(self.x[self.closed & ~closed])
        self.solver.fix(self.x[closed & ~self.closed], 0.0)
        self.closed = closed

    @contextlib.contextmanager
    def freed(self) -> Iterator[None]:
        """The MILP of level 4: linking rows on, matching binaries integer, closed flows free; as
        before afterwards. The model must have been built with its linking rows (``add_links``)."""
        m, solver = self.solver.m, self.solver
        rows = [m.transaction_needs_seller, m.transaction_needs_buyer, m.trade_cap]
        if self.price_pairs:
            rows.append(m.price_pairs_only)
        binaries = (m.transaction, m.willing_seller, m.willing_buyer)
        for row in rows:
            solver.activate(row)
        solver.set_integer(binaries, True)
        solver.unfix(self.x[self.closed])
        try:
            yield
        finally:
            for row in rows:
                solver.activate(row, False)
            solver.set_integer(binaries, False)
            solver.fix(self.x[self.closed], 0.0)
