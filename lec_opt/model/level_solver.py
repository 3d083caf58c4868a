"""One lexicographic level at a time with HiGHS: the Pyomo model compiled once, then only changes.

``LevelSolver`` compiles one interval model with Pyomo's standard-form compiler (every objective,
and every constraint, an inactive one as a free row) and hands HiGHS that matrix once
(models/FORMULATION.md §4, "Hand-over to HiGHS"). Between levels only what changes reaches HiGHS:
the active objective's costs, row bounds (a level kept or released, a constraint switched on or
off), column bounds (a flow closed or freed) and integrality. The current solution is one vector
over the compiled columns: ``values`` reads a variable component from it, ``set_values`` writes an
incumbent into it. A level that ends without an answer raises ``LevelFailed`` with its record
(status, bound, gap, time), never silently.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Iterable, Iterator

import highspy
import numpy as np
import pyomo.environ as pyo

from lec_opt.market.result import LevelRecord, LevelStatus, Status
from lec_opt.model.standard_form import bounds_and_integrality, compile_model
from lec_opt.solver.highs import INF, STATES, swallow_banner

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
GAP_EQUAL = 1e-9  # an answer and a bound this close are equal: gap 0 (models/FORMULATION.md §4, "Gap")


def relative_gap(best: float | None, bound: float | None) -> float | None:
    """The relative MIP gap |best - bound| / |best| (Gurobi's MIPGap, CPLEX's miprelgap), or None
    when either is unknown: 0 when the two agree within ``GAP_EQUAL`` (both 0 included), infinite
    when best = 0 != bound (models/FORMULATION.md §4, "Gap")."""
    if best is None or bound is None or not np.isfinite(bound):
        return None
    apart = abs(best - bound)
    if apart <= GAP_EQUAL:
        return 0.0
    return math.inf if best == 0.0 else apart / abs(best)


class LevelSolver:
    """HiGHS for the levels of one interval model: choose an objective, solve, record."""

    def __init__(self, m: pyo.ConcreteModel, seed: int, threads: int | None = None, tight: bool = False):
        """Compile ``m`` and hand it to HiGHS.

        ``tight``: feasibility tolerances of 1e-9 instead of HiGHS's 1e-6 (semi-continuous trades:
        x >= min_trade y must not be met only to within 1e-6 kWh).
        """
        self.m = m
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
        self.x = np.zeros(n)  # the current solution
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
        """The matrix, bounds and integrality to a new HiGHS object (no objective yet), as numpy
        arrays (highspy copies them at C speed; a ``HighsLp``'s fields would convert each entry)."""
        a, n = self.a, self.n
        swallow_banner()
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.passModel(
            n,
            a.shape[0],
            a.nnz,
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            0.0,
            np.zeros(n),
            self.col_lower,
            self.col_upper,
            self.row_lower,
            self.row_upper,
            a.indptr.astype(np.int32),
            a.indices.astype(np.int32),
            a.data,
            self.integer.astype(np.int32),  # HighsVarType: 0 continuous, 1 integer
        )

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
        self.highs.changeRowsBounds(idx.size, idx, lower, upper)

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
        self.highs.changeRowBounds(k, float(self.row_lower[k]), float(self.row_upper[k]))

    def fix(self, cols: np.ndarray, value: float | np.ndarray = 0.0) -> None:
        """Columns fixed to ``value`` (one for all, or one per column; equal bounds) until ``unfix``."""
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size:
            full = np.array(np.broadcast_to(np.asarray(value, dtype=float), cols.shape))
            self.highs.changeColsBounds(cols.size, cols, full, full)

    def set_lower(self, cols: np.ndarray, value: float) -> None:
        """Columns with lower bound ``value`` (their own upper bound) until ``unfix``."""
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size:
            self.highs.changeColsBounds(cols.size, cols, np.full(cols.size, value), self.col_upper[cols])

    def is_feasible(self, x: np.ndarray, tolerance: float = 1e-8) -> bool:
        """Does ``x`` meet every row and column bound HiGHS holds now, and integrality, within ``tolerance``?"""
        lp = self.highs.getLp()
        tol = lambda b: tolerance * np.maximum(1.0, np.abs(np.where(np.isfinite(b), b, 0.0)))  # noqa: E731
        col_lower, col_upper = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
        row_lower, row_upper = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
        ax = self.a @ x
        integer = self._integer_now  # as HiGHS holds it (``set_integer`` is the only change)
        return bool(
            np.all(x >= col_lower - tol(col_lower))
            and np.all(x <= col_upper + tol(col_upper))
            and np.all(ax >= row_lower - tol(row_lower))
            and np.all(ax <= row_upper + tol(row_upper))
            and np.all(np.abs(x[integer] - np.round(x[integer])) <= 1e-9)
        )

    def unfix(self, cols: np.ndarray) -> None:
        """Columns back to their own bounds."""
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size:
            self.highs.changeColsBounds(cols.size, cols, self.col_lower[cols], self.col_upper[cols])

    def set_integer(self, variables: Iterable[pyo.Var], integer: bool) -> None:
        """Integrality of these components' columns on (their own domain) or off (relaxed)."""
        cols = np.concatenate([self.cols(v) for v in variables])
        cols = cols[(cols >= 0)]
        cols = cols[self.integer[cols]].astype(np.int32)
        if cols.size:
            kind = highspy.HighsVarType.kInteger if integer else highspy.HighsVarType.kContinuous
            self.highs.changeColsIntegrality(cols.size, cols, np.full(cols.size, kind))
            self._integer_now[cols] = integer

    # --- the solution ----------------------------------------------------------------------------

    def values(self, var: pyo.Var) -> np.ndarray:
        """``var``'s entries in index order from the current solution (a column-less entry: its value, or 0)."""
        cols = self.cols(var)
        out = self.x[np.maximum(cols, 0)]
        missing = cols < 0
        if missing.any():
            out[missing] = [v.value or 0.0 for v, gone in zip(var.values(), missing) if gone]
        return out

    def value(self, var: pyo.Var) -> float:
        """A scalar variable's value in the current solution."""
        return float(self.values(var)[0])

    def set_values(self, var: pyo.Var, values: np.ndarray) -> None:
        """Write ``values`` (index order) into the current solution, e.g. an incumbent."""
        cols = self.cols(var)
        keep = cols >= 0
        self.x[cols[keep]] = np.asarray(values, dtype=float)[keep]

    def objective(self, name: str, x: np.ndarray | None = None) -> float:
        """Objective ``obj_<name>`` at ``x`` (default: the current solution), correctly rounded.

        ``math.fsum`` of the products, not a dot product, whose last bits depend on the memory
        alignment and the CPU's vector width: a point exactly on a kept level's bound (a greedy
        matching often is) must be judged the same way on every machine.
        """
        key = f"obj_{name}"
        return math.fsum(self.cost[key] * (self.x if x is None else x)) + self.cost_offset[key]

    # --- solving ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def presolve_off(self) -> Iterator[None]:
        """Solve without HiGHS's presolve inside the block, then back to HiGHS's default."""
        self.options["presolve"] = "off"
        try:
            yield
        finally:
            self.options["presolve"] = "choose"

    def _run(self) -> LevelStatus:
        """One HiGHS run on the model as it stands; how it ended."""
        self.highs.run()
        return STATES.get(self.highs.getModelStatus(), LevelStatus.UNKNOWN)

    def solve(
        self,
        level: int,
        name: str,
        time_limit: float,
        gap: float,
        warm: bool = False,
        node_limit: int | None = None,
        abs_gap: float = _HIGHS_ABS_GAP,
    ) -> LevelRecord:
        """Solve level ``level`` (objective ``obj_<name>``); its solution becomes the current one.

        ``node_limit`` bounds a MIP search by branch-and-bound nodes (deterministic work); a MIP
        stops at ``gap`` relative to its incumbent or at ``abs_gap`` absolute, whichever comes first;
        ``time_limit`` is wall-clock, a safety net whose binding the status names. ``warm``: start
        a MIP from the current solution.

        A suspicious status (infeasible, unknown, error) is tried once more without presolve:
        HiGHS 1.16's MIP presolve has declared feasible small models infeasible.
        """
        key = f"obj_{name}"
        h = self.highs
        started = time.perf_counter()
        large_lp = self.large and not self._integer_now.any()
        if large_lp and name != self._last_objective:
            h.clearSolver()  # a large LP starts cold when its objective changed (models/FORMULATION.md §4)
        self._last_objective = name
        h.changeObjectiveSense(highspy.ObjSense.kMaximize if self.maximise[key] else highspy.ObjSense.kMinimize)
        h.changeObjectiveOffset(self.cost_offset[key])
        h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), self.cost[key])
        # HiGHS's time limit counts its run time summed over every run of this object: add the spent
        options = self.options | {
            "time_limit": self._highs_seconds_so_far + time_limit,
            "mip_rel_gap": gap,
            "mip_abs_gap": abs_gap,
            "mip_max_nodes": _NO_NODE_LIMIT if node_limit is None else node_limit,
        }
        for option, setting in options.items():
            if self._options_set.get(option) != setting:  # HiGHS keeps an option until it is changed
                h.setOptionValue(option, setting)
                self._options_set[option] = setting
        if warm:
            start = highspy.HighsSolution()
            start.col_value = self.x.tolist()
            start.value_valid = True
            h.setSolution(start)
        status = self._run()
        seconds = time.perf_counter() - started
        if status in _SUSPECT and not self._retrying:
            self._retrying = True
            try:
                with self.presolve_off():
                    record = self.solve(level, name, time_limit, gap, warm, node_limit, abs_gap)
            finally:
                self._retrying = False
            return record.then(f" (after {status.value} with presolve; retried without)")
        highs_total = h.getRunTime()  # HiGHS's run time summed over this object's runs
        highs_seconds = highs_total - self._highs_seconds_so_far
        self._highs_seconds_so_far = highs_total
        info = h.getInfo()
        mip = info.mip_node_count >= 0
        has_answer = info.primal_solution_status == 2  # kSolutionStatusFeasible
        best = float(info.objective_function_value) if has_answer else None
        bound = float(info.mip_dual_bound) if mip else (best if status is LevelStatus.OPTIMAL else None)
        record = LevelRecord(
            level, name, Status(status), best, bound, relative_gap(best, bound), seconds, highs_seconds
        )
        # a MIP stopped by a limit keeps a feasible incumbent; an LP stopped by one has no answer at all
        if status is LevelStatus.OPTIMAL or (status in _STOPPED and best is not None and mip):
            self.x = np.asarray(h.getSolution().col_value, dtype=float)
            return record
        raise LevelFailed(record)
