"""One lexicographic level at a time with HiGHS, through Pyomo's persistent APPSI interface.

``LevelSolver`` owns the HiGHS instance of one interval model and everything it remembers
between levels: the presolve retry, HiGHS's cumulative run time. A level that ends without an
answer raises ``LevelFailed`` with its record (status, bound, gap, time), never silently.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers import Highs

from lec_opt.market.result import LevelRecord

_SUSPECT = (
    TerminationCondition.infeasible,
    TerminationCondition.infeasibleOrUnbounded,
    TerminationCondition.unknown,
    TerminationCondition.error,
)


_NO_NODE_LIMIT = 2**31 - 1  # HiGHS's default mip_max_nodes (APPSI never resets an option itself)


class LevelFailed(Exception):
    """A level ended without a usable answer; ``record`` says how."""

    def __init__(self, record: LevelRecord):
        super().__init__(f"level {record.level} ({record.name}): {record.status}")
        self.record = record


def relative_gap(best: float | None, bound: float | None) -> float | None:
    """|best - bound| / max(1, |best|), or None when either is unknown."""
    if best is None or bound is None or not np.isfinite(bound):
        return None
    return abs(best - bound) / max(1.0, abs(best))


class LevelSolver:
    """HiGHS for the levels of one interval model: activate one objective, solve, record."""

    def __init__(self, seed: int, threads: int | None = None, tight: bool = False):
        """``tight``: feasibility tolerances of 1e-9 instead of HiGHS's 1e-6 (semi-continuous trades:
        x >= min_trade y must not be met only to within 1e-6 kWh)."""
        self.highs = Highs()
        self.highs.config.load_solution = False
        self.highs.config.stream_solver = False
        # simplex: an LP level ends on a vertex (a forest of few trades), never at an interior point
        self.highs.highs_options = {"random_seed": seed, "output_flag": False, "solver": "simplex"}
        if tight:
            self.highs.highs_options |= {"mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9}
        if threads is not None:
            # HiGHS keeps one thread pool per process: mixing thread counts in a process breaks later solves
            self.highs.highs_options["threads"] = threads
        # hand HiGHS only what changes between levels: objectives, variable bounds and fixings,
        # mutable parameters; rows are added or removed only after ``structure_changed``
        update = self.highs.update_config
        update.treat_fixed_vars_as_params = False  # a fixed variable is a column with equal bounds
        update.check_for_new_or_removed_vars = False
        update.check_for_new_or_removed_params = False
        update.update_constraints = False
        update.update_named_expressions = False
        self._structure_changed = False
        self._vars_changed = True
        self.load: list | None = None  # the variables a solve loads back (None: all)
        self._highs_seconds_so_far = 0.0
        self._retrying = False

    def _was_mip(self) -> bool:
        """Did the last solve branch (a MIP), rather than solve an LP? (APPSI exposes no such flag.)"""
        model = self.highs._solver_model
        return model is not None and model.getInfo().mip_node_count >= 0

    def structure_changed(self) -> None:
        """A constraint was activated or deactivated: the next solve looks for added or removed rows."""
        self._structure_changed = True

    def vars_changed(self) -> None:
        """A variable was fixed, unfixed or its fixed value changed: the next solve updates the columns."""
        self._vars_changed = True

    @contextlib.contextmanager
    def presolve_off(self) -> Iterator[None]:
        """Solve without HiGHS's presolve inside the block, then back to HiGHS's default."""
        self.highs.highs_options["presolve"] = "off"
        try:
            yield
        finally:
            self.highs.highs_options["presolve"] = "choose"  # APPSI never resets an option by itself

    def solve(
        self,
        m: pyo.ConcreteModel,
        level: int,
        name: str,
        time_limit: float,
        gap: float,
        warm: bool = False,
        node_limit: int | None = None,
    ) -> LevelRecord:
        """Solve level ``level`` (objective ``obj_<name>``); the solution is loaded into ``m``.

        ``node_limit`` bounds a MIP search by branch-and-bound nodes (deterministic work);
        ``time_limit`` is wall-clock, a safety net whose binding the status names.

        A suspicious status (infeasible, unknown, error) is tried once more without presolve:
        HiGHS 1.16's MIP presolve has declared feasible small models infeasible.
        """
        for obj in m.component_objects(pyo.Objective, active=True):
            obj.deactivate()
        getattr(m, f"obj_{name}").activate()
        config = self.highs.config
        # HiGHS's time limit counts its run time summed over every solve of this model: add the spent
        config.time_limit, config.mip_gap, config.warmstart = self._highs_seconds_so_far + time_limit, gap, warm
        self.highs.highs_options["mip_max_nodes"] = _NO_NODE_LIMIT if node_limit is None else node_limit
        self.highs.update_config.check_for_new_or_removed_constraints = self._structure_changed
        self.highs.update_config.update_vars = self._vars_changed or self._structure_changed
        self._structure_changed = self._vars_changed = False
        started = time.perf_counter()
        res = self.highs.solve(m)
        seconds = time.perf_counter() - started
        tc = res.termination_condition
        if tc in _SUSPECT and not self._retrying:
            self._retrying = True
            try:
                with self.presolve_off():
                    record = self.solve(m, level, name, time_limit, gap, warm, node_limit)
            finally:
                self._retrying = False
            return replace(record, status=f"{record.status} (after {tc.name} with presolve; retried without)")
        best = res.best_feasible_objective
        highs_total = res.wallclock_time or 0.0  # HiGHS reports its run time summed over this model's solves
        highs_seconds = highs_total - self._highs_seconds_so_far
        self._highs_seconds_so_far = highs_total
        bound = res.best_objective_bound
        record = LevelRecord(level, name, tc.name, best, bound, relative_gap(best, bound), seconds, highs_seconds)
        # a MIP stopped by a limit keeps a feasible incumbent; an LP stopped by one has no answer at all
        stopped = (TerminationCondition.maxTimeLimit, TerminationCondition.maxIterations)  # node limit: maxIterations
        if tc == TerminationCondition.optimal or (tc in stopped and best is not None and self._was_mip()):
            res.solution_loader.load_vars(self.load)
            return record
        raise LevelFailed(record)
