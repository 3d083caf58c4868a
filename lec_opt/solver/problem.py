"""A persistent HiGHS problem: one model handed over once, then only its changes, each run a value.

``Problem`` holds one ``highspy.Highs`` object for the levels of one interval model
(``lec_opt.model.level_solver``): built from the standard form (a CSC matrix, column and row bounds,
integrality), it takes changes of row and column bounds, integrality, objective and options, and
each ``run`` returns a ``Run``: how HiGHS ended (a ``LevelStatus``), its point, its objective, the
MIP's proven bound, the reduced costs when asked for, and HiGHS's own seconds. Nothing outside
``lec_opt.solver`` sees the ``highspy`` object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse

from lec_opt.market.result import LevelStatus
from lec_opt.solver.highs import INF, STATES, swallow_banner

_FEASIBLE = 2  # HiGHS's kSolutionStatusFeasible

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


@dataclass(frozen=True)
class Run:
    """One HiGHS run of a ``Problem``.

    ``state``: how it ended; ``mip``: the model had integer columns (HiGHS ran branch and bound);
    ``x``: its point (None without a feasible one, unless HiGHS calls it optimal); ``objective``: that point's value (None
    without one); ``bound``: the MIP's proven bound (HiGHS's mip_dual_bound; meaningless for an
    LP); ``duals``: the columns' reduced costs when asked for and dual feasible, else None;
    ``run_time``: HiGHS's run time summed over every run of the problem so far.
    """

    state: LevelStatus
    mip: bool
    x: np.ndarray | None
    objective: float | None
    bound: float
    duals: np.ndarray | None
    run_time: float

    @property
    def gap(self) -> float | None:
        """The relative MIP gap of ``objective`` to ``bound`` (``relative_gap``); None for an LP."""
        return relative_gap(self.objective, self.bound) if self.mip else None


class Problem:
    """One model held by HiGHS between runs: change its bounds, integrality, objective and options,
    then ``run``. Column and row indices are those of the arrays it was built from."""

    def __init__(
        self,
        a: scipy.sparse.csc_matrix,
        col_lower: np.ndarray,
        col_upper: np.ndarray,
        row_lower: np.ndarray,
        row_upper: np.ndarray,
        integer: np.ndarray,
    ):
        """The matrix ``a`` (columns by CSC), its bounds and integrality (True: an integer column)
        to a new HiGHS object, with no objective yet, as numpy arrays (highspy copies them at C
        speed; a ``HighsLp``'s fields would convert each entry)."""
        n = a.shape[1]
        swallow_banner()
        self._highs = h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(
            n,
            a.shape[0],
            a.nnz,
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            0.0,
            np.zeros(n),
            col_lower,
            col_upper,
            row_lower,
            row_upper,
            a.indptr.astype(np.int32),
            a.indices.astype(np.int32),
            a.data,
            integer.astype(np.int32),  # HighsVarType: 0 continuous, 1 integer
        )

    # --- changes ---------------------------------------------------------------------------------

    def set_rows_bounds(self, rows: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Rows ``rows`` get bounds [lower, upper] (arrays of their length)."""
        rows = np.asarray(rows, dtype=np.int32)
        self._highs.changeRowsBounds(rows.size, rows, lower, upper)

    def set_row_bounds(self, row: int, lower: float, upper: float) -> None:
        """One row gets bounds [lower, upper]."""
        self._highs.changeRowBounds(row, lower, upper)

    def set_cols_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Columns ``cols`` get bounds [lower, upper] (arrays of their length); nothing if none."""
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size:
            self._highs.changeColsBounds(cols.size, cols, lower, upper)

    def set_integer(self, cols: np.ndarray, integer: bool) -> None:
        """Columns ``cols`` integer (True) or continuous."""
        cols = np.asarray(cols, dtype=np.int32)
        kind = highspy.HighsVarType.kInteger if integer else highspy.HighsVarType.kContinuous
        self._highs.changeColsIntegrality(cols.size, cols, np.full(cols.size, kind))

    def set_objective(self, maximise: bool, offset: float, cost: np.ndarray) -> None:
        """The objective: its sense, constant and every column's cost."""
        h = self._highs
        h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize)
        h.changeObjectiveOffset(offset)
        h.changeColsCost(cost.size, np.arange(cost.size, dtype=np.int32), cost)

    def set_option(self, option: str, setting: object) -> None:
        """One HiGHS option; HiGHS keeps it until it is set again."""
        self._highs.setOptionValue(option, setting)

    def option(self, option: str) -> object:
        """The value HiGHS holds for ``option``."""
        return self._highs.getOptionValue(option)[1]

    def set_start(self, x: np.ndarray) -> None:
        """The point the next run starts from (a MIP's first incumbent when feasible)."""
        start = highspy.HighsSolution()
        start.col_value = x.tolist()
        start.value_valid = True
        self._highs.setSolution(start)

    def clear_solver(self) -> None:
        """Forget the basis and every solver state: the next run starts cold."""
        self._highs.clearSolver()

    # --- reading ---------------------------------------------------------------------------------

    def held_bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The bounds HiGHS holds now: (column lower, column upper, row lower, row upper)."""
        lp = self._highs.getLp()
        return (
            np.asarray(lp.col_lower_),
            np.asarray(lp.col_upper_),
            np.asarray(lp.row_lower_),
            np.asarray(lp.row_upper_),
        )

    def held_lp(self):
        """HiGHS's own copy of the model as it stands (a ``highspy.HighsLp``): for the tests and
        benchmarks that compare it with another compile, never for the solve."""
        return self._highs.getLp()

    def run_time(self) -> float:
        """HiGHS's run time summed over every run of this problem."""
        return float(self._highs.getRunTime())

    def run(self, duals: bool = False) -> Run:
        """One HiGHS run on the model as it stands; ``duals``: read the reduced costs too."""
        h = self._highs
        h.run()
        state = STATES.get(h.getModelStatus(), LevelStatus.UNKNOWN)
        info = h.getInfo()
        feasible = info.primal_solution_status == _FEASIBLE
        has_x = feasible or state is LevelStatus.OPTIMAL
        solution = h.getSolution() if has_x or duals else None
        x = np.asarray(solution.col_value, dtype=float) if has_x else None
        reduced = None
        if duals and info.dual_solution_status == _FEASIBLE and info.num_dual_infeasibilities == 0:
            reduced = np.asarray(solution.col_dual)
        return Run(
            state,
            info.mip_node_count >= 0,
            x,
            float(info.objective_function_value) if feasible else None,
            float(info.mip_dual_bound),
            reduced,
            float(h.getRunTime()),
        )


__all__ = ["GAP_EQUAL", "INF", "Problem", "Run", "relative_gap"]
