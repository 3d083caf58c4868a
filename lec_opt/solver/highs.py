"""HiGHS behind one boundary: with ``lec_opt.solver.problem`` (the interval model's levels, a
persistent problem) the only module that imports highspy, Pyomo's APPSI HiGHS or scipy's HiGHS.

Three ways in, each returning a result value whose status is a ``LevelStatus``:

- ``solve_arrays``: a model given as arrays (a CSR matrix, bounds, costs, integrality) to a new
  ``highspy.Highs`` object, run once (the totals' MILP, a window's MILP);
- ``PyomoHighs``: a Pyomo model through APPSI's persistent HiGHS (the game's separation MILP and
  least-core LPs, the foresight schedule), its solution loaded into the model on request;
- ``linprog``: an LP through ``scipy.optimize.linprog(method="highs")`` (the chain's min-cost flow).

Options reach HiGHS exactly as the callers give them, in the same order, so every solve takes the
path it took before this boundary existed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse

from lec_opt.market.result import LevelStatus

INF = highspy.kHighsInf
_FEASIBLE = 2  # HiGHS's kSolutionStatusFeasible

_Status = highspy.HighsModelStatus
# HiGHS's model status -> a level's state (any other: UNKNOWN)
STATES = {
    _Status.kOptimal: LevelStatus.OPTIMAL,
    _Status.kInfeasible: LevelStatus.INFEASIBLE,
    _Status.kUnboundedOrInfeasible: LevelStatus.INFEASIBLE_OR_UNBOUNDED,
    _Status.kUnbounded: LevelStatus.UNBOUNDED,
    _Status.kTimeLimit: LevelStatus.TIME_LIMIT,
    _Status.kIterationLimit: LevelStatus.ITERATION_LIMIT,
    _Status.kSolutionLimit: LevelStatus.NODE_LIMIT,  # mip_max_nodes reached
    _Status.kObjectiveBound: LevelStatus.OBJECTIVE_LIMIT,
    _Status.kObjectiveTarget: LevelStatus.OBJECTIVE_LIMIT,
}


@functools.cache
def swallow_banner() -> None:
    """The first HiGHS object of a process prints a banner: made once, with the output captured."""
    from pyomo.common.tee import capture_output

    with capture_output(capture_fd=True):
        highspy.Highs()


@dataclass(frozen=True)
class Result:
    """One HiGHS run: how it ended, its point (None without a feasible one), the MIP's proven
    bound (HiGHS's mip_dual_bound) and HiGHS's own seconds."""

    state: LevelStatus
    x: np.ndarray | None
    bound: float
    highs_seconds: float


def solve_arrays(
    a: scipy.sparse.csr_matrix,
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    cost: np.ndarray,
    integer: np.ndarray,
    maximise: bool,
    options: dict,
    start: np.ndarray | None = None,
) -> Result:
    """The model ``a`` (rows by CSR), ``bounds`` = (column lower, column upper, row lower, row
    upper), ``cost``, ``integer`` (1: an integer column) on a new HiGHS object with ``options`` set
    in their order, warm-started from ``start`` when given; one run."""
    col_lower, col_upper, row_lower, row_upper = bounds
    n = a.shape[1]
    h = highspy.Highs()
    for option, setting in options.items():
        h.setOptionValue(option, setting)
    h.passModel(
        n,
        a.shape[0],
        a.nnz,
        int(highspy.MatrixFormat.kRowwise),
        int(highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize),
        0.0,
        cost,
        col_lower,
        col_upper,
        row_lower,
        row_upper,
        a.indptr.astype(np.int32),
        a.indices.astype(np.int32),
        a.data,
        integer,
    )
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = start.tolist()
        solution.value_valid = True
        h.setSolution(solution)
    h.run()
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value, dtype=float) if info.primal_solution_status == _FEASIBLE else None
    state = STATES.get(h.getModelStatus(), LevelStatus.UNKNOWN)
    return Result(state, x, float(info.mip_dual_bound), float(h.getRunTime()))


@dataclass(frozen=True)
class PyomoResult:
    """One APPSI solve: ``optimal``, APPSI's termination condition's name, the best objective found."""

    optimal: bool
    condition: str
    objective: float | None


class PyomoHighs:
    """Pyomo's APPSI HiGHS, persistent over the solves of one model (later solves hand over only
    the model's changes). ``load_solution``: load every solution into the model at once; else
    ``PyomoResult`` callers load it with ``load`` after checking the result."""

    def __init__(self, mip_gap: float, options: dict, load_solution: bool = True):
        from pyomo.contrib.appsi.solvers import Highs as AppsiHighs  # Pyomo only when a Pyomo model is solved

        self._solver = AppsiHighs()
        if not load_solution:
            self._solver.config.load_solution = False
        self._solver.config.stream_solver = False
        self._solver.config.mip_gap = mip_gap
        self._solver.highs_options = options
        self._last = None

    def solve(self, m) -> PyomoResult:
        """Solve the Pyomo model ``m`` as it stands."""
        from pyomo.contrib.appsi.base import TerminationCondition

        res = self._last = self._solver.solve(m)
        condition = res.termination_condition
        return PyomoResult(condition == TerminationCondition.optimal, condition.name, res.best_feasible_objective)

    def load(self) -> None:
        """The last solve's solution into the model's variables."""
        self._last.solution_loader.load_vars()


def linprog(cost: np.ndarray, a_eq, b_eq: np.ndarray, bounds: np.ndarray) -> np.ndarray | None:
    """min cost·x s.t. a_eq x = b_eq, ``bounds`` (n × 2), by ``scipy.optimize.linprog(method="highs")``;
    its point, or None when it ends otherwise than optimal."""
    from scipy.optimize import linprog as scipy_linprog  # scipy.optimize only when an LP is asked for

    lp = scipy_linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    return lp.x if lp.status == 0 else None
