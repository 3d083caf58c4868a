"""Levels 1-3 as LPs when no minimum trade is set: the matching binaries fixed open (models/FORMULATION.md §4).

Every allowed pair's y and every willing peer's W is fixed to 1; a pair that may not trade has y
and its flow x fixed to 0. Their linking rows (y <= W, x <= cap y, and ``price_pairs_only``) then
hold by the fixed values alone, so they are set aside and HiGHS is handed only the balances,
the bounds and the level rows: a transportation LP whose simplex vertex is a forest of few
trades. A node-limited level-4 search frees everything again for its duration (``freed``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyomo.environ as pyo

from lec_opt.model.level_solver import LevelSolver

LINKS = ("transaction_needs_seller", "transaction_needs_buyer", "trade_cap")


class OpenPairs:
    """The fixings and set-aside rows of the LP levels of one interval model."""

    def __init__(self, m: pyo.ConcreteModel, solver: LevelSolver):
        self.m = m
        self.solver = solver
        self.fixed: list[tuple[pyo.Var, float]] = []
        self.price_pairs = False

    def open(self, allowed: dict[tuple[int, int], bool], price_pairs: bool) -> None:
        """Fix the pairs for one priority (``allowed``: both willing and, for C, bid >= ask)."""
        m = self.m
        self._unfix()
        self.price_pairs = price_pairs
        for name in ("willing_seller", "willing_buyer"):
            for w in getattr(m, name).values():
                if not w.fixed:
                    self._fix(w, 1)
        for p, y in m.transaction.items():
            self._fix(y, 1 if allowed[p] else 0)
            if not allowed[p]:
                self._fix(m.p2p[p], 0.0)
        self._set_links(active=False)

    def _fix(self, v: pyo.Var, value: float) -> None:
        v.fix(value)
        self.fixed.append((v, value))
        self.solver.vars_changed()

    def _unfix(self) -> None:
        for v, _ in self.fixed:
            v.unfix()
        self.fixed.clear()
        self.solver.vars_changed()

    def _set_links(self, active: bool) -> None:
        rows = [getattr(self.m, name) for name in LINKS]
        rows.append(self.m.price_pairs_only)
        for row in rows:
            want = active and (row is not self.m.price_pairs_only or self.price_pairs)
            if row.active != want:
                row.activate() if want else row.deactivate()
                self.solver.structure_changed()

    @contextlib.contextmanager
    def freed(self) -> Iterator[None]:
        """Every binary free and every linking row back, for a level-4 search; fixed again after."""
        fixed = list(self.fixed)
        self._unfix()
        self._set_links(active=True)
        try:
            yield
        finally:
            self._set_links(active=False)
            for v, value in fixed:
                self._fix(v, value)
