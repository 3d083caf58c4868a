"""The MILP's shortcuts against the plain MILP on random small instances (models/FORMULATION.md §4).

With no minimum trade, ``solve_matching`` solves levels 1 and 3 as LPs (pairs fixed open), level 1
of A and B in closed form, and level 4 from an incumbent, a proven bound and the LP relaxation.
Here every level is also solved as the plain MILP (every binary free, no gap): the volumes and
the priority optima must agree, level 4's incumbent may not beat the true optimum (it is a
feasible matching) and its bound may not exceed it (it is proven); "optimal" must be optimal.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyomo.environ as pyo
import pytest
from helpers import HAND_A, instances, with_options
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lec_opt.model.level_solver as level_solver
from lec_opt.market.ces import ces_params
from lec_opt.market.priorities import PRIORITIES
from lec_opt.market.result import LevelStatus, Status
from lec_opt.model.build import build_interval_model
from lec_opt.model.level_solver import LevelSolver
from lec_opt.model.lexicographic import _fix_level, add_level_constraints, solve_matching
from lec_opt.model.shortcuts import CHAIN_C

EXAMPLES = settings(
    max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def plain_milp(snap, scenario, soc, priority: str) -> tuple[float, float, float]:
    """Levels 1, 3 and 4 as MILPs with every matching binary (y, W) free, each to optimality (gap 0).

    The CES modes zc, zd are relaxed as in the day's model: levels 1, 3 and 4 do not involve the
    CES, and HiGHS 1.16 has called such tiny MILPs infeasible with them binary.
    """
    m, _ = build_interval_model(snap, scenario, ces_params(scenario, snap, soc))
    for z in (m.charging, m.discharging):
        z.domain = pyo.UnitInterval
    add_level_constraints(m)
    solver = LevelSolver(m, scenario.seed)
    if priority == "C":
        solver.activate(m.price_pairs_only)
    tolerance = scenario.solver.lexicographic_tolerance
    l1 = solver.solve(1, "p2p", 60.0, 0.0)
    _fix_level(solver, "p2p", l1, tolerance)
    name = f"priority_{priority.lower()}"
    l3 = solver.solve(3, name, 60.0, 0.0)
    _fix_level(solver, name, l3, tolerance)
    l4 = solver.solve(4, "transactions", 60.0, 0.0)
    assert all(lv.state.optimal for lv in (l1, l3, l4)), (l1.status, l3.status, l4.status)
    return l1.objective, l3.objective, round(l4.objective)


def _solved_as_large(snap, scenario, priority: str):
    """``solve_matching`` of one priority with the small model counted as large
    (``LARGE_LP_COLUMNS`` = 0: every large-model shortcut on); it must not fall back."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(level_solver, "LARGE_LP_COLUMNS", 0)
        matching = solve_matching(snap, scenario, (priority,))[priority]
    assert not matching.fallback, matching.fallback_reason
    return matching


@EXAMPLES
@given(instances(max_peers=7, need_pair=True))
def test_lp_levels_closed_form_and_level_4_bounds_against_the_plain_milp(case):
    snap, scenario, soc = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": 0.0})
    for priority, matching in solve_matching(snap, scenario).items():
        assert not matching.fallback, matching.fallback_reason
        l1, l3, l4 = matching.levels
        p1, p3, p4 = plain_milp(snap, scenario, soc, priority)
        # the plain MILP is exact only to HiGHS's tolerances: a binary at 1 - 1e-6 caps each x at (1 - 1e-6) cap
        assert l1.objective == pytest.approx(p1, rel=1e-5, abs=1e-5), (priority, l1.status)
        assert l3.objective == pytest.approx(p3, rel=1e-5, abs=1e-5), priority
        assert len(matching.flows) == l4.objective
        assert l4.bound <= p4 <= l4.objective, (priority, l4.status, l4.bound, p4, l4.objective)
        if l4.state.optimal:
            assert l4.objective == p4, (priority, l4.status)


def test_the_closed_form_is_used_where_it_holds_and_only_there():
    """A and B on dense pairs take level 1 in closed form; C (price rule) solves its LP."""
    from helpers import pinned

    from lec_opt import load_scenario

    scenario = pinned(
        load_scenario(),
        {
            "capacity_kwh": 900.0,
            "charge_power_kw": 100.0,
            "discharge_power_kw": 100.0,
            "k": 0.5,
            "S": 0.01,
            "degradation": 0.01,
        },
    )
    states = {p: m.levels[0].how for p, m in solve_matching(HAND_A.snap, scenario, PRIORITIES).items()}
    assert states["A"].state is LevelStatus.CLOSED_FORM and states["B"].state is LevelStatus.CLOSED_FORM
    assert states["C"] == Status(LevelStatus.OPTIMAL)


@EXAMPLES
@given(instances(max_peers=7, need_pair=True), st.sampled_from([0.02, 0.05]))
def test_level_3_of_a_in_closed_form_against_the_plain_milp(case, grid):
    """The greedy A (north-west corner) is level 3's optimum, ties included: surpluses and deficits
    are rounded to a coarse grid, so that equal sizes are common. Small models take this path only
    when counted as large (``LARGE_LP_COLUMNS`` = 0 here)."""
    snap, scenario, soc = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": 0.0})
    coarse = lambda kwh: np.maximum(np.round(kwh / grid) * grid, grid)  # noqa: E731
    snap = replace(snap, surplus_kwh=coarse(snap.surplus_kwh), deficit_kwh=coarse(snap.deficit_kwh))
    matching = _solved_as_large(snap, scenario, "A")
    l3 = matching.levels[1]
    assert l3.state is LevelStatus.CLOSED_FORM, l3.status
    _, p3, p4 = plain_milp(snap, scenario, soc, "A")
    assert l3.objective == pytest.approx(p3, rel=1e-5, abs=1e-5)
    l4 = matching.levels[2]
    assert l4.bound <= p4 <= l4.objective


def _peer_rows(snap, pairs) -> tuple[np.ndarray, np.ndarray]:
    """Each seller's sales <= s_i and each buyer's purchases <= r_j over the pairs: (rows, rhs)."""
    n = len(pairs.seller)
    rows = np.zeros((len(snap.sellers) + len(snap.buyers), n))
    rows[pairs.seller, np.arange(n)] = 1.0
    rows[len(snap.sellers) + pairs.buyer, np.arange(n)] = 1.0
    return rows, np.concatenate([snap.surplus_kwh, snap.deficit_kwh])


def _max_volume_lp(snap, pairs, allowed) -> float:
    """Level 1 as a plain LP (scipy's HiGHS): max Σ x over the allowed pairs, within s and r."""
    from scipy.optimize import linprog

    n = len(pairs.seller)
    rows, rhs = _peer_rows(snap, pairs)
    bounds = [(0.0, None if ok else 0.0) for ok in allowed]
    return -linprog(-np.ones(n), A_ub=rows, b_ub=rhs, bounds=bounds, method="highs").fun


@EXAMPLES
@given(instances(max_peers=9, need_pair=True))
def test_nested_volume_against_the_lp(case):
    """C's level 1 (price rule on dense pairs: nested) in closed form equals the LP; through the model
    (``LARGE_LP_COLUMNS`` = 0) its record says so and the matching keeps that volume."""
    from lec_opt.market.pairs import allowed_pairs, candidate_pairs, nested_flows

    snap, scenario, _ = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": 0.0})
    pairs = candidate_pairs(snap)
    allowed = allowed_pairs(snap, pairs, True)
    flows = nested_flows(snap, pairs, allowed)
    assert flows is not None  # bid >= ask makes the buyers' seller sets nested
    assert np.all(flows[~allowed] == 0.0) and np.all(flows >= 0.0)
    assert np.all(np.bincount(pairs.seller, flows, len(snap.sellers)) <= snap.surplus_kwh + 1e-12)
    assert np.all(np.bincount(pairs.buyer, flows, len(snap.buyers)) <= snap.deficit_kwh + 1e-12)
    volume = flows.sum()
    assert volume == pytest.approx(_max_volume_lp(snap, pairs, allowed), rel=1e-9, abs=1e-12)
    matching = _solved_as_large(snap, scenario, "C")
    assert matching.levels[0].state is LevelStatus.CLOSED_FORM
    slack = scenario.solver.lexicographic_tolerance * max(1.0, volume)  # level 1 is kept within its tolerance
    assert volume - slack - 1e-12 <= sum(f[2] for f in matching.flows) <= volume + 1e-9


def test_nested_volume_refuses_sets_that_are_not_nested():
    """Two buyers each reaching a seller the other cannot: no order makes both sets prefixes."""
    from lec_opt.market.pairs import candidate_pairs, nested_flows

    snap = HAND_A.snap
    pairs = candidate_pairs(snap)
    allowed = np.zeros(len(pairs.seller), dtype=bool)
    allowed[(pairs.seller == 0) & (pairs.buyer == 0)] = True
    allowed[(pairs.seller == 1) & (pairs.buyer == 1)] = True
    assert nested_flows(snap, pairs, allowed) is None


@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_peers=7, need_pair=True))
def test_large_model_shortcuts_keep_every_level(case):
    """Every shortcut of large models at once (``LARGE_LP_COLUMNS`` = 0: cold starts, level 1 of C
    and level 3 of A in closed form, level 2 on fixed flows) gives ``solve_milp`` the same optimum at
    each of levels 1-3 as the plain path."""
    from lec_opt.model.lexicographic import solve_milp
    from lec_opt.model.shortcuts import FIXED_FLOWS

    snap, scenario, soc = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": 0.0})
    plain = solve_milp(snap, scenario, soc)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(level_solver, "LARGE_LP_COLUMNS", 0)
        large = solve_milp(snap, scenario, soc)
    for priority in PRIORITIES:
        assert not large[priority].fallback and not plain[priority].fallback
        assert FIXED_FLOWS in large[priority].levels[1].status
        for ours, theirs in zip(large[priority].levels[:3], plain[priority].levels[:3], strict=True):
            assert (ours.level, ours.name) == (theirs.level, theirs.name)
            # the plain LP may spend level 1's tolerance (1e-6 kWh less P2P) on a slightly better CES
            assert ours.objective == pytest.approx(theirs.objective, rel=1e-5, abs=1e-5), (priority, ours.name)


@EXAMPLES
@given(instances(max_peers=7, need_pair=True), st.sampled_from([0.02, 0.05]))
def test_pairs_off_the_optimal_face_of_a_trade_at_no_optimum(case, grid):
    """``priority_a_face``: a pair it rules out carries nothing at any level-3 optimum of A. For each
    such pair an LP maximises its flow over the optima (max volume, A's optimum kept), with equal
    surpluses and deficits made common by a coarse grid; every flag is also checked through
    ``solve_matching`` counted as large (level 4's bound may not exceed the plain MILP's optimum)."""
    from scipy.optimize import linprog

    from lec_opt.market.pairs import allowed_pairs, candidate_pairs
    from lec_opt.market.priorities import priority_a_face, weight_a
    from lec_opt.model.level4 import greedy_flows

    snap, scenario, soc = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": 0.0})
    coarse = lambda kwh: np.maximum(np.round(kwh / grid) * grid, grid)  # noqa: E731
    snap = replace(snap, surplus_kwh=coarse(snap.surplus_kwh), deficit_kwh=coarse(snap.deficit_kwh))
    pairs = candidate_pairs(snap)
    allowed = allowed_pairs(snap, pairs, False)
    optimum = greedy_flows(snap, pairs, "A", 0.0)
    face = priority_a_face(snap, pairs.seller, pairs.buyer, optimum)
    assert np.all(face[optimum > 0])
    n = len(pairs.seller)
    rows, rhs = _peer_rows(snap, pairs)
    weight = weight_a(snap, pairs.seller, pairs.buyer)
    best = float(weight @ optimum)
    keep = np.vstack([-np.ones(n), -weight])  # volume and A's objective at their optima (to 1e-9)
    a_ub = np.vstack([rows, keep])
    b_ub = np.concatenate([rhs, [-optimum.sum() + 1e-9, -best + 1e-9]])
    bounds = [(0.0, None if ok else 0.0) for ok in allowed]
    for k in np.flatnonzero(~face & allowed):
        c = np.zeros(n)
        c[k] = -1.0
        lp = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
        assert lp.status == 0 and -lp.fun <= 1e-6, (k, -lp.fun)
    matching = _solved_as_large(snap, scenario, "A")
    _, _, p4 = plain_milp(snap, scenario, soc, "A")
    l4 = matching.levels[2]
    assert l4.bound <= p4 <= l4.objective


@EXAMPLES
@given(instances(max_peers=9, need_pair=True))
def test_level_3_of_c_along_the_chain_against_the_lp(case):
    """C's level 3 as a min-cost flow along the sellers in price order (``price_rule_optimum``)
    equals the pair LP (max Σ (bid - ask) x at the maximum volume, price rule); its flows are a
    feasible forest; through the model (``LARGE_LP_COLUMNS`` = 0) the record says so."""
    from scipy.optimize import linprog

    from lec_opt.market.pairs import allowed_pairs, candidate_pairs, nested_flows, price_rule_optimum

    snap, scenario, _ = case
    scenario = with_options(scenario, willingness={"min_trade_kwh": 0.0})
    pairs = candidate_pairs(snap)
    allowed = allowed_pairs(snap, pairs, True)
    volume = float(nested_flows(snap, pairs, allowed).sum())
    flows = price_rule_optimum(snap, pairs, allowed, volume)
    assert flows is not None and np.all(flows >= 0.0) and np.all(flows[~allowed] == 0.0)
    assert np.all(np.bincount(pairs.seller, flows, len(snap.sellers)) <= snap.surplus_kwh + 1e-9)
    assert np.all(np.bincount(pairs.buyer, flows, len(snap.buyers)) <= snap.deficit_kwh + 1e-9)
    assert flows.sum() == pytest.approx(volume, rel=1e-9, abs=1e-9)
    assert np.count_nonzero(flows) <= len(snap.sellers) + len(snap.buyers) - 1  # a forest
    n = len(pairs.seller)
    rows, rhs = _peer_rows(snap, pairs)
    lp = linprog(
        -pairs.margin_c,
        A_ub=rows,
        b_ub=rhs,
        A_eq=np.ones((1, n)),
        b_eq=[volume],
        bounds=[(0.0, None if ok else 0.0) for ok in allowed],
        method="highs",
    )
    assert lp.status == 0
    assert float(pairs.margin_c @ flows) == pytest.approx(-lp.fun, rel=1e-7, abs=1e-9)
    matching = _solved_as_large(snap, scenario, "C")
    l3 = matching.levels[1]
    assert l3.how == CHAIN_C, l3.status
    assert l3.objective == pytest.approx(-lp.fun, rel=1e-6, abs=1e-8)
