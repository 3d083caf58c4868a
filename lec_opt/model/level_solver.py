"""One lexicographic level at a time with HiGHS: the Pyomo model compiled once, then only changes.

``LevelSolver`` compiles one interval model with Pyomo's standard-form compiler (every objective,
and every constraint, an inactive one as a free row) and hands HiGHS that matrix once
(models/FORMULATION.md §4, "Hand-over to HiGHS"). Between levels only what changes reaches HiGHS:
the active objective's costs, row bounds (a level kept or released, a constraint switched on or
off), column bounds (a flow closed or freed) and integrality. The current solution is one vector
over the compiled columns, set by each level's answer (or ``keep``): ``values`` reads a variable
component from it or from any point, ``put`` writes into a point the caller owns. A level that ends without an answer raises ``LevelFailed`` with its record
(status, bound, gap, time), never silently.

HiGHS itself is reached only through ``lec_opt.solver.problem.Problem`` (the solver boundary): this
module says what to change and reads each run's ``Run`` value. Bound changes that hold for a step
only are scoped: ``with solver.bounds(cols, lower, upper):`` or ``with solver.fixed(cols, value):``
give the columns back their own bounds when the block ends, however it ends.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Iterable, Iterator

import numpy as np
import pyomo.environ as pyo

from lec_opt.market.result import LevelRecord, LevelStatus, Status
from lec_opt.model.standard_form import bounds_and_integrality, compile_model
from lec_opt.solver.highs import INF
from lec_opt.solver.problem import GAP_EQUAL, Problem, Run, relative_gap

__all__ = ["GAP_EQUAL", "LOOSE", "LevelFailed", "LevelSolver", "relative_gap"]

_NO_NODE_LIMIT = 2**31 - 1  # HiGHS's default mip_max_nodes
_HIGHS_ABS_GAP = 1e-6  # HiGHS's default mip_abs_gap

# Above this many columns an LP level starts cold when its objective changed: the previous level's
# basis is primal feasible for the new objective, and HiGHS then climbs from it by the primal
# simplex, 5-15x slower on the transportation LPs of 1000 peers than a cold start, whose presolve
# also drops the released (free) level rows, dense rows that slow every simplex iteration
# (python -m benchmarks scale). Below it (the default community's ~3000 columns) the warm start is
# faster, and the answers stay as they are.
LARGE_LP_COLUMNS = 50_000
# tried once more without presolve
_SUSPECT = (LevelStatus.INFEASIBLE, LevelStatus.INFEASIBLE_OR_UNBOUNDED, LevelStatus.UNKNOWN, LevelStatus.ERROR)
# a MIP keeps its incumbent, an LP has no answer
_STOPPED = (LevelStatus.TIME_LIMIT, LevelStatus.ITERATION_LIMIT, LevelStatus.NODE_LIMIT)


class LevelFailed(Exception):
    """A level ended without a usable answer; ``record`` says how."""

    def __init__(self, record: LevelRecord):
        super().__init__(f"level {record.level} ({record.name}): {record.status}")
        self.record = record


LOOSE = 1e20  # HiGHS's infinite bound: a released level constraint binds nothing


class LevelSolver:
    """HiGHS for the levels of one interval model: choose an objective, solve, record."""

    def __init__(
        self, m: pyo.ConcreteModel, seed: int, threads: int | None = None, tight: bool = False, linked: bool = True
    ):
        """Compile ``m`` and hand it to HiGHS.

        ``tight``: feasibility tolerances of 1e-9 instead of HiGHS's 1e-6 (semi-continuous trades:
        x >= min_trade y must not be met only to within 1e-6 kWh). ``linked``: the model variant,
        built with its linking rows (the matching binaries y, W; ``build_interval_model(links=...)``).
        """
        self.m = m
        self.linked = linked
        self._compile(m)
        self.options: dict[str, object] = {
            "output_flag": False,
            "random_seed": seed,
            # simplex: an LP level ends on a vertex (a forest of few trades), never at an interior point
            "solver": "simplex",
        }
        if tight:
            self.options |= {"mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9}
        if threads is not None:
            # HiGHS keeps one thread pool per process: mixing thread counts in a process breaks later solves
            self.options["threads"] = threads
        self._highs_seconds_so_far = 0.0
        self._retrying = False
        self._integer_now = self.integer.copy()  # the columns HiGHS holds as integer now
        self._options_set: dict[str, object] = {}  # the options HiGHS holds now, as last set
        self._last_objective: str | None = None

    # --- the hand-over ---------------------------------------------------------------------------

    def _compile(self, m: pyo.ConcreteModel) -> None:
        """Every objective and constraint into one matrix (``compile_model``), its bounds, costs and
        row index; Pyomo's active and fixed states restored."""
        compiled = compile_model(m)
        self.column = compiled.column
        self.n = n = len(compiled.columns)
        self._cols: dict[str, np.ndarray] = {}
        bounds, self.integer = bounds_and_integrality(compiled.columns)
        lower = np.where(np.isnan(bounds[:, 0]), -INF, bounds[:, 0])
        upper = np.where(np.isnan(bounds[:, 1]), INF, bounds[:, 1])
        for v, value in compiled.fixed:
            k = self.column.get(id(v))
            if k is not None:
                lower[k] = upper[k] = value
        self.col_lower, self.col_upper = lower, upper
        self.cost, self.cost_offset = compiled.cost, compiled.cost_offset
        self.maximise = {o.name: o.sense == pyo.maximize for o in m.component_objects(pyo.Objective)}
        self._x = np.zeros(n)  # the current solution
        self._rows_of(compiled.entries, compiled.rhs)
        self.a = compiled.a.tocsc()
        self.a.eliminate_zeros()
        self._hand_over()
        for c in compiled.inactive:
            self._set_rows(c.name, on=False)

    def _rows_of(self, entries: list, rhs: np.ndarray) -> None:
        """Row bounds, the rows of each constraint component, and each scalar row's body constant."""
        kinds = np.array([bound_type for _, bound_type in entries], dtype=int)
        self.row_lower = np.where(kinds <= 0, rhs, -INF)
        self.row_upper = np.where(kinds >= 0, rhs, INF)
        self.rows: dict[str, list[int]] = {}
        self._row_offset: dict[str, float] = {}  # body constant of a scalar row: rhs = bound - offset
        names: dict[int, str] = {}  # a component's name, computed once per component
        for k, (con, bound_type) in enumerate(entries):
            parent = con.parent_component()
            name = names.get(id(parent))
            if name is None:
                name = names[id(parent)] = parent.name
            self.rows.setdefault(name, []).append(k)
            if not parent.is_indexed():
                bound = con.lower if bound_type < 0 else con.upper
                self._row_offset[name] = pyo.value(bound) - rhs[k]

    def _hand_over(self) -> None:
        """The matrix, bounds and integrality to HiGHS (``Problem``), no objective yet."""
        self.problem = Problem(self.a, self.col_lower, self.col_upper, self.row_lower, self.row_upper, self.integer)

    @property
    def large(self) -> bool:
        """More than ``LARGE_LP_COLUMNS`` columns: LP levels start cold when the objective changes."""
        return self.n > LARGE_LP_COLUMNS

    def cols(self, var: pyo.Var) -> np.ndarray:
        """The columns of ``var``'s entries in its index order (-1 for an entry in no row or objective)."""
        cols = self._cols.get(var.name)
        if cols is None:
            cols = np.fromiter(map(self.column.get, map(id, var.values()), itertools.repeat(-1)), dtype=np.int64)
            self._cols[var.name] = cols
        return cols

    # --- what changes between levels -------------------------------------------------------------

    def _set_rows(self, name: str, on: bool) -> None:
        rows = self.rows.get(name, [])
        if not rows:
            return
        idx = np.array(rows, dtype=np.int32)
        lower = self.row_lower[idx] if on else np.full(idx.size, -INF)
        upper = self.row_upper[idx] if on else np.full(idx.size, INF)
        self.problem.set_rows_bounds(idx, lower, upper)

    def activate(self, constraint: pyo.Constraint, on: bool = True) -> None:
        """Switch a constraint component on or off (its rows get their bounds, or none)."""
        constraint.activate() if on else constraint.deactivate()
        self._set_rows(constraint.name, on)

    def set_bound(self, constraint: pyo.Constraint, value: float) -> None:
        """The new bound of a one-sided scalar row (a ``level_*`` constraint), in the objective's units."""
        name = constraint.name
        if name not in self.rows:  # a constant body (e.g. all margins 0): the compiler left the row out
            return  # and a level kept at its own value binds nothing
        (k,) = self.rows[name]
        rhs = value - self._row_offset[name]
        if self.row_lower[k] > -INF:
            self.row_lower[k] = rhs
        else:
            self.row_upper[k] = rhs
        self.problem.set_row_bounds(k, float(self.row_lower[k]), float(self.row_upper[k]))

    def fix(self, cols: np.ndarray, value: float | np.ndarray = 0.0) -> None:
        """Columns fixed to ``value`` (one for all, or one per column) until ``unfix``: for a state
        that outlives one step (``OpenPairs``, the CES modes of levels 3-4); a step's own changes
        are scoped (``fixed``, ``bounds``, ``restored``)."""
        self.set_bounds(cols, value, value)

    def unfix(self, cols: np.ndarray) -> None:
        """Columns back to their own bounds."""
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size:
            self.problem.set_cols_bounds(cols, self.col_lower[cols], self.col_upper[cols])

    def set_bounds(self, cols: np.ndarray, lower: float | np.ndarray, upper: float | np.ndarray | None = None) -> None:
        """Columns with bounds [``lower``, ``upper``] (scalars or one per column; ``upper`` None:
        their own upper bound) until ``unfix``."""
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size:
            spread = lambda v: np.array(np.broadcast_to(np.asarray(v, dtype=float), cols.shape))  # noqa: E731
            self.problem.set_cols_bounds(cols, spread(lower), self.col_upper[cols] if upper is None else spread(upper))

    @contextlib.contextmanager
    def restored(self, *cols: np.ndarray) -> Iterator[list[np.ndarray]]:
        """Change bounds freely inside the block; at its end, however it ends, the columns of ``cols``
        and of every array appended to the yielded list get their own bounds back, in that order."""
        changed = list(cols)
        try:
            yield changed
        finally:
            for group in changed:
                self.unfix(group)

    @contextlib.contextmanager
    def bounds(
        self, cols: np.ndarray, lower: float | np.ndarray, upper: float | np.ndarray | None = None
    ) -> Iterator[None]:
        """Columns with bounds [``lower``, ``upper``] inside the block (``set_bounds``), then their own."""
        self.set_bounds(cols, lower, upper)
        try:
            yield
        finally:
            self.unfix(cols)

    @contextlib.contextmanager
    def fixed(self, cols: np.ndarray, value: float | np.ndarray = 0.0) -> Iterator[None]:
        """Columns fixed to ``value`` inside the block (``fix``), then back to their own bounds."""
        self.fix(cols, value)
        try:
            yield
        finally:
            self.unfix(cols)

    def is_feasible(self, x: np.ndarray, tolerance: float = 1e-8) -> bool:
        """Does ``x`` meet every row and column bound HiGHS holds now, and integrality, within ``tolerance``?"""
        tol = lambda b: tolerance * np.maximum(1.0, np.abs(np.where(np.isfinite(b), b, 0.0)))  # noqa: E731
        col_lower, col_upper, row_lower, row_upper = self.problem.held_bounds()
        ax = self.a @ x
        integer = self._integer_now  # as HiGHS holds it (``set_integer`` is the only change)
        return bool(
            np.all(x >= col_lower - tol(col_lower))
            and np.all(x <= col_upper + tol(col_upper))
            and np.all(ax >= row_lower - tol(row_lower))
            and np.all(ax <= row_upper + tol(row_upper))
            and np.all(np.abs(x[integer] - np.round(x[integer])) <= 1e-9)
        )

    def set_integer(self, variables: Iterable[pyo.Var], integer: bool) -> None:
        """Integrality of these components' columns on (their own domain) or off (relaxed)."""
        cols = np.concatenate([self.cols(v) for v in variables])
        cols = cols[(cols >= 0)]
        cols = cols[self.integer[cols]].astype(np.int32)
        if cols.size:
            self.problem.set_integer(cols, integer)
            self._integer_now[cols] = integer

    # --- the solution ----------------------------------------------------------------------------

    @property
    def x(self) -> np.ndarray:
        """The current solution over the compiled columns: the last level's answer, or the point
        the caller ``keep``s; read it, never write into it (points are values: ``put`` into a copy)."""
        return self._x

    def keep(self, x: np.ndarray) -> None:
        """``x`` becomes the current solution (a level's answer left in the solver)."""
        self._x = x

    def values(self, var: pyo.Var, x: np.ndarray | None = None) -> np.ndarray:
        """``var``'s entries in index order from ``x`` (default: the current solution; a column-less
        entry: its value, or 0)."""
        cols = self.cols(var)
        out = (self._x if x is None else x)[np.maximum(cols, 0)]
        missing = cols < 0
        if missing.any():
            out[missing] = [v.value or 0.0 for v, gone in zip(var.values(), missing) if gone]
        return out

    def value(self, var: pyo.Var, x: np.ndarray | None = None) -> float:
        """A scalar variable's value in ``x`` (default: the current solution)."""
        return float(self.values(var, x)[0])

    def put(self, x: np.ndarray, var: pyo.Var, values: np.ndarray) -> np.ndarray:
        """Write ``values`` (``var``'s index order) into the point ``x`` (the caller's own array); ``x``."""
        cols = self.cols(var)
        keep = cols >= 0
        x[cols[keep]] = np.asarray(values, dtype=float)[keep]
        return x

    def objective(self, name: str, x: np.ndarray | None = None) -> float:
        """Objective ``obj_<name>`` at ``x`` (default: the current solution), correctly rounded.

        ``math.fsum`` of the products, not a dot product, whose last bits depend on the memory
        alignment and the CPU's vector width: a point exactly on a kept level's bound (a greedy
        matching often is) must be judged the same way on every machine.
        """
        key = f"obj_{name}"
        return math.fsum(self.cost[key] * (self._x if x is None else x)) + self.cost_offset[key]

    # --- solving ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def presolve_off(self) -> Iterator[None]:
        """Solve without HiGHS's presolve inside the block, then back to HiGHS's default."""
        self.options["presolve"] = "off"
        try:
            yield
        finally:
            self.options["presolve"] = "choose"

    def solve(
        self,
        level: int,
        name: str,
        time_limit: float,
        gap: float,
        start: np.ndarray | None = None,
        node_limit: int | None = None,
        abs_gap: float = _HIGHS_ABS_GAP,
    ) -> LevelRecord:
        """Solve level ``level`` (objective ``obj_<name>``); its solution becomes the current one.

        ``node_limit`` bounds a MIP search by branch-and-bound nodes (deterministic work); a MIP
        stops at ``gap`` relative to its incumbent or at ``abs_gap`` absolute, whichever comes first;
        ``time_limit`` is wall-clock, a safety net whose binding the status names. ``start``: a
        point a MIP starts from (its first incumbent when feasible).

        A suspicious status (infeasible, unknown, error) is tried once more without presolve:
        HiGHS 1.16's MIP presolve has declared feasible small models infeasible.
        """
        return self._solve(level, name, time_limit, gap, start, node_limit, abs_gap, False)[0]

    def solve_with_duals(
        self, level: int, name: str, time_limit: float, gap: float
    ) -> tuple[LevelRecord, np.ndarray | None]:
        """``solve`` an LP, and its columns' reduced costs (None when HiGHS has no dual feasible ones)."""
        return self._solve(level, name, time_limit, gap, None, None, _HIGHS_ABS_GAP, True)

    def _set_objective_and_options(self, name: str, time_limit: float, gap: float, node_limit, abs_gap) -> None:
        """The objective ``obj_<name>`` and the options of one run to HiGHS (an option only when it changed)."""
        key = f"obj_{name}"
        large_lp = self.large and not self._integer_now.any()
        if large_lp and name != self._last_objective:
            self.problem.clear_solver()  # a large LP starts cold when its objective changed (models/FORMULATION.md §4)
        self._last_objective = name
        self.problem.set_objective(self.maximise[key], self.cost_offset[key], self.cost[key])
        # HiGHS's time limit counts its run time summed over every run of this object: add the spent
        options = self.options | {
            "time_limit": self._highs_seconds_so_far + time_limit,
            "mip_rel_gap": gap,
            "mip_abs_gap": abs_gap,
            "mip_max_nodes": _NO_NODE_LIMIT if node_limit is None else node_limit,
        }
        for option, setting in options.items():
            if self._options_set.get(option) != setting:  # HiGHS keeps an option until it is changed
                self.problem.set_option(option, setting)
                self._options_set[option] = setting

    def _solve(self, level, name, time_limit, gap, start, node_limit, abs_gap, duals) -> tuple[LevelRecord, object]:
        """``solve``, and the reduced costs when ``duals``."""
        started = time.perf_counter()
        self._set_objective_and_options(name, time_limit, gap, node_limit, abs_gap)
        if start is not None:
            self.problem.set_start(start)
        run = self.problem.run(duals)
        seconds = time.perf_counter() - started
        if run.state in _SUSPECT and not self._retrying:
            self._retrying = True
            try:
                with self.presolve_off():
                    record, reduced = self._solve(level, name, time_limit, gap, start, node_limit, abs_gap, duals)
            finally:
                self._retrying = False
            return record.then(f" (after {run.state.value} with presolve; retried without)"), reduced
        record = self._record(level, name, run, seconds)
        # a MIP stopped by a limit keeps a feasible incumbent; an LP stopped by one has no answer at all
        if run.state is LevelStatus.OPTIMAL or (run.state in _STOPPED and run.x is not None and run.mip):
            self._x = run.x
            return record, run.duals
        raise LevelFailed(record)

    def _record(self, level: int, name: str, run: Run, seconds: float) -> LevelRecord:
        """The level's record of one run (HiGHS's seconds: those since the record before)."""
        highs_seconds = run.run_time - self._highs_seconds_so_far
        self._highs_seconds_so_far = run.run_time
        best = run.objective
        bound = run.bound if run.mip else (best if run.state is LevelStatus.OPTIMAL else None)
        return LevelRecord(
            level, name, Status(run.state), best, bound, relative_gap(best, bound), seconds, highs_seconds
        )
