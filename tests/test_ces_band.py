"""The network band on the CES's net charge (``CesParams.net_min_kwh``/``net_max_kwh``, ``lec_opt.market.ces_band``).

net_min <= E_ch - E_dis <= net_max with E_ch = c + Eg, E_dis = d + Ev. Checked against: a verbatim
copy of the dispatch before the band (an infinite or slack band changes no bit), the level-2 QP
with the band row solved exactly by HiGHS, a multi-start SLSQP over (c, Eg, d, Ev) in each mode,
and linear programs for the reachable range of the net charge.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import HealthCheck, given, settings
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import TerminationCondition
from scipy.optimize import linprog, minimize
from test_ces import BASE, ces_cases

from lec_opt.market.ces import (
    CesDispatch,
    CesParams,
    _golden_max,
    _piecewise_value,
    _segment_max,
    _split,
    dispatch,
)

MODES = ("charging", "discharging", "idle")
FEAS = 1e-9  # the band and the SoC window hold to this (kWh)

# --- the dispatch before the band, verbatim (main at 0c008e8) ----------------------------------


def _dispatch_before_band(p: CesParams, residual_surplus: float, residual_deficit: float, ev_demand: float):
    pc = 0.0 if p.welfare else p.pc
    pd = 0.0 if p.welfare else p.pd
    by_gain = lambda seg: -seg[2]  # noqa: E731
    sources = sorted(
        [
            ("c", max(residual_surplus, 0.0), -(pc + p.sell)),
            ("eg", p.charge_max_kwh if p.grid_recharge else 0.0, -p.buy),
        ],
        key=by_gain,
    )
    peers = ("d", max(residual_deficit, 0.0), pd + p.buy)
    evs = ("ev", max(ev_demand, 0.0), p.p_ev + p.buy)
    lo_band = (p.soc_min - p.soc) * p.capacity_kwh
    hi_band = (p.soc_max - p.soc) * p.capacity_kwh
    best: CesDispatch | None = None
    for charging, to_peers in ((True, False), (False, True), (False, False)):
        c_seg = sources if charging else []
        d_seg = sorted([peers, evs] if to_peers else [evs], key=by_gain)
        c_hi = min(p.charge_max_kwh, sum(s[1] for s in c_seg))
        d_hi = min(p.discharge_max_kwh, sum(s[1] for s in d_seg))
        e_ch = _segment_max(p.k * p.accessible - p.degradation, p.k * p.S, c_seg, c_hi)
        e_dis = _segment_max(p.k * p.soc - p.degradation, p.k * p.S, d_seg, d_hi)
        band = p.eta_c * e_ch - e_dis / p.eta_d
        if band > hi_band + 1e-12 or band < lo_band - 1e-12:
            edge = hi_band if band > hi_band else lo_band
            lo_c = max(0.0, edge / p.eta_c)
            hi_c = min(c_hi, (d_hi / p.eta_d + edge) / p.eta_c)
            if lo_c > hi_c + 1e-12:
                continue
            f_ch = _piecewise_value(p.quad_charge, p.degradation, c_seg)
            f_dis = _piecewise_value(p.quad_discharge, p.degradation, d_seg)
            e_ch = _golden_max(lambda e: f_ch(e) + f_dis(p.eta_d * (p.eta_c * e - edge)), lo_c, max(lo_c, hi_c))
            e_dis = max(p.eta_d * (p.eta_c * e_ch - edge), 0.0)
        charge = _split(e_ch, c_seg)
        discharge = _split(e_dis, d_seg)
        c, eg = charge.get("c", 0.0), charge.get("eg", 0.0)
        d, ev = discharge.get("d", 0.0), discharge.get("ev", 0.0)
        value = p.level2_objective(c, eg, d, ev, residual_surplus, residual_deficit, ev_demand)
        if best is None or value > best.objective + 1e-12:
            best = CesDispatch(c, eg, d, ev, max(ev_demand - ev, 0.0), p.soc_after(c + eg, d + ev), value)
    assert best is not None
    return best


# --- random cases ------------------------------------------------------------------------------


def _random_case(rng: np.random.Generator) -> tuple[CesParams, float, float, float]:
    """Like test_ces.ces_cases: small capacities and SoCs at the window's edges, so every limit binds."""
    soc_min, soc_max = rng.choice([0.1, 0.2]), rng.choice([0.8, 0.9])
    soc = rng.choice([soc_min, soc_max, 0.3, 0.5, rng.uniform(soc_min, soc_max)])
    price = [0.1, 0.145, 0.25]
    p = CesParams(
        capacity_kwh=float(rng.choice([1.0, 5.0, 50.0, 900.0])),
        soc=float(soc),
        soc_min=float(soc_min),
        soc_max=float(soc_max),
        charge_max_kwh=float(rng.choice([0.4, 2.0, 8.3])),
        discharge_max_kwh=float(rng.choice([0.4, 2.0, 8.3])),
        eta_c=float(rng.choice([0.9, 0.95, 1.0])),
        eta_d=float(rng.choice([0.9, 0.95, 1.0])),
        grid_recharge=bool(rng.random() < 0.5),
        k=float(rng.choice([0.0, 0.3, 0.5, 1.0])),
        S=float(rng.choice([0.001, 0.01, 0.2, 1.0])),
        degradation=float(rng.choice([0.0, 0.005, 0.05])),
        pc=float(rng.choice(price)),
        pd=float(rng.choice(price)),
        p_ev=float(rng.choice(price)),
        buy=float(rng.choice([0.20, 0.30])),
        sell=float(rng.choice([0.05, 0.09])),
        welfare=bool(rng.random() < 0.5),
    )

    def amount() -> float:
        return float(rng.choice([0.0, 0.5, 3.0])) if rng.random() < 0.4 else float(rng.uniform(0.0, 12.0))

    return p, amount(), amount(), float(rng.choice([0.0, 0.0, 0.3, 2.0, 10.0]))


def _random_band(rng: np.random.Generator, lo: float, hi: float, inside: bool) -> tuple[float, float]:
    """A band that binds: around the reachable range [lo, hi] (``inside``: it meets it), often a
    point, often one-sided."""
    width = hi - lo
    while True:
        a, b = np.sort(rng.uniform(lo - 0.3 * width - 0.5, hi + 0.3 * width + 0.5, 2))
        kind = rng.integers(4)
        if kind == 0:
            b = a  # a point
        elif kind == 1:
            a = -np.inf
        elif kind == 2:
            b = np.inf
        meets = a <= hi and b >= lo
        margin = min(abs(a - hi), abs(b - lo))
        if meets == inside and margin > 1e-6:
            return float(a), float(b)


def _banded_cases(seed: int, n: int, inside: bool):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        p, surplus, deficit, ev = _random_case(rng)
        lo, hi = p.net_range(surplus, deficit, ev)
        net_min, net_max = _random_band(rng, lo, hi, inside)
        cases.append((replace(p, net_min_kwh=net_min, net_max_kwh=net_max), surplus, deficit, ev))
    return cases


# --- references ----------------------------------------------------------------------------------


def _mode_boxes(p: CesParams, surplus: float, deficit: float, ev: float, mode: str) -> list[tuple[float, float]]:
    """Bounds of (c, Eg, d, Ev) in a mode."""
    c_hi = max(surplus, 0.0) if mode == "charging" else 0.0
    eg_hi = p.charge_max_kwh if (mode == "charging" and p.grid_recharge) else 0.0
    d_hi = max(deficit, 0.0) if mode == "discharging" else 0.0
    return [(0.0, c_hi), (0.0, eg_hi), (0.0, d_hi), (0.0, max(ev, 0.0))]


def _violation(p: CesParams, x) -> float:
    """Largest violation of power limits, SoC window and band by the flows x = (c, Eg, d, Ev)."""
    c, eg, d, ev = x
    e_ch, e_dis = c + eg, d + ev
    stored = p.soc * p.capacity_kwh + p.eta_c * e_ch - e_dis / p.eta_d
    return max(
        e_ch - p.charge_max_kwh,
        e_dis - p.discharge_max_kwh,
        p.soc_min * p.capacity_kwh - stored,
        stored - p.soc_max * p.capacity_kwh,
        p.net_min_kwh - (e_ch - e_dis),
        (e_ch - e_dis) - p.net_max_kwh,
        0.0,
    )


def _slacks(p: CesParams, x) -> np.ndarray:
    """Every row of _violation as a slack >= 0 (the band's rows only when finite), for SLSQP."""
    c, eg, d, ev = x
    e_ch, e_dis = c + eg, d + ev
    stored = p.soc * p.capacity_kwh + p.eta_c * e_ch - e_dis / p.eta_d
    rows = [
        p.charge_max_kwh - e_ch,
        p.discharge_max_kwh - e_dis,
        stored - p.soc_min * p.capacity_kwh,
        p.soc_max * p.capacity_kwh - stored,
        (e_ch - e_dis) - p.net_min_kwh,
        p.net_max_kwh - (e_ch - e_dis),
    ]
    return np.array([r for r in rows if np.isfinite(r)])


def _qp(p: CesParams, surplus: float, deficit: float, ev: float, mode: str) -> float | None:
    """The mode's level-2 optimum with the band row, exactly (HiGHS QP); None when infeasible."""
    m = pyo.ConcreteModel()
    boxes = _mode_boxes(p, surplus, deficit, ev, mode)
    m.x = pyo.Var(range(4), bounds=lambda _, i: boxes[i])
    e_ch, e_dis = m.x[0] + m.x[1], m.x[2] + m.x[3]
    m.charge_power = pyo.Constraint(expr=e_ch <= p.charge_max_kwh)
    m.discharge_power = pyo.Constraint(expr=e_dis <= p.discharge_max_kwh)
    stored = p.soc * p.capacity_kwh + p.eta_c * e_ch - e_dis / p.eta_d
    m.window = pyo.Constraint(expr=pyo.inequality(p.soc_min * p.capacity_kwh, stored, p.soc_max * p.capacity_kwh))
    if np.isfinite(p.net_min_kwh):
        m.band_lo = pyo.Constraint(expr=e_ch - e_dis >= p.net_min_kwh)
    if np.isfinite(p.net_max_kwh):
        m.band_hi = pyo.Constraint(expr=e_ch - e_dis <= p.net_max_kwh)
    # the level-2 objective written out (test_ces._qp), not CesParams.level2_objective
    pc, pd = (0.0, 0.0) if p.welfare else (p.pc, p.pd)
    c, eg, d, ev_ces = (m.x[i] for i in range(4))
    u01 = p.k * (e_ch * (p.soc_max - p.soc) - 0.5 * p.S * e_ch**2) - p.degradation * e_ch - pc * c - p.buy * eg
    u02 = p.k * (e_dis * p.soc - 0.5 * p.S * e_dis**2) - p.degradation * e_dis + pd * d + p.p_ev * ev_ces
    grid = p.sell * (surplus - c) - p.buy * (deficit - d) - p.buy * (ev - ev_ces)
    m.obj = pyo.Objective(expr=-(u01 + u02 + grid), sense=pyo.minimize)
    res = SolverFactory("highs").solve(m, raise_exception_on_nonoptimal_result=False, load_solutions=False)
    if res.termination_condition == TerminationCondition.provenInfeasible:
        return None
    assert res.termination_condition == TerminationCondition.convergenceCriteriaSatisfied, res.termination_condition
    return -res.incumbent_objective


def _exact(p: CesParams, surplus: float, deficit: float, ev: float) -> float | None:
    values = [v for mode in MODES if (v := _qp(p, surplus, deficit, ev, mode)) is not None]
    return max(values) if values else None


def _brute_force(p: CesParams, surplus: float, deficit: float, ev: float, rng: np.random.Generator) -> float:
    """Best feasible point (violation <= FEAS) that SLSQP finds from 8 random starts in each mode."""
    best = -np.inf
    for mode in MODES:
        boxes = _mode_boxes(p, surplus, deficit, ev, mode)
        cons = [{"type": "ineq", "fun": lambda x: _slacks(p, x)}]
        for _ in range(8):
            x0 = [rng.uniform(lo, hi) for lo, hi in boxes]
            res = minimize(
                lambda x: -p.level2_objective(*x, surplus, deficit, ev),
                x0,
                method="SLSQP",
                bounds=boxes,
                constraints=cons,
                options={"ftol": 1e-12, "maxiter": 500},
            )
            x = np.clip(res.x, [b[0] for b in boxes], [b[1] for b in boxes])
            if _violation(p, x) <= FEAS:
                best = max(best, p.level2_objective(*x, surplus, deficit, ev))
    return best


def _check_flows(p: CesParams, out: CesDispatch, surplus: float, deficit: float, ev: float, band: bool = True) -> None:
    """out's flows are a feasible point of one mode (band too when ``band``) that scores out.objective."""
    x = (out.charge_from_peers_kwh, out.charge_from_grid_kwh, out.discharge_to_peers_kwh, out.discharge_to_ev_kwh)
    assert min(*x, out.ev_from_grid_kwh) >= 0
    assert x[0] <= surplus + 1e-12 and x[2] <= deficit + 1e-12 and x[3] + out.ev_from_grid_kwh == pytest.approx(ev)
    assert x[1] == 0 or p.grid_recharge
    assert not (x[0] + x[1] > 0 and x[2] > 0)
    unbanded = replace(p, net_min_kwh=-np.inf, net_max_kwh=np.inf)
    assert _violation(p if band else unbanded, x) <= FEAS
    assert p.soc_min - 1e-12 <= out.soc_end <= p.soc_max + 1e-12
    assert p.level2_objective(*x, surplus, deficit, ev) == pytest.approx(out.objective, abs=1e-12)


# --- no band, or a slack one: every bit as before -----------------------------------------------


@settings(
    max_examples=400, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(ces_cases())
def test_no_band_is_bit_identical(case):
    p, surplus, deficit, ev = case
    before = _dispatch_before_band(p, surplus, deficit, ev)
    assert dispatch(p, surplus, deficit, ev) == before
    explicit = replace(p, net_min_kwh=-np.inf, net_max_kwh=np.inf)
    assert dispatch(explicit, surplus, deficit, ev) == before
    lo, hi = p.net_range(surplus, deficit, ev)
    slack = replace(p, net_min_kwh=lo - 1e-6, net_max_kwh=hi + 1e-6)  # a band that the optimum meets anyway
    assert dispatch(slack, surplus, deficit, ev) == before


def test_no_band_is_bit_identical_on_many_random_cases():
    rng = np.random.default_rng(20261207)
    for _ in range(3000):
        p, surplus, deficit, ev = _random_case(rng)
        before = _dispatch_before_band(p, surplus, deficit, ev)
        out = dispatch(p, surplus, deficit, ev)
        assert out == before and out.band_met
        assert all(a is b or a == b for a, b in zip(out.__dict__.values(), before.__dict__.values(), strict=True))


# --- a band that binds -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_band_dispatch_is_the_exact_optimum(seed):
    """Random CES, random binding bands that meet the reachable range: band met, feasible within
    1e-9, objective equal to HiGHS's QP (1e-7) and no worse than multi-start SLSQP (1e-6)."""
    rng = np.random.default_rng(1000 + seed)
    binding = 0
    for p, surplus, deficit, ev in _banded_cases(seed, 40, inside=True):
        out = dispatch(p, surplus, deficit, ev)
        assert out.band_met
        _check_flows(p, out, surplus, deficit, ev)
        exact = _exact(p, surplus, deficit, ev)
        assert exact is not None
        assert out.objective == pytest.approx(exact, abs=1e-7)
        assert out.objective >= _brute_force(p, surplus, deficit, ev, rng) - 1e-6
        free = dispatch(replace(p, net_min_kwh=-np.inf, net_max_kwh=np.inf), surplus, deficit, ev)
        binding += free.objective > out.objective + 1e-9
    assert binding >= 10  # the bands do bind


def test_band_by_hand():
    """test_ces.test_dispatch_by_hand's CES charges 6 kWh of 30 left over; a band of 4 kWh holds it at
    4: 2.79 - the lost triangle 0.005 * 2^2 / 2 = 2.78. Net -1..-1 with 5 kWh deficit left: the
    discharging optimum is above 1 kWh, so it discharges exactly 1."""
    out = dispatch(replace(BASE, net_max_kwh=4.0), 30.0, 0.0, 0.0)
    assert out.band_met and out.charge_from_peers_kwh == pytest.approx(4.0, abs=1e-12)
    assert out.objective == pytest.approx(2.78, abs=1e-12)
    out = dispatch(replace(BASE, net_min_kwh=-1.0, net_max_kwh=-1.0), 0.0, 5.0, 0.0)
    assert out.band_met and out.discharge_to_peers_kwh == pytest.approx(1.0, abs=1e-12)
    assert dispatch(BASE, 0.0, 5.0, 0.0).discharge_to_peers_kwh > 1.0


# --- a band nothing can meet ------------------------------------------------------------------------


def test_infeasible_band_by_hand():
    """net_min = 3 kWh with nothing to charge from (no surplus left, no grid recharge): every dispatch
    misses; the least miss is net 0 (no discharge, though discharging to the 5 kWh deficit pays)."""
    out = dispatch(replace(BASE, net_min_kwh=3.0), 0.0, 5.0, 2.0)
    assert not out.band_met
    assert out.charge_from_peers_kwh == out.charge_from_grid_kwh == 0
    assert out.discharge_to_peers_kwh == out.discharge_to_ev_kwh == 0 and out.ev_from_grid_kwh == 2.0
    # below: at most 0.4 kWh of discharge against a band at -5
    small = replace(BASE, discharge_max_kwh=0.4, net_max_kwh=-5.0)
    assert small.net_range(0.0, 5.0, 0.0) == (-0.4, 0.0)
    out = dispatch(small, 0.0, 5.0, 0.0)
    assert not out.band_met and out.discharge_to_peers_kwh == pytest.approx(0.4, abs=1e-12)


@pytest.mark.parametrize("seed", range(2))
def test_infeasible_band_misses_least(seed):
    """Bands that miss the reachable range [lo, hi]: band_met False, the net charge is the end
    nearest the band (1e-9), and the objective is the best there (the QP pinned at that end)."""
    for p, surplus, deficit, ev in _banded_cases(100 + seed, 40, inside=False):
        assert _exact(p, surplus, deficit, ev) is None  # HiGHS agrees that nothing meets the band
        out = dispatch(p, surplus, deficit, ev)
        assert not out.band_met
        _check_flows(p, out, surplus, deficit, ev, band=False)
        lo, hi = p.net_range(surplus, deficit, ev)
        nearest = hi if p.net_min_kwh > hi else lo
        net = (
            out.charge_from_peers_kwh + out.charge_from_grid_kwh - out.discharge_to_peers_kwh - out.discharge_to_ev_kwh
        )
        assert net == pytest.approx(nearest, abs=FEAS)
        pinned = _exact(replace(p, net_min_kwh=nearest, net_max_kwh=nearest), surplus, deficit, ev)
        assert out.objective == pytest.approx(pinned, abs=1e-7)


def test_band_met_exactly_when_it_meets_the_reachable_range():
    rng = np.random.default_rng(7)
    for _ in range(1500):
        p, surplus, deficit, ev = _random_case(rng)
        lo, hi = p.net_range(surplus, deficit, ev)
        inside = rng.random() < 0.5
        net_min, net_max = _random_band(rng, lo, hi, inside)
        out = dispatch(replace(p, net_min_kwh=net_min, net_max_kwh=net_max), surplus, deficit, ev)
        assert out.band_met == inside
        net = (
            out.charge_from_peers_kwh + out.charge_from_grid_kwh - out.discharge_to_peers_kwh - out.discharge_to_ev_kwh
        )
        if inside:
            assert net_min - FEAS <= net <= net_max + FEAS
        else:
            assert net == pytest.approx(hi if net_min > hi else lo, abs=FEAS)


# --- the reachable range ------------------------------------------------------------------------------


def _lp_net_range(p: CesParams, surplus: float, deficit: float, ev: float) -> tuple[float, float]:
    """min and max of E_ch - E_dis over every mode, each an LP in (c, Eg, d, Ev) (scipy's HiGHS)."""
    lo, hi = np.inf, -np.inf
    net = np.array([1.0, 1.0, -1.0, -1.0])
    a_ub = np.array(
        [
            [1.0, 1.0, 0.0, 0.0],  # charge power
            [0.0, 0.0, 1.0, 1.0],  # discharge power
            [p.eta_c, p.eta_c, -1 / p.eta_d, -1 / p.eta_d],  # stored <= soc_max
            [-p.eta_c, -p.eta_c, 1 / p.eta_d, 1 / p.eta_d],  # stored >= soc_min
        ]
    )
    b_ub = [
        p.charge_max_kwh,
        p.discharge_max_kwh,
        (p.soc_max - p.soc) * p.capacity_kwh,
        (p.soc - p.soc_min) * p.capacity_kwh,
    ]
    for mode in MODES:
        boxes = _mode_boxes(p, surplus, deficit, ev, mode)
        for sign in (1.0, -1.0):
            res = linprog(sign * net, A_ub=a_ub, b_ub=b_ub, bounds=boxes, method="highs")
            if res.status == 0:
                lo, hi = (min(lo, res.fun), hi) if sign > 0 else (lo, max(hi, -res.fun))
    return lo, hi


def test_net_range_against_linear_programs():
    rng = np.random.default_rng(11)
    for _ in range(400):
        p, surplus, deficit, ev = _random_case(rng)
        lo, hi = p.net_range(surplus, deficit, ev)
        ref_lo, ref_hi = _lp_net_range(p, surplus, deficit, ev)
        assert lo == pytest.approx(ref_lo, abs=1e-9) and hi == pytest.approx(ref_hi, abs=1e-9)
        assert lo <= 0.0 <= hi  # idle with nothing drawn: the SoC starts inside its window


def test_net_range_by_hand():
    """BASE (500 kWh at SoC 0.35, 50 kWh both ways): 30 kWh left over and no grid: up to 30 in; 5 kWh
    deficit and 2 kWh EVs: up to 7 out. At SoC 0.9 nothing goes in (net); with grid recharge the
    power limit, 50, or the room, 0.55 * 500 / 0.95 = 289 kWh: 50."""
    assert BASE.net_range(30.0, 5.0, 2.0) == (-7.0, 30.0)
    assert replace(BASE, soc=0.9).net_range(30.0, 5.0, 0.0) == (-5.0, 0.0)
    # full, but EVs drawing 2 kWh let it take 2 / 0.95^2 kWh: the losses keep 0.216 kWh net
    lo, hi = replace(BASE, soc=0.9).net_range(30.0, 5.0, 2.0)
    assert lo == -7.0 and hi == pytest.approx(2 / 0.9025 - 2, abs=1e-12)
    assert replace(BASE, grid_recharge=True).net_range(0.0, 0.0, 0.0) == (0.0, 50.0)
    # 10 kWh CES at SoC 0.35: room 5.5 kWh / 0.95 in, (0.35 - 0.2) * 10 * 0.95 = 1.425 out
    small = replace(BASE, capacity_kwh=10.0)
    lo, hi = small.net_range(30.0, 5.0, 0.0)
    assert lo == pytest.approx(-1.425, abs=1e-12) and hi == pytest.approx(5.5 / 0.95, abs=1e-12)
    # EVs drawing 2 kWh while it charges: E_ch up to (5.5 + 2 / 0.95) / 0.95, net that minus 2
    lo, hi = small.net_range(30.0, 5.0, 2.0)
    assert lo == pytest.approx(-1.425, abs=1e-12) and hi == pytest.approx((5.5 + 2 / 0.95) / 0.95 - 2, abs=1e-12)
