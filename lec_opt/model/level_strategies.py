"""How levels 1-3 of one interval model are solved: one strategy per kind of level, behind one
small protocol (``LevelStrategy``), for the lexicographic driver (``lec_opt.model.lexicographic``).

- ``LpLevels``: no minimum trade. Levels 1-3 are LPs on the pairs each priority may use
  (``OpenPairs``), answered in closed form where the pairs are dense (``lec_opt.model.shortcuts``).
- ``MinTradeMilp``: a minimum trade on the model with its linking rows: the semi-continuous MILP,
  searched by ``lec_opt.model.min_trade``.
- ``MinTradeOnFlows``: a minimum trade on the model without its linking rows: the steps on flows
  only; a level none of them answers is returned as ``NeedsLinks``, an outcome, and the driver goes
  on on the model with the linking rows from where it got.

``ModelVariant`` says which model a strategy runs on: a field, not a look at the model's components.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lec_opt.market.pairs import PairData, allowed_pairs
from lec_opt.market.result import LevelRecord
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.level4 import greedy_flows
from lec_opt.model.level_solver import LevelSolver
from lec_opt.model.min_trade.carry_over import NeedsLinks, Started
from lec_opt.model.min_trade.levels import MinTradeLevels
from lec_opt.model.open_pairs import OpenPairs
from lec_opt.model.shortcuts import (
    ces_on_fixed_flows,
    fix_modes,
    priority_a_closed_form,
    priority_c_closed_form,
    volume_closed_form,
)
from lec_opt.scenario.schema import Scenario


@dataclass(frozen=True)
class ModelVariant:
    """Which interval model the levels run on: ``lp_levels`` (no minimum trade: levels 1-3 are LPs)
    and ``links`` (built with the matching binaries y, W and the rows linking x to them)."""

    lp_levels: bool
    links: bool


class LevelStrategy(Protocol):
    """Levels 1-3 of the priorities on one model."""

    opened: OpenPairs | None  # the LP levels' closed pairs (level 4 frees them for its search), or None

    def begin_pass(self, price_pairs: bool) -> None:
        """A new pass of levels 1-2, for priorities with (C) or without the price rule."""

    def begin_priority(self, price_pairs: bool) -> None:
        """A new priority (levels 3 and 4 of it follow)."""

    def solve(self, priority: str, level: int, name: str, volume: float | None) -> LevelRecord | NeedsLinks:
        """Level ``level`` (objective ``obj_<name>``) of ``priority``, its answer left in the solver;
        ``volume``: level 1's value, at level 3. ``LevelFailed`` when it ends without an answer."""

    def after_level(self, name: str) -> list[str]:
        """What the strategy fixes once level ``name`` is kept (names ``_release`` undoes)."""


class LpLevels:
    """Levels 1-3 as LPs (no minimum trade), in closed form where the pairs are dense."""

    def __init__(self, solver: LevelSolver, snap: IntervalSnapshot, pairs: PairData, scenario: Scenario):
        self.solver, self.snap, self.pairs, self.opts = solver, snap, pairs, scenario.solver
        self.opened: OpenPairs | None = OpenPairs(solver)
        self.price_pairs = False

    def begin_pass(self, price_pairs: bool) -> None:
        """Nothing: each priority opens its own pairs (``begin_priority``)."""

    def begin_priority(self, price_pairs: bool) -> None:
        """The pairs this priority may use open, the others closed (the previous priority's level 4
        left its incumbent in y)."""
        self.price_pairs = price_pairs
        self.opened.open(allowed_pairs(self.snap, self.pairs, price_pairs), price_pairs)

    def _closed_form(self, priority: str, name: str, volume: float | None) -> LevelRecord | None:
        """The level in closed form on dense pairs (``lec_opt.model.shortcuts``), or None: its LP."""
        solver, snap, pairs, opts = self.solver, self.snap, self.pairs, self.opts
        if opts.candidate_pairs != "dense":
            return None
        if name == "p2p":
            return volume_closed_form(solver, snap, pairs, self.price_pairs)
        if not solver.large:
            return None
        if name == "ces":
            return ces_on_fixed_flows(solver, snap, pairs, self.opened, self.price_pairs, opts)
        if name == "priority_a" and priority == "A":
            return priority_a_closed_form(solver, snap, pairs, self.opened, opts)
        if name == "priority_c" and priority == "C":
            return priority_c_closed_form(solver, snap, pairs, self.opened, volume, opts)
        return None

    def solve(self, priority: str, level: int, name: str, volume: float | None) -> LevelRecord:
        """The closed form where there is one, else the level's LP."""
        record = self._closed_form(priority, name, volume)
        if record is None:
            record = self.solver.solve(level, name, self.opts.level_time_limit_s, self.opts.mip_gap)
        return record

    def after_level(self, name: str) -> list[str]:
        """After level 2 of a large model: the CES modes fixed, so that levels 3-4 stay LPs."""
        return fix_modes(self.solver) if name == "ces" and self.solver.large else []


class MinTradeMilp:
    """Levels 1-3 with a minimum trade on the model with its linking rows (``MinTradeLevels``),
    starting from where the model without them got (``carried``), if it did."""

    opened = None

    def __init__(
        self,
        solver: LevelSolver,
        snap: IntervalSnapshot,
        pairs: PairData,
        scenario: Scenario,
        carried: Started | None = None,
    ):
        self.snap, self.pairs, self.opts = snap, pairs, scenario.solver
        self.levels = MinTradeLevels(solver, snap, pairs, scenario.willingness.min_trade_kwh, carried)

    def begin_pass(self, price_pairs: bool) -> None:
        """The price rule on or off: a row on this model, fixed flows without linking rows."""
        self.levels.price_rule(price_pairs)

    def begin_priority(self, price_pairs: bool) -> None:
        """Nothing: the pass set the price rule."""

    def solve(self, priority: str, level: int, name: str, volume: float | None) -> LevelRecord | NeedsLinks:
        """The semi-continuous steps, with the greedy matching with the minimum as a candidate."""
        greedy: np.ndarray | None = greedy_flows(self.snap, self.pairs, priority, self.levels.min_trade)
        return self.levels.solve(level, name, self.opts.level_time_limit_s, self.opts.mip_gap, greedy)

    def after_level(self, name: str) -> list[str]:
        """Nothing more than the kept level."""
        return []


class MinTradeOnFlows(MinTradeMilp):
    """Levels 1-3 with a minimum trade on the model without its linking rows: the steps on flows
    only (``MinTradeLevels`` on a model whose ``linked`` is False); ``solve`` returns ``NeedsLinks``
    for a level none of them answers within the accepted gap."""


def level_strategy(
    variant: ModelVariant,
    solver: LevelSolver,
    snap: IntervalSnapshot,
    pairs: PairData,
    scenario: Scenario,
    carried: Started | None,
) -> LpLevels | MinTradeMilp:
    """The strategy of a model variant."""
    if variant.lp_levels:
        return LpLevels(solver, snap, pairs, scenario)
    if variant.links:
        return MinTradeMilp(solver, snap, pairs, scenario, carried)
    return MinTradeOnFlows(solver, snap, pairs, scenario, carried)
