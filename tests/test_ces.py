"""The CES of one interval (``lec_opt.market.ces``): U01/U02, the exact dispatch, the MILP's tangent hypographs.

``dispatch`` is checked against the continuous CES sub-problem solved as an exact QP by HiGHS
(Pyomo's ``pyomo.contrib.solver`` interface; HiGHS has no MIQP, so the three modes -- charging,
discharging to peers, idle -- are three QPs and the best one wins). The MILP's level 2, with the
quadratic parts replaced by tangent hypographs, must then lie between the exact optimum and the
exact optimum plus ``pwl_error_bound``.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest
from helpers import check_result, greedy_result, level, make_snapshot, pinned
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import TerminationCondition

from lec_opt import load_scenario
from lec_opt.day.interval import solve_snapshot
from lec_opt.market.ces import CesParams, ces_params, dispatch
from lec_opt.scenario.schema import Scenario

QP_EXAMPLES = settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
MODES = ("charging", "discharging", "idle")

# --- the exact reference ---------------------------------------------------------------------


def _qp(p: CesParams, residual_surplus: float, residual_deficit: float, ev_demand: float, mode: str) -> float | None:
    """max of the level-2 objective (models/FORMULATION.md §4) in one mode, as a QP; None if HiGHS finds it infeasible.

    U01 = k(E_ch C - S E_ch^2/2) - d E_ch - Pc c - pi_buy Eg,  E_ch = c + Eg
    U02 = k(E_dis SoC - S E_dis^2/2) - d E_dis + Pd dd + P_ev Ev,  E_dis = dd + Ev
    grid = pi_sell (residual surplus - c) - pi_buy (residual deficit - dd) - pi_buy (EV demand - Ev)
    charging: dd = 0; discharging to peers: c = Eg = 0; idle: c = Eg = dd = 0 (EVs draw in every mode).
    """
    pc = 0.0 if p.welfare else p.pc
    pd = 0.0 if p.welfare else p.pd
    m = pyo.ConcreteModel()
    m.c = pyo.Var(bounds=(0.0, max(residual_surplus, 0.0)))
    m.eg = pyo.Var(bounds=(0.0, p.charge_max_kwh if p.grid_recharge else 0.0))
    m.dd = pyo.Var(bounds=(0.0, max(residual_deficit, 0.0)))
    m.ev = pyo.Var(bounds=(0.0, ev_demand))
    if mode != "charging":
        m.c.fix(0.0)
        m.eg.fix(0.0)
    if mode != "discharging":
        m.dd.fix(0.0)
    e_ch, e_dis = m.c + m.eg, m.dd + m.ev
    m.charge_power = pyo.Constraint(expr=e_ch <= p.charge_max_kwh)
    m.discharge_power = pyo.Constraint(expr=e_dis <= p.discharge_max_kwh)
    stored = p.soc * p.capacity_kwh + p.eta_c * e_ch - e_dis / p.eta_d
    m.window = pyo.Constraint(expr=pyo.inequality(p.soc_min * p.capacity_kwh, stored, p.soc_max * p.capacity_kwh))
    u01 = p.k * (e_ch * (p.soc_max - p.soc) - 0.5 * p.S * e_ch**2) - p.degradation * e_ch - pc * m.c - p.buy * m.eg
    u02 = p.k * (e_dis * p.soc - 0.5 * p.S * e_dis**2) - p.degradation * e_dis + pd * m.dd + p.p_ev * m.ev
    grid = p.sell * (residual_surplus - m.c) - p.buy * (residual_deficit - m.dd) - p.buy * (ev_demand - m.ev)
    m.obj = pyo.Objective(expr=-(u01 + u02 + grid), sense=pyo.minimize)  # convex QP
    # HiGHS's default thread count, as lec_opt uses: HiGHS keeps one thread pool per process, and a
    # later run asking for another count fails (test_milp.test_an_earlier_highs_run_breaks_the_milp)
    res = SolverFactory("highs").solve(m, raise_exception_on_nonoptimal_result=False, load_solutions=False)
    if res.termination_condition == TerminationCondition.provenInfeasible:
        return None
    assert res.termination_condition == TerminationCondition.convergenceCriteriaSatisfied, res.termination_condition
    return -res.incumbent_objective


def exact_optimum(p: CesParams, residual_surplus: float, residual_deficit: float, ev_demand: float) -> float:
    values = [_qp(p, residual_surplus, residual_deficit, ev_demand, mode) for mode in MODES]
    assert values[2] is not None  # idle is always feasible (EVs may come from the grid)
    return max(v for v in values if v is not None)


@st.composite
def ces_cases(draw):
    """Random CES parameters and residuals, with small capacities and SoCs at the edges of the window
    so that every limit binds somewhere (power, room below soc_max / above soc_min, the window)."""
    soc_min = draw(st.sampled_from([0.1, 0.2]))
    soc_max = draw(st.sampled_from([0.8, 0.9]))
    soc = draw(st.one_of(st.sampled_from([soc_min, soc_max, 0.3, 0.5]), st.floats(soc_min, soc_max)))
    buy = draw(st.sampled_from([0.20, 0.30]))
    sell = draw(st.sampled_from([0.05, 0.09]))
    price = st.sampled_from([0.1, 0.145, 0.25])
    p = CesParams(
        capacity_kwh=draw(st.sampled_from([1.0, 5.0, 50.0, 900.0])),
        soc=soc,
        soc_min=soc_min,
        soc_max=soc_max,
        charge_max_kwh=draw(st.sampled_from([0.4, 2.0, 8.3])),
        discharge_max_kwh=draw(st.sampled_from([0.4, 2.0, 8.3])),
        eta_c=draw(st.sampled_from([0.9, 0.95, 1.0])),
        eta_d=draw(st.sampled_from([0.9, 0.95, 1.0])),
        grid_recharge=draw(st.booleans()),
        k=draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])),
        S=draw(st.sampled_from([0.001, 0.01, 0.2, 1.0])),
        degradation=draw(st.sampled_from([0.0, 0.005, 0.05])),
        pc=draw(price),
        pd=draw(price),
        p_ev=draw(price),
        buy=buy,
        sell=sell,
        welfare=draw(st.booleans()),
    )
    amount = st.one_of(st.sampled_from([0.0, 0.5, 3.0]), st.floats(0.0, 12.0))
    return p, draw(amount), draw(amount), draw(st.sampled_from([0.0, 0.0, 0.3, 2.0, 10.0]))


# --- dispatch ------------------------------------------------------------------------------------


@QP_EXAMPLES
@given(ces_cases())
def test_dispatch_is_the_exact_qp_optimum(case):
    p, surplus, deficit, ev = case
    best = dispatch(p, surplus, deficit, ev)
    assert best.objective == pytest.approx(exact_optimum(p, surplus, deficit, ev), abs=1e-7)
    # and its flows are a feasible point that scores that objective
    c, eg = best.charge_from_peers_kwh, best.charge_from_grid_kwh
    d, ev_ces = best.discharge_to_peers_kwh, best.discharge_to_ev_kwh
    assert min(c, eg, d, ev_ces, best.ev_from_grid_kwh) >= -1e-12
    assert c <= surplus + 1e-12 and d <= deficit + 1e-12 and ev_ces + best.ev_from_grid_kwh == pytest.approx(ev)
    assert eg == 0 or p.grid_recharge
    assert not (c + eg > 0 and d > 0)  # one mode
    assert c + eg <= p.charge_max_kwh + 1e-12 and d + ev_ces <= p.discharge_max_kwh + 1e-12
    assert p.soc_min - 1e-12 <= best.soc_end <= p.soc_max + 1e-12
    assert best.soc_end == pytest.approx(p.soc_after(c + eg, d + ev_ces), abs=1e-15)
    assert p.level2_objective(c, eg, d, ev_ces, surplus, deficit, ev) == pytest.approx(best.objective, abs=1e-12)


BASE = CesParams(
    capacity_kwh=500.0,
    soc=0.35,
    soc_min=0.2,
    soc_max=0.9,
    charge_max_kwh=50.0,
    discharge_max_kwh=50.0,
    eta_c=0.95,
    eta_d=0.95,
    grid_recharge=False,
    k=0.5,
    S=0.01,
    degradation=0.01,
    pc=0.145,
    pd=0.145,
    p_ev=0.145,
    buy=0.20,
    sell=0.09,
)


def test_dispatch_by_hand():
    """Charging from 30 kWh of leftover surplus at SoC 0.35 (C = 0.55), Pc = 0.145, pi_sell = 0.09.

    dU/dE = k C - d - (Pc + pi_sell) - k S E = 0.275 - 0.01 - 0.235 - 0.005 E = 0.03 - 0.005 E
    -> E = 6 kWh, SoC 0.35 + 0.95 * 6 / 500 = 0.3614. Objective: U01 = 0.5 (6 * 0.55 - 0.005 * 36)
    - 0.01 * 6 - 0.145 * 6 = 1.56 - 0.93 = 0.63, plus the export of the other 24 kWh, 0.09 * 24 = 2.16:
    2.79 (idle: 0.09 * 30 = 2.7; the gain is the triangle 0.03 * 6 / 2 = 0.09)."""
    best = dispatch(BASE, 30.0, 0.0, 0.0)
    assert best.charge_from_peers_kwh == pytest.approx(6.0, abs=1e-12)
    assert best.charge_from_grid_kwh == 0 and best.discharge_to_peers_kwh == 0
    assert best.soc_end == pytest.approx(0.3614, abs=1e-12)
    assert best.objective == pytest.approx(2.79, abs=1e-12)
    # a 10 kWh CES: only (0.9 - 0.35) * 10 = 5.5 kWh of room, i.e. E = 5.5 / 0.95 < 6: full
    small = dispatch(CesParams(**{**BASE.__dict__, "capacity_kwh": 10.0}), 30.0, 0.0, 0.0)
    assert small.charge_from_peers_kwh == pytest.approx(5.5 / 0.95, abs=1e-9)
    assert small.soc_end == pytest.approx(0.9, abs=1e-12)
    # welfare: Pc is a transfer inside the community, so charging pays from k C - d - pi_sell > 0:
    # 0.275 - 0.01 - 0.09 = 0.175 -> E = 35 kWh, capped by the 30 kWh left
    assert dispatch(CesParams(**{**BASE.__dict__, "welfare": True}), 30.0, 0.0, 0.0).charge_from_peers_kwh == 30.0


# --- tangent hypographs (MILP level 2) -------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5, 16, 64])
def test_tangent_hypograph_error_is_the_bound(n):
    """The lowest tangent minus the quadratic, on a fine grid: largest gap k S h^2 / 8 per utility
    (reached midway between tangent points), so pwl_error_bound is exact and falls as 1/(n-1)^2."""
    p = CesParams(**{**BASE.__dict__, "soc": 0.5, "charge_max_kwh": 8.0, "discharge_max_kwh": 6.0, "S": 0.2})
    a_ch, a_dis = p.tangent_points(n)
    assert a_ch[0] == a_dis[0] == 0 and a_ch[-1] == p.charge_limit_kwh and a_dis[-1] == p.discharge_limit_kwh
    gaps = []
    for a, quad, slope0 in ((a_ch, p.quad_charge, p.accessible), (a_dis, p.quad_discharge, p.soc)):
        e = np.linspace(0.0, a[-1], 20001)
        tangents = quad(a)[None, :] + p.k * (slope0 - p.S * a)[None, :] * (e[:, None] - a[None, :])
        gap = tangents.min(axis=1) - quad(e)
        assert gap.min() >= -1e-12  # a hypograph of a concave function lies above it
        h = a[-1] / (n - 1)
        assert gap.max() == pytest.approx(p.k * p.S * h**2 / 8, rel=1e-6)
        gaps.append(gap.max())
    assert p.pwl_error_bound(n) == pytest.approx(sum(gaps), rel=1e-6)
    assert p.pwl_error_bound(n) == pytest.approx(p.pwl_error_bound(2) / (n - 1) ** 2, rel=1e-12)


def _ces_scenario(S: float, breakpoints: int) -> Scenario:
    """Exact levels (no lexicographic slack, no MIP gap), so that level 2 is the PWL optimum itself."""
    return pinned(
        load_scenario(),
        {
            "capacity_kwh": 500.0,
            "charge_power_kw": 100.0,
            "discharge_power_kw": 100.0,
            "k": 0.5,
            "S": S,
            "degradation": 0.01,
        },
        solver={"utility_breakpoints": breakpoints, "lexicographic_tolerance": 0.0, "mip_gap": 0.0},
    )


# 5-minute intervals, 100 kW: 8.33 kWh of charge or discharge; the P2P volume of the pair is fixed.
PWL_CASES = {
    # seller 10 kWh, buyer 2: 8 kWh left; SoC 0.35: interior charging optimum E = 6 (test_dispatch_by_hand)
    "charging": (0.01, make_snapshot(4, {1: (10.0, 0.1)}, {2: (2.0, 0.2)}), 0.35),
    # buyer 10 kWh, seller 2: 8 kWh short; SoC 0.6, S = 0.2: dU/dE = 0.3 - 0.01 + 0.145 + 0.2 - 0.1 E
    # -> interior discharging optimum E = 6.35 kWh
    "discharging": (0.2, make_snapshot(4, {1: (2.0, 0.1)}, {2: (10.0, 0.2)}), 0.6),
    # grid recharge at SoC 0.25 with EVs drawing 1 kWh: charging mode, both quadratics in play
    "grid and EVs": (0.2, make_snapshot(4, {1: (1.0, 0.1)}, {2: (1.0, 0.2)}, ev_kwh=1.0), 0.25),
}


@pytest.mark.parametrize("case", PWL_CASES)
def test_milp_level_2_is_within_the_pwl_bound(case):
    """exact - 1e-7 <= PWL optimum <= exact + pwl_error_bound + 1e-7, for 2 ... 64 tangent points,
    with the exact optimum from the QPs; the bound (and the observed gap) shrink with more points."""
    S, snap, soc = PWL_CASES[case]
    gaps, bounds = [], []
    for n in (2, 3, 5, 16, 64):
        sc = _ces_scenario(S, n)
        ces = ces_params(sc, snap, soc)
        # the tangent points span every E the model allows (see test_pwl_error_exceeds_its_bound_... below)
        assert ces.charge_limit_kwh == ces.charge_max_kwh and ces.discharge_limit_kwh == ces.discharge_max_kwh
        result = solve_snapshot(snap, sc, soc, ("A",), "milp")["A"]
        volume = level(result, "p2p").objective
        assert volume == pytest.approx(min(snap.total_surplus_kwh, snap.total_deficit_kwh), abs=1e-9)
        exact = exact_optimum(ces, snap.total_surplus_kwh - volume, snap.total_deficit_kwh - volume, snap.ev_kwh)
        assert dispatch(
            ces, snap.total_surplus_kwh - volume, snap.total_deficit_kwh - volume, snap.ev_kwh
        ).objective == pytest.approx(exact, abs=1e-7)
        pwl = level(result, "ces").objective
        bound = ces.pwl_error_bound(n)
        assert result.utility_error_bound == pytest.approx(bound)
        assert exact - 1e-7 <= pwl <= exact + bound + 1e-7, (n, exact, pwl, bound)
        check_result(result, sc, soc)
        gaps.append(pwl - exact)
        bounds.append(bound)
    assert all(b1 > b2 for b1, b2 in zip(bounds, bounds[1:], strict=False))
    # 2 tangents visibly over-estimate; 63^2 = 3969 times smaller a bound leaves little
    assert gaps[0] > 1e-3 and gaps[-1] < gaps[0] / 100


def test_pwl_error_exceeds_its_bound_when_evs_draw_while_charging():
    """2 kWh CES at SoC = soc_min = 0.2, 5 kW (0.4167 kWh per 5 min), k = 0.5, S = 0.2, EVs 1.5 kWh,
    P2P balanced (0.05 / 0.05). No room to discharge from the start SoC, so every u02 tangent sits
    at E = 0: u02 <= k SoC E. Charging from the grid (SoC <= 0.30; dU/dE = 0.35 - 0.01 - 0.2 - 0.1 E
    > 0: the full 0.4167 kWh) lets the EVs take 0.9025 * 0.4167 = 0.376 kWh at once; the PWL then
    over-states U02 by k S E^2 / 2 = 0.1 * 0.376^2 / 2 = 0.0071."""
    sc = pinned(
        load_scenario(),
        {
            "capacity_kwh": 2.0,
            "charge_power_kw": 5.0,
            "discharge_power_kw": 5.0,
            "k": 0.5,
            "S": 0.2,
            "degradation": 0.01,
        },
        solver={"ces_objective": "welfare"},
    )
    snap = make_snapshot(2, {1: (0.05, 0.1)}, {2: (0.05, 0.2)}, ev_kwh=1.5)
    ces = ces_params(sc, snap, 0.2)
    assert ces.discharge_limit_kwh == 0
    best = dispatch(ces, 0.0, 0.0, 1.5)
    assert best.charge_from_grid_kwh == pytest.approx(5 / 12)
    assert best.discharge_to_ev_kwh == pytest.approx(0.9025 * 5 / 12)
    result = solve_snapshot(snap, sc, 0.2, ("A",), "milp")["A"]
    assert level(result, "ces").objective <= best.objective + result.utility_error_bound + 1e-6


# --- modes and the grid-recharge threshold (greedy and MILP) -------------------------------------


def _both(snap, sc, soc):
    """(greedy, MILP, tolerance). Levels 3 and 4 may move the MILP's CES flows within level 2's
    slack, 1e-6 * max(1, |objective|) (a few 1e-6 $ here), at >= 0.1 $/kWh: compare at 1e-4 kWh."""
    return ((greedy_result(snap, sc, soc, "A"), 1e-9), (solve_snapshot(snap, sc, soc, ("A",), "milp")["A"], 1e-4))


@pytest.mark.parametrize("soc", [0.30, 0.31])
def test_grid_recharge_only_at_or_below_30_percent(soc):
    """k = 1 makes grid energy worth storing: seller 1.0 kWh, buyer 0.5, 500 kWh CES, 100 kW.

    SoC 0.30 (C = 0.6): the grid (gain -0.20) is a cheaper source than the peers (-(Pc + pi_sell) =
    -0.235); dU/dE = 0.6 - 0.01 - 0.2 - 0.01 E > 0 up to 39 kWh, so the CES takes the full 8.333 kWh
    from the grid and the 0.5 kWh left over is exported.
    SoC 0.31: no grid; dU/dE = 0.59 - 0.01 - 0.235 > 0, so it takes the 0.5 kWh left over."""
    sc = pinned(
        load_scenario(),
        {
            "capacity_kwh": 500.0,
            "charge_power_kw": 100.0,
            "discharge_power_kw": 100.0,
            "k": 1.0,
            "S": 0.01,
            "degradation": 0.01,
        },
    )
    snap = make_snapshot(4, {1: (1.0, 0.1)}, {2: (0.5, 0.2)})
    for result, tol in _both(snap, sc, soc):
        check_result(result, sc, soc)
        if soc <= 0.30:
            assert result.grid_to_ces_kwh == pytest.approx(100 / 12, abs=tol)
            assert result.seller_to_ces_kwh.sum() == pytest.approx(0.0, abs=tol)
        else:
            assert result.grid_to_ces_kwh == 0.0
            assert result.seller_to_ces_kwh.sum() == pytest.approx(0.5, abs=tol)


@pytest.mark.parametrize(("soc", "mode"), [(0.25, "charge"), (0.31, "discharge")])
def test_one_mode_when_both_would_pay(soc, mode):
    """Seller 1 (1.0 kWh) and buyer 2 (1.0) opted out, seller 3 and buyer 4 trade 0.2: 1.0 kWh
    surplus and 1.0 kWh deficit are left, and k = 1 makes both charging and discharging pay.

    SoC 0.25: charging from the grid, dU/dE = 0.65 - 0.01 - 0.2 - 0.01 E > 0 over the whole
    8.333 kWh: worth ~ 0.44 * 8.33 - 0.005 * 8.33^2 = 3.32 $, far above discharging the 1.0 kWh
    (~ 0.25 - 0.01 + 0.145 + 0.2 = 0.585 $/kWh): charge.
    SoC 0.31: no grid; charging the 1.0 kWh left: 0.59 - 0.01 - 0.235 = 0.345 $/kWh; discharging
    1.0 kWh to the buyer: 0.31 - 0.01 + 0.145 + 0.2 = 0.645 $/kWh: discharge."""
    sc = pinned(
        load_scenario(),
        {
            "capacity_kwh": 500.0,
            "charge_power_kw": 100.0,
            "discharge_power_kw": 100.0,
            "k": 1.0,
            "S": 0.01,
            "degradation": 0.01,
        },
    )
    snap = make_snapshot(4, {1: (1.0, 0.1), 3: (0.2, 0.1)}, {2: (1.0, 0.2), 4: (0.2, 0.2)}, opt_out=(1, 2))
    for result, tol in _both(snap, sc, soc):
        check_result(result, sc, soc)
        charged = result.ces_charge_kwh
        discharged = result.ces_to_buyer_kwh.sum()
        if mode == "charge":
            assert charged == pytest.approx(100 / 12, abs=tol) and discharged <= 1e-9
        else:
            assert discharged == pytest.approx(1.0, abs=tol) and charged <= 1e-9
