"""The hand-over to HiGHS (models/FORMULATION.md §4): what HiGHS solves is the Pyomo model.

``LevelSolver`` compiles the Pyomo model once and afterwards changes only costs, bounds and
integrality in HiGHS. Here each level's solution is written back into the Pyomo variables and
checked with Pyomo itself: every active constraint holds, the inactive ones are not enforced,
the level's objective evaluated by Pyomo is the value HiGHS reported, and a kept level binds.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest
import scipy.sparse
from helpers import assert_model_feasible, instances, with_options
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from lec_opt.market.ces import ces_params
from lec_opt.market.result import LevelStatus, Status
from lec_opt.model.build import build_interval_model
from lec_opt.model.level_solver import LevelSolver
from lec_opt.model.lexicographic import _fix_level, _release, add_level_constraints
from lec_opt.model.standard_form import flat_linear, flat_rows

EXAMPLES = settings(
    max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _into_pyomo(solver: LevelSolver) -> None:
    """The solver's current solution into the Pyomo variables (fixed ones keep their value)."""
    for v in solver.m.component_data_objects(pyo.Var):
        k = solver.column.get(id(v))
        if k is not None and not v.fixed:
            value = float(solver.x[k])
            v.set_value(round(value) if v.is_integer() else value, skip_validation=True)
        elif v.value is None:
            v.set_value(0, skip_validation=True)


@EXAMPLES
@given(instances(max_peers=7, need_pair=True))
def test_each_level_solves_the_pyomo_model(case):
    snap, scenario, soc = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": 0.02})
    m, _ = build_interval_model(snap, scenario, ces_params(scenario, snap, soc))
    add_level_constraints(m)
    solver = LevelSolver(m, scenario.seed, tight=True)
    solver.activate(m.price_pairs_only)
    solver.activate(m.min_trade)
    tolerance = scenario.solver.lexicographic_tolerance
    kept = []
    for level, name in ((1, "p2p"), (2, "ces"), (3, "priority_c"), (4, "transactions")):
        record = solver.solve(level, name, 60.0, 0.0)
        assert record.how == Status(LevelStatus.OPTIMAL)
        _into_pyomo(solver)
        assert_model_feasible(m, tol=1e-6)
        assert pyo.value(getattr(m, f"obj_{name}")) == pytest.approx(record.objective, rel=1e-7, abs=1e-7)
        assert solver.objective(name) == pytest.approx(record.objective, rel=1e-9, abs=1e-9)
        for earlier, value in kept:  # every kept level still holds
            slack = 2 * tolerance * max(1.0, abs(value))
            got = pyo.value(getattr(m, f"obj_{earlier}"))
            assert got >= value - slack if solver.maximise[f"obj_{earlier}"] else got <= value + slack
        kept.append((name, record.objective))
        _fix_level(solver, name, record, tolerance)


@EXAMPLES
@given(instances(max_peers=7, need_pair=True))
def test_switching_rows_and_columns(case):
    """A constraint switched off binds nothing, on again it binds; a fixed column stays put, an
    unfixed one is back in its own bounds; a released level binds nothing."""
    snap, scenario, soc = case
    m, pairs = build_interval_model(snap, scenario, ces_params(scenario, snap, soc))
    add_level_constraints(m)
    solver = LevelSolver(m, scenario.seed)
    free = solver.solve(1, "p2p", 60.0, 0.0).objective
    solver.activate(m.price_pairs_only)
    priced = solver.solve(1, "p2p", 60.0, 0.0).objective
    assert priced <= free + 1e-9
    assert np.all(solver.values(m.p2p)[~pairs.price_ok] <= 1e-9)  # no flow where bid < ask
    solver.activate(m.price_pairs_only, False)
    assert solver.solve(1, "p2p", 60.0, 0.0).objective == pytest.approx(free, abs=1e-9)
    cols = solver.cols(m.p2p)
    solver.fix(cols, 0.0)
    assert solver.solve(1, "p2p", 60.0, 0.0).objective == pytest.approx(0.0, abs=1e-12)
    solver.unfix(cols)
    record = solver.solve(1, "p2p", 60.0, 0.0)
    assert record.objective == pytest.approx(free, abs=1e-9)
    _fix_level(solver, "p2p", record, 1e-6)
    b = solver.solve(3, "priority_b", 60.0, 0.0).objective
    _release(solver, ["p2p"])
    assert b >= 0.0
    assert solver.solve(3, "priority_b", 60.0, 0.0).objective == pytest.approx(0.0, abs=1e-9)  # nothing kept


def _rows(a, lower, upper) -> list[tuple]:
    """The rows of a matrix that bind anything, with their bounds, as sorted comparable tuples
    (a bound of 1e20 or more is infinite, as in HiGHS)."""
    a = a.tocsr()
    lower = np.where(np.asarray(lower) <= -1e20, -np.inf, lower)
    upper = np.where(np.asarray(upper) >= 1e20, np.inf, upper)
    rows = []
    for k in np.flatnonzero(np.isfinite(lower) | np.isfinite(upper)):
        lo, hi = a.indptr[k], a.indptr[k + 1]
        order = np.argsort(a.indices[lo:hi])
        terms = tuple(zip(a.indices[lo:hi][order].tolist(), np.round(a.data[lo:hi][order], 12).tolist()))
        rows.append((terms, round(float(lower[k]), 9), round(float(upper[k]), 9)))
    return sorted(rows)


@EXAMPLES
@given(instances(max_peers=7, need_pair=True))
def test_kept_level_rows_are_the_pyomo_rows(case):
    """A ``level_*`` row is handed over from its objective's compiled coefficients, not compiled
    again: the LP in HiGHS is row for row what Pyomo's own compiler makes of every active
    constraint, a kept level's bound included."""
    snap, scenario, soc = case
    m, _ = build_interval_model(snap, scenario, ces_params(scenario, snap, soc))
    add_level_constraints(m)
    solver = LevelSolver(m, scenario.seed)
    record = solver.solve(1, "p2p", 60.0, 0.0)
    _fix_level(solver, "p2p", record, 1e-6)
    record = solver.solve(3, "priority_b", 60.0, 0.0)
    _fix_level(solver, "priority_b", record, 1e-6)
    lp = solver.problem.held_lp()
    a = lp.a_matrix_
    ours = scipy.sparse.csc_matrix((a.value_, a.index_, a.start_), shape=(lp.num_row_, lp.num_col_))
    ours_rows = _rows(ours, lp.row_lower_, lp.row_upper_)  # a row switched off is free: left out

    for v in m.component_data_objects(pyo.Var):  # Pyomo's compile keeps fixed columns
        v.unfix()
    info = LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None)
    ours_of = np.array([solver.column[id(v)] for v in info.columns])  # Pyomo's column -> ours
    assert sorted(ours_of.tolist()) == list(range(lp.num_col_))
    in_our_order = info.A.tocsc()[:, np.argsort(ours_of)]
    kinds = np.array([row.bound_type for row in info.rows])
    rhs = np.asarray(info.rhs, dtype=float)
    pyomo_rows = _rows(in_our_order, np.where(kinds <= 0, rhs, -np.inf), np.where(kinds >= 0, rhs, np.inf))
    assert any(name.startswith("level_") for name in solver.rows)
    assert ours_rows == pyomo_rows


@EXAMPLES
@given(instances(max_peers=6, need_pair=True), st.booleans())
def test_objective_cost_rows_are_the_pyomo_rows(case, links):
    """The objectives and rows read from their flat terms (priorities, the relaxed level 4, the
    balances, and with the linking rows the trade caps and minimums) and the parts Pyomo walks give
    HiGHS the cost rows, the column order and the rows, in order, of Pyomo's own compile of them all
    (every constraint on but the kept levels)."""
    snap, scenario, soc = case
    m, _ = build_interval_model(snap, scenario, ces_params(scenario, snap, soc), links=links)
    add_level_constraints(m)
    solver = LevelSolver(m, scenario.seed, linked=links)
    assert {"obj_priority_a", "obj_transactions_relaxed"} <= {
        o.name for o in m.component_objects(pyo.Objective) if flat_linear(o.expr) is not None
    }
    for v in m.component_data_objects(pyo.Var):
        v.unfix()
    for o in m.component_objects(pyo.Objective):
        o.activate()
    read = {c.name for c in m.component_objects(pyo.Constraint) if flat_rows(c) is not None}
    assert {"seller_balance", "buyer_balance"} | ({"trade_cap", "min_trade"} if links else set()) <= read
    for c in m.component_objects(pyo.Constraint):
        c.deactivate() if c.name.startswith("level_") else c.activate()
    info = LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None)
    assert [solver.column[id(v)] for v in info.columns] == list(range(solver.n))
    rows = info.A.shape[0]
    assert (solver.a.tocsr()[:rows] != info.A.tocsr()).nnz == 0
    kinds = np.array([row.bound_type for row in info.rows])
    rhs = np.asarray(info.rhs, dtype=float)
    assert np.array_equal(solver.row_lower[:rows], np.where(kinds <= 0, rhs, -np.inf))
    assert np.array_equal(solver.row_upper[:rows], np.where(kinds >= 0, rhs, np.inf))
    dense = info.c.toarray()
    for k, o in enumerate(info.objectives):
        assert np.array_equal(solver.cost[o.name], dense[k]), o.name
        assert solver.cost_offset[o.name] == info.c_offset[k], o.name


@EXAMPLES
@given(instances(max_peers=6, need_pair=True))
def test_an_absolute_gap_holds_for_its_own_solve_only(case):
    """``abs_gap`` reaches HiGHS for one solve (the minimum-trade searches set it to GAP_EQUAL, so
    that only the relative gap stops them); every other solve is back at HiGHS's default, with the same optimum as a
    solver that never saw it (the path without a minimum trade does not change)."""
    snap, scenario, soc = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": 0.05})
    ces = ces_params(scenario, snap, soc)
    solver = LevelSolver(_with_levels(build_interval_model(snap, scenario, ces)[0]), scenario.seed, tight=True)
    solver.activate(solver.m.min_trade)
    loose = solver.solve(1, "p2p", 60.0, 0.0, abs_gap=0.5)
    assert solver.problem.option("mip_abs_gap") == 0.5
    assert abs(loose.objective - loose.bound) <= 0.5 + 1e-9
    exact = solver.solve(1, "p2p", 60.0, 0.0).objective
    assert solver.problem.option("mip_abs_gap") == 1e-6  # HiGHS's default
    fresh = LevelSolver(_with_levels(build_interval_model(snap, scenario, ces)[0]), scenario.seed, tight=True)
    fresh.activate(fresh.m.min_trade)
    assert exact == pytest.approx(fresh.solve(1, "p2p", 60.0, 0.0).objective, abs=1e-9)


def _with_levels(m):
    add_level_constraints(m)
    return m


def test_a_variable_only_a_flat_part_has_sends_the_model_through_the_compiler(monkeypatch):
    """``compile_model`` reads flat objectives and rows from their terms only when Pyomo's
    walk of the rest has placed every variable; here z appears in a flat objective and a flat
    equality only, so the whole model goes through Pyomo's compiler (a second time), with the
    same rows and costs as Pyomo's own compile."""
    from pyomo.core.expr import LinearExpression, MonomialTermExpression

    import lec_opt.model.standard_form as standard_form

    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=(0.0, 1.0))
    m.z = pyo.Var(bounds=(0.0, 2.0))
    m.walked = pyo.Constraint(expr=m.x[0] * 2.0 + m.x[1] <= 1.5 + m.x[2] * 0.5)
    m.flat_row = pyo.Constraint(expr=LinearExpression([m.x[0], m.z]) == 1.0)
    m.flat_obj = pyo.Objective(
        expr=LinearExpression([MonomialTermExpression((3.0, m.z)), MonomialTermExpression((1.0, m.x[1]))])
    )
    assert standard_form.flat_linear(m.flat_obj.expr) is not None
    assert standard_form.flat_rows(m.flat_row) is not None
    calls = []
    compile_once = standard_form.standard_form
    monkeypatch.setattr(standard_form, "standard_form", lambda *a, **k: calls.append(1) or compile_once(*a, **k))
    compiled = standard_form.compile_model(m)
    assert len(calls) == 2  # the term-read parts could not be placed: everything compiled by Pyomo
    info = LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None)
    assert [compiled.column[id(v)] for v in info.columns] == list(range(len(info.columns)))
    assert (compiled.a != info.A.tocsr()).nnz == 0
    assert np.array_equal(compiled.rhs, np.asarray(info.rhs, dtype=float))
    assert np.array_equal(compiled.cost["flat_obj"], info.c.toarray()[0])
