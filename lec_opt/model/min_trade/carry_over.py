"""The model without linking rows first (models/FORMULATION.md §4, "Levels with a minimum trade",
step 0): where a level got there, and that carried over to the model with the linking rows.

A level that no point on flows only answers within the accepted gap returns ``NeedsLinks`` with its
``Started`` state (bound, the relaxation's flows and point, the candidates so far, the time spent);
the model with linking rows goes on from it (``carry_over``): the steps on flows only are not run
twice, and the candidates found without the linking rows stay candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyomo.environ as pyo

from lec_opt.model.level_solver import LevelSolver
from lec_opt.model.min_trade.context import MinTradeContext
from lec_opt.model.sources import Origin


@dataclass
class Started:
    """A level after its steps on flows only (relaxation, candidates, windows): what the steps with
    the linking rows go on from. Points are of the model whose ``columns`` are given, if not this one's."""

    name: str
    bound: float
    flows: np.ndarray  # the relaxation's flows, in pair order
    relaxed_x: np.ndarray  # the relaxation's point
    candidates: list[tuple[Origin, np.ndarray]]
    totals_tried: bool  # the search on the relaxation's peer totals ran and failed
    seconds: float  # wall time on the model of these points
    highs_seconds: float
    columns: dict | None = None  # (variable component, index) -> column of the model of these points


@dataclass(frozen=True)
class NeedsLinks:
    """The outcome of a level of the model without linking rows that no cheap point answers within
    the accepted gap: the interval goes on on the model with them, from where this level got
    (``started``)."""

    started: Started


def named_columns(solver: LevelSolver) -> dict:
    """(variable component's name, index) -> column, for every variable of the solver's model."""
    column = solver.column
    return {
        (v.parent_component().name, v.index()): column[id(v)]
        for v in solver.m.component_data_objects(pyo.Var)
        if id(v) in column
    }


def carry_over(ctx: MinTradeContext, started: Started) -> Started:
    """``started`` with its points moved to ``ctx``'s model (every variable the two models share, by
    name; y, W set from the flows)."""
    ours = named_columns(ctx.solver)
    common = [key for key in started.columns if key in ours]
    theirs_cols = np.array([started.columns[key] for key in common], dtype=np.int64)
    ours_cols = np.array([ours[key] for key in common], dtype=np.int64)
    before = ctx.solver.x

    def moved(point: np.ndarray) -> np.ndarray:
        ours = before.copy()
        ours[ours_cols] = point[theirs_cols]
        return ctx.consistent(ctx.flows_of(ours), ours)

    candidates = [(source, moved(x)) for source, x in started.candidates]
    return replace(started, relaxed_x=moved(started.relaxed_x), candidates=candidates, columns=None)
