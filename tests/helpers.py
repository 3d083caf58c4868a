"""Helpers shared by the interval tests: hand-built snapshots and instances, the random-instance
strategy, independent checks of a result against every rule of models/FORMULATION.md, and loading
an allocation into the Pyomo model to check it is a feasible point."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from lec_opt import load_scenario
from lec_opt.day.interval import solve_snapshot
from lec_opt.market.ces import ces_params
from lec_opt.market.result import IntervalResult
from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.model.build import build_interval_model
from lec_opt.scenario.schema import Scenario


def greedy_result(snap: IntervalSnapshot, scenario: Scenario, soc: float, priority: str) -> IntervalResult:
    """The paper's matching for one priority plus the exact CES dispatch."""
    return solve_snapshot(snap, scenario, soc, (priority,), "greedy")[priority]


# deterministic runs (no example database written into the repository)
FAST = settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- building blocks -------------------------------------------------------------------------


def make_snapshot(
    n_peers: int,
    sellers: dict[int, tuple[float, float]],
    buyers: dict[int, tuple[float, float]],
    *,
    ev_kwh: float = 0.0,
    buy: float = 0.20,
    sell: float = 0.09,
    hours: float = 5 / 60,
    opt_out: tuple[int, ...] = (),
    index: int = 144,
) -> IntervalSnapshot:
    """A snapshot by hand: ``sellers = {peer: (surplus kWh, ask)}``, ``buyers = {peer: (deficit kWh, bid)}``.

    Peers in neither dict have net 0 (load = PV = 0.3 kWh); ``opt_out`` peers are not willing.
    """
    load = np.full(n_peers, 0.3)
    pv = np.full(n_peers, 0.3)
    for peer, (s, _) in sellers.items():
        load[peer - 1], pv[peer - 1] = 0.1, 0.1 + s
    for peer, (r, _) in buyers.items():
        load[peer - 1], pv[peer - 1] = r, 0.0
    sp = np.array(sorted(sellers), dtype=int)
    bp = np.array(sorted(buyers), dtype=int)
    return IntervalSnapshot(
        index=index,
        start="12:00",
        hours=hours,
        n_peers=n_peers,
        load_kwh=load,
        pv_kwh=pv,
        sellers=sp,
        surplus_kwh=np.array([sellers[p][0] for p in sp], dtype=float),
        buyers=bp,
        deficit_kwh=np.array([buyers[p][0] for p in bp], dtype=float),
        willing_seller=np.array([p not in opt_out for p in sp], dtype=bool),
        willing_buyer=np.array([p not in opt_out for p in bp], dtype=bool),
        ask=np.array([sellers[p][1] for p in sp], dtype=float),
        bid=np.array([buyers[p][1] for p in bp], dtype=float),
        ev_kwh=float(ev_kwh),
        buy_price=buy,
        sell_price=sell,
    )


def with_options(scenario: Scenario, **sections: dict) -> Scenario:
    """``with_options(sc, ces={"k": 1.0}, solver={...})``: the scenario with those section fields replaced."""
    update = {name: getattr(scenario, name).model_copy(update=fields) for name, fields in sections.items()}
    return scenario.model_copy(update=update)


def pinned(base: Scenario, ces: dict, **sections) -> Scenario:
    """A scenario whose CES, market and solver settings do not follow later edits of paper_5min.toml."""
    full_ces = {
        "soc_min": 0.2,
        "soc_max": 0.9,
        "charge_efficiency": 0.95,
        "discharge_efficiency": 0.95,
        "grid_recharge_threshold": 0.3,
        "charge_price": None,
        "discharge_price": None,
        "ev_price": None,
        "soc_initial": 0.5,
        **ces,
    }
    solver = {
        "lexicographic_tolerance": 1e-6,
        "mip_gap": 1e-6,
        "utility_breakpoints": 16,
        "level4_time_limit_s": 60.0,
        "level4_node_limit": 0,
        "level4_mip_gap": 0.01,
        "candidate_pairs": "dense",
        "ces_objective": "dispatch",
        **sections.pop("solver", {}),
    }
    willingness = {"opt_out": [], "min_trade_kwh": 0.0, **sections.pop("willingness", {})}
    bids = {"mu": "community", "price_margin": 0.001, **sections.pop("bids", {})}
    return with_options(base, ces=full_ces, solver=solver, willingness=willingness, bids=bids, **sections)


# the CES of models/paper_5min.toml when these tests were written
PAPER_CES = {
    "capacity_kwh": 900.0,
    "soc_initial": 0.55,
    "charge_power_kw": 100.0,
    "discharge_power_kw": 100.0,
    "k": 1.0,
    "S": 0.001,
    "degradation": 0.005,
}


def trade_set(result: IntervalResult) -> dict[tuple[int, int], float]:
    """(seller peer, buyer peer) -> kWh."""
    return {(t.seller, t.buyer): t.kwh for t in result.trades}


def level(result: IntervalResult, name: str):
    """The (last) level record called ``name`` (p2p, ces, priority_a/b/c, transactions)."""
    return [lv for lv in result.levels if lv.name == name][-1]


def priority_level(result: IntervalResult):
    return level(result, f"priority_{result.priority.lower()}")


def flows_of(result: IntervalResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trades as (seller index, buyer index, kWh) into the snapshot's arrays."""
    snap = result.snapshot
    pos_s = {int(p): n for n, p in enumerate(snap.sellers)}
    pos_b = {int(p): n for n, p in enumerate(snap.buyers)}
    i = np.array([pos_s[t.seller] for t in result.trades], dtype=int)
    j = np.array([pos_b[t.buyer] for t in result.trades], dtype=int)
    return i, j, np.array([t.kwh for t in result.trades], dtype=float)


def expected_prices(
    snap: IntervalSnapshot, scenario: Scenario, priority: str, i: np.ndarray, j: np.ndarray
) -> np.ndarray:
    """models/FORMULATION.md §6, written out again: mid-market for A/B; C: mu (bid + ask) / 2 clipped to [SP+eps, BP-eps]."""
    if priority in ("A", "B") or not len(i):
        return np.full(len(i), (snap.buy_price + snap.sell_price) / 2)
    if scenario.bids.mu == "pair":
        mu = snap.surplus_kwh[i] / snap.deficit_kwh[j]
    else:
        mu = snap.surplus_kwh.sum() / snap.deficit_kwh.sum()
    eps = scenario.bids.price_margin
    return np.clip(mu * (snap.bid[j] + snap.ask[i]) / 2, snap.sell_price + eps, snap.buy_price - eps)


# --- the model's rules, checked on a result ---------------------------------------------------


def check_result(result: IntervalResult, scenario: Scenario, soc: float, tol: float | None = None) -> None:
    """Every rule of models/FORMULATION.md §4 and §6 on a result, recomputed from the snapshot alone.

    ``tol`` (kWh) absorbs solver tolerances: HiGHS accepts a MIP solution whose rows are violated
    by up to its mip_feasibility_tolerance, 1e-6 (the default for MILP results); the greedy meets
    every rule to rounding (1e-9).
    """
    if tol is None:
        tol = 1e-6 if result.method == "milp" else 1e-9
    snap = result.snapshot
    ces = ces_params(scenario, snap, soc)
    min_trade = scenario.willingness.min_trade_kwh
    # energy balance of every seller, buyer and the EVs (1e-6 + rounding for the MILP)
    assert result.balance_residual_kwh() <= tol * (1 + 1e-9), result.balance_residual_kwh()
    for name in ("seller_to_ces_kwh", "seller_export_kwh", "ces_to_buyer_kwh", "grid_to_buyer_kwh"):
        assert np.all(getattr(result, name) >= -tol), name
    for name in ("grid_to_ces_kwh", "ces_to_ev_kwh", "grid_to_ev_kwh"):
        assert getattr(result, name) >= -tol, name
    # trades: between a seller and a buyer of the interval, once per pair, within min(s, r)
    pairs = [(t.seller, t.buyer) for t in result.trades]
    assert len(set(pairs)) == len(pairs)
    i, j, kwh = flows_of(result)
    assert np.all(kwh > 0)
    assert np.all(kwh <= np.minimum(snap.surplus_kwh[i], snap.deficit_kwh[j]) + tol)
    # an opted-out peer never trades
    assert np.all(snap.willing_seller[i]) and np.all(snap.willing_buyer[j])
    # priority C never pairs bid < ask
    if result.priority == "C":
        assert np.all(snap.bid[j] >= snap.ask[i])
    # minimum trade size: x >= min_trade y with y binary up to HiGHS' integrality tolerance 1e-6;
    # a MILP flow whose y is 0 within that tolerance (x <= 1e-6 cap) is still reported as a trade
    # (test_milp.test_phantom_trade_below_min_trade)
    if min_trade > 0:
        phantom = kwh <= 1e-6 * np.minimum(snap.surplus_kwh[i], snap.deficit_kwh[j]) + tol
        assert np.all((kwh >= min_trade * (1 - 1e-6) - tol) | (phantom & (result.method == "milp"))), (kwh, min_trade)
    # settlement prices
    np.testing.assert_allclose(
        [t.price_usd_per_kwh for t in result.trades],
        expected_prices(snap, scenario, result.priority, i, j),
        rtol=0,
        atol=1e-12,
    )
    # CES: exclusive modes, power limits, grid recharge only at SoC <= threshold, SoC window
    charge_peers, charge_grid = float(result.seller_to_ces_kwh.sum()), result.grid_to_ces_kwh
    to_peers, to_ev = float(result.ces_to_buyer_kwh.sum()), result.ces_to_ev_kwh
    # the MILP's modes are big-M rows (sum d <= P_dis dt zd): HiGHS accepts zd up to its integrality
    # tolerance 1e-6, so up to 1e-6 * P dt kWh can leak (test_milp.test_mode_leak shows one)
    leak = tol + (1e-6 * max(ces.charge_max_kwh, ces.discharge_max_kwh) if result.method == "milp" else 0.0)
    assert not (charge_peers + charge_grid > leak and to_peers > leak), (charge_peers, charge_grid, to_peers)
    assert charge_peers + charge_grid <= ces.charge_max_kwh + tol
    assert to_peers + to_ev <= ces.discharge_max_kwh + tol
    if soc > scenario.ces.grid_recharge_threshold:
        assert charge_grid <= tol, (soc, charge_grid)
    assert result.soc_start == soc
    soc_end = soc + (ces.eta_c * (charge_peers + charge_grid) - (to_peers + to_ev) / ces.eta_d) / ces.capacity_kwh
    assert result.soc_end == pytest.approx(soc_end, abs=1e-12)
    window = tol / ces.capacity_kwh + 1e-12
    assert ces.soc_min - window <= result.soc_end <= ces.soc_max + window


def load_allocation(result: IntervalResult, scenario: Scenario, soc: float, m=None):
    """The interval's Pyomo model with every variable set to ``result``'s values.

    Binaries follow the flows (y = 1 where x > 0, zc = 1 when charging, zd = 1 when discharging
    to peers, W = 1 for every willing peer; opted-out W stay fixed at 0) and the utility
    hypograph variables take the exact quadratic values, which lie below every tangent.
    Returns the model with the constraints of the result's priority active; ``m`` reuses a model
    built for the same snapshot, scenario and SoC.
    """
    snap = result.snapshot
    ces = ces_params(scenario, snap, soc)
    if m is None:
        m, _ = build_interval_model(snap, scenario, ces)
    m.price_pairs_only.activate() if result.priority == "C" else m.price_pairs_only.deactivate()
    if scenario.willingness.min_trade_kwh > 0:
        m.min_trade.activate()
    i, j, kwh = flows_of(result)
    flows = {(int(a), int(b)): float(x) for a, b, x in zip(i, j, kwh, strict=True)}
    assert set(flows) <= set(m.P), "a trade outside the candidate pairs"
    for p in m.P:
        x = flows.get(p, 0.0)
        m.p2p[p].set_value(x, skip_validation=True)
        m.transaction[p].set_value(1 if x > 0 else 0)
    for var in (*m.willing_seller.values(), *m.willing_buyer.values()):
        if not var.fixed:
            var.set_value(1)
    for n in m.I:
        m.seller_to_ces[n].set_value(float(result.seller_to_ces_kwh[n]), skip_validation=True)
        m.seller_export[n].set_value(float(result.seller_export_kwh[n]), skip_validation=True)
    for n in m.J:
        m.ces_to_buyer[n].set_value(float(result.ces_to_buyer_kwh[n]), skip_validation=True)
        m.grid_to_buyer[n].set_value(float(result.grid_to_buyer_kwh[n]), skip_validation=True)
    m.grid_to_ces.set_value(result.grid_to_ces_kwh, skip_validation=True)
    m.ces_to_ev.set_value(result.ces_to_ev_kwh, skip_validation=True)
    m.grid_to_ev.set_value(result.grid_to_ev_kwh, skip_validation=True)
    m.charging.set_value(1 if result.ces_charge_kwh > 0 else 0)
    m.discharging.set_value(1 if result.ces_to_buyer_kwh.sum() > 0 else 0)
    m.u01_quad.set_value(float(ces.quad_charge(result.ces_charge_kwh)))
    m.u02_quad.set_value(float(ces.quad_discharge(result.ces_discharge_kwh)))
    return m


def assert_model_feasible(m, tol: float = 1e-7) -> None:
    """Every active constraint body within its bounds, every variable within its bounds and domain."""
    bad = []
    for con in m.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(con.body)
        if con.has_lb() and body < pyo.value(con.lower) - tol:
            bad.append((con.name, body, "<", pyo.value(con.lower)))
        if con.has_ub() and body > pyo.value(con.upper) + tol:
            bad.append((con.name, body, ">", pyo.value(con.upper)))
    for var in m.component_data_objects(pyo.Var):
        value = var.value
        assert value is not None, var.name
        if var.lb is not None and value < var.lb - tol or var.ub is not None and value > var.ub + tol:
            bad.append((var.name, value, "bounds", (var.lb, var.ub)))
        if var.is_binary() and value not in (0, 1):
            bad.append((var.name, value, "binary"))
    assert not bad, bad[:10]


def check_greedy_in_model(result: IntervalResult, scenario: Scenario, soc: float, m=None) -> None:
    """The greedy allocation is a feasible point of the MILP, and the model's objectives at that
    point are the greedy's level values (the same formulas in two places)."""
    m = load_allocation(result, scenario, soc, m)
    assert_model_feasible(m)
    assert pyo.value(m.obj_p2p) == pytest.approx(level(result, "p2p").objective, abs=1e-9)
    # exact utilities in place of the hypograph: the model's level 2 is the greedy's exact value
    assert pyo.value(m.obj_ces) == pytest.approx(level(result, "ces").objective, abs=1e-9)
    name = f"priority_{result.priority.lower()}"
    assert pyo.value(getattr(m, f"obj_{name}")) == pytest.approx(level(result, name).objective, abs=1e-9)
    assert level(result, "transactions").objective == result.transactions


# --- random instances ----------------------------------------------------------------------

AMOUNT = st.one_of(
    st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0, 2.0]),  # ties and exact cancellations
    st.floats(0.001, 3.0).map(lambda v: round(v, 4)),
)
PRICE = st.sampled_from([0.08, 0.10, 0.12, 0.14, 0.16, 0.18])  # bid == ask happens


@st.composite
def instances(draw, min_peers: int = 2, max_peers: int = 9, need_pair: bool = False):
    """(snapshot, scenario, soc): a small random interval and CES, with the default scenario's rules."""
    n = draw(st.integers(max(min_peers, 2), max_peers))
    roles = draw(st.lists(st.sampled_from("sb-"), min_size=n, max_size=n))
    if need_pair:  # at least one willing seller and one willing buyer
        first = draw(st.integers(0, n - 1))
        second = draw(st.integers(0, n - 2))
        second += second >= first
        roles[first], roles[second] = "s", "b"
    sellers = {p + 1: (draw(AMOUNT), draw(PRICE)) for p, role in enumerate(roles) if role == "s"}
    buyers = {p + 1: (draw(AMOUNT), draw(PRICE)) for p, role in enumerate(roles) if role == "b"}
    opt_out = tuple(p for p in range(1, n + 1) if draw(st.sampled_from([False, False, False, False, True])))
    if need_pair:
        opt_out = tuple(p for p in opt_out if p not in (first + 1, second + 1))
    buy, sell = draw(st.sampled_from([(0.20, 0.09), (0.30, 0.05)]))
    snap = make_snapshot(
        n,
        sellers,
        buyers,
        ev_kwh=draw(st.sampled_from([0.0, 0.0, 0.2, 1.5, 12.0])),
        buy=buy,
        sell=sell,
        hours=draw(st.sampled_from([5 / 60, 0.25, 0.5])),
        opt_out=opt_out,
    )
    base = load_scenario()
    scenario = with_options(
        base,
        ces={
            "capacity_kwh": draw(st.sampled_from([2.0, 10.0, 500.0])),  # small: the SoC window binds
            "charge_power_kw": draw(st.sampled_from([5.0, 100.0])),
            "discharge_power_kw": draw(st.sampled_from([5.0, 100.0])),
            "k": draw(st.sampled_from([0.0, 0.5, 1.0])),  # k = 1 makes grid recharge pay at SoC <= 0.30
            "S": draw(st.sampled_from([0.01, 0.2])),
            "degradation": draw(st.sampled_from([0.0, 0.01, 0.05])),
        },
        willingness={"min_trade_kwh": draw(st.sampled_from([0.0, 0.0, 0.1, 0.5]))},
        bids={"mu": draw(st.sampled_from(["community", "pair"]))},
        solver={"ces_objective": draw(st.sampled_from(["dispatch", "welfare"]))},
    )
    soc = draw(st.one_of(st.sampled_from([0.2, 0.3, 0.31, 0.9]), st.floats(0.2, 0.9)))
    return snap, scenario, soc


# --- hand-solved instances --------------------------------------------------------------------


@dataclass(frozen=True)
class Hand:
    """A hand-solved interval: the unique lexicographic optimum (levels 1, 3, 4) is ``trades``."""

    priority: str
    snap: IntervalSnapshot
    trades: dict[tuple[int, int], float]
    volume: float
    level3: float
    prices: dict[tuple[int, int], float]


# Priority A. Sellers 1 (3.0), 5 (2.0), 3 (1.0) by surplus; buyers 2 (2.5), 4 (1.5), 6 (0.5) by
# deficit. Volume = min(6.0, 4.5) = 4.5. The weights w_ij = (s_i/3)(r_j/2.5) are a product of two
# decreasing sequences, so w_ij + w_kl > w_il + w_kj for i < k, j < l (strict inverse Monge): any
# optimum has no crossing pair of flows and uses the larger sellers first, i.e. it is the
# north-west-corner rule on the sorted lists, unique:
#   (1,2) 2.5 -> seller 1 has 0.5 left;  (1,4) 0.5 -> buyer 4 needs 1.0;
#   (5,4) 1.0 -> seller 5 has 1.0 left;  (5,6) 0.5.  Seller 3 sells nothing.
# Level 3: w(1,2)=1*1=1 -> 2.5; w(1,4)=1*0.6 -> 0.3; w(5,4)=(2/3)*0.6=0.4 -> 0.4;
#          w(5,6)=(2/3)*0.2=2/15 -> 1/15.  Sum 2.5+0.3+0.4+1/15 = 49/15.
# Level 4 cannot change a unique level-3 optimum: 4 trades. Grid 0.30/0.10 -> mid-market 0.20.
HAND_A = Hand(
    "A",
    make_snapshot(
        8,
        {1: (3.0, 0.1), 3: (1.0, 0.1), 5: (2.0, 0.1)},
        {2: (2.5, 0.2), 4: (1.5, 0.2), 6: (0.5, 0.2)},
        buy=0.30,
        sell=0.10,
    ),
    {(1, 2): 2.5, (1, 4): 0.5, (5, 4): 1.0, (5, 6): 0.5},
    4.5,
    49 / 15,
    dict.fromkeys([(1, 2), (1, 4), (5, 4), (5, 6)], 0.20),
)

# Priority B on a ring of 10. Sellers 1 (1.0), 5 (2.0), 8 (0.5); buyers 2 (0.6), 4 (1.5),
# 6 (0.8), 10 (0.3). Volume = min(3.5, 3.2) = 3.2 (every buyer served).
# Hops: seller 1 -> 2:1, 4:3, 6:5, 10:1;  seller 5 -> 2:3, 4:1, 6:1, 10:5;  seller 8 -> 2:4, 4:4, 6:2, 10:2.
# Every buyer has exactly one seller at 1 hop: 2 and 10 -> seller 1 (0.9 of its 1.0), 4 and 6 ->
# seller 5, who has 2.0 for 2.3. The 0.3 short is cheapest from seller 8 at 2 hops to buyer 6
# (the alternatives cost 3, 4 or 5 hops per kWh), so seller 5 gives buyer 4 all 1.5 and buyer 6
# the remaining 0.5:  cost = 0.6*1 + 0.3*1 + 1.5*1 + 0.5*1 + 0.3*2 = 3.5, unique.
# The greedy (all pairs by hops, then surplus desc, then demand desc) makes exactly these:
# (5,4) 1.5, (5,6) 0.5, (1,2) 0.6, (1,10) 0.3, then at 2 hops (8,6) 0.3. Mid-market 0.145.
HAND_B = Hand(
    "B",
    make_snapshot(
        10, {1: (1.0, 0.1), 5: (2.0, 0.1), 8: (0.5, 0.1)}, {2: (0.6, 0.2), 4: (1.5, 0.2), 6: (0.8, 0.2), 10: (0.3, 0.2)}
    ),
    {(5, 4): 1.5, (5, 6): 0.5, (1, 2): 0.6, (1, 10): 0.3, (8, 6): 0.3},
    3.2,
    3.5,
    dict.fromkeys([(5, 4), (5, 6), (1, 2), (1, 10), (8, 6)], 0.145),
)

# Priority C. Sellers 1 (0.6 kWh, ask 0.10), 3 (1.0, 0.12), 5 (0.95, 0.19); buyers 2 (0.6, bid
# 0.17), 4 (0.7, 0.13), 6 (0.4, 0.09). Pairs with bid >= ask: {1,3} x {2,4} only (seller 5 asks
# more than any bid, buyer 6 bids less than any ask). Level 1: volume = min(1.6, 1.3) = 1.3.
# Level 3: sum (bid - ask) x = sum bid*bought - sum ask*sold; both buyers are served in full, so
# the cheaper seller 1 sells all 0.6 and seller 3 sells 0.7:
#   0.6*0.17 + 0.7*0.13 - 0.6*0.10 - 0.7*0.12 = 0.102 + 0.091 - 0.06 - 0.084 = 0.049.
# Level 4: (1,2) 0.6 + (3,4) 0.7 is the only way with 2 trades (seller 1 = buyer 2 exactly).
# Prices: mu = total surplus / total deficit = 2.55 / 1.7 = 1.5;
#   (1,2): 1.5 * (0.17 + 0.10)/2 = 0.2025 -> clipped to 0.20 - 0.001 = 0.199;
#   (3,4): 1.5 * (0.13 + 0.12)/2 = 0.1875 (inside [0.091, 0.199]).
HAND_C = Hand(
    "C",
    make_snapshot(
        6, {1: (0.6, 0.10), 3: (1.0, 0.12), 5: (0.95, 0.19)}, {2: (0.6, 0.17), 4: (0.7, 0.13), 6: (0.4, 0.09)}
    ),
    {(1, 2): 0.6, (3, 4): 0.7},
    1.3,
    0.049,
    {(1, 2): 0.199, (3, 4): 0.1875},
)

HAND = {"A": HAND_A, "B": HAND_B, "C": HAND_C}

# Where the paper's matching is not optimal (the MILP must do better; test_milp.py checks it).
# B, ring of 10: sellers 1 (1.0), 5 (2.0); buyers 2 (0.8), 4 (1.5), 10 (0.6). Greedy: 1 hop first,
# seller 5 (bigger) first: (5,4) 1.5; seller 1: buyer 2 (bigger) first: (1,2) 0.8, (1,10) 0.2;
# 3 hops: (5,2) nothing left for buyer 2; 5 hops: (5,10) 0.4 -> cost 1.5 + 0.8 + 0.2 + 5*0.4 = 4.5.
# Optimum: buyer 10 can only be reached cheaply by seller 1, so seller 1 gives it all 0.6 and
# buyer 2 0.4; seller 5 sends buyer 2 the other 0.4 at 3 hops -> 0.6 + 0.4 + 1.5 + 3*0.4 = 3.7.
GREEDY_B_SUBOPTIMAL = make_snapshot(10, {1: (1.0, 0.1), 5: (2.0, 0.1)}, {2: (0.8, 0.2), 4: (1.5, 0.2), 10: (0.6, 0.2)})
# C: sellers 1 (1.0, ask 0.10), 3 (0.5, 0.12), 5 (0.8, 0.18); buyers 2 (0.6, bid 0.17), 4 (0.7,
# 0.15), 6 (0.4, 0.11). Greedy: (1,2) 0.6, (1,4) 0.4, (3,4) 0.3, then (3,6) has bid 0.11 < ask 0.12:
# stop at 1.3 kWh. Buyer 6 can only buy from seller 1, so the optimum gives it 0.4 from seller 1
# and sells all of sellers 1 and 3: 1.5 kWh (seller 5 asks more than any bid).
GREEDY_C_SHORT = make_snapshot(
    6, {1: (1.0, 0.10), 3: (0.5, 0.12), 5: (0.8, 0.18)}, {2: (0.6, 0.17), 4: (0.7, 0.15), 6: (0.4, 0.11)}
)


TIMING_KEYS = ("solve_seconds", "matching_seconds")


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def day_digest(folder) -> str:
    """SHA-256 of a day's values: the CSV files as written (9 significant digits) and summary.json
    without its timings, numbers rounded to 9 significant digits, keys sorted."""
    import hashlib
    import json
    from pathlib import Path

    folder = Path(folder)
    digest = hashlib.sha256()
    for name in ("intervals.csv", "trades.csv", "settlement.csv"):
        digest.update((folder / name).read_bytes())
    summary = _rounded(json.loads((folder / "summary.json").read_text()))
    digest.update(json.dumps(summary, sort_keys=True).encode())
    return digest.hexdigest()


def mark_complete(folder, kind: str = "sweep") -> None:
    """Give a results folder written by hand in a test the manifest lec-opt writes last (``lec-opt.json``)."""
    from pathlib import Path

    from lec_opt.io.results_folder import COMPLETE, write_manifest

    write_manifest(Path(folder), kind, state=COMPLETE, scenario_hash=None, command="written by a test")


# --- multi-day data folders ----------------------------------------------------------------------


def make_period_folder(
    folder,
    start,
    days: int,
    *,
    n_peers: int = 12,
    n_ev: int = 3,
    step: int = 60,
    fmt: str = "csv",
    seed: int = 7,
):
    """A multi-day data folder from the shipped day: its first ``n_peers`` peers and ``n_ev`` chargers
    averaged to ``step`` minutes, each date's PV and load scaled by seeded random factors (PV
    0.3-1.1, load 0.8-1.25), times ``YYYY-MM-DDTHH:MM``, profiles as ``fmt`` (csv or parquet).
    Returns ``(folder, load, pv, ev)`` with the values written ([step of the period, column])."""
    import datetime
    from pathlib import Path

    from lec_opt.io.period_profiles import write_period_series
    from lec_opt.io.profiles import BIDS_FILE, read_profiles, write_bids

    folder = Path(folder)
    start = datetime.date.fromisoformat(str(start))
    day = read_profiles(Path(__file__).resolve().parent.parent / "data" / "paper_day")
    rng = np.random.default_rng(seed)

    def cut(series, columns):
        return series.to_interval_mean(step)[:, :columns]

    load1, pv1, ev1 = cut(day.load_kw, n_peers), cut(day.pv_kw_per_kwp, n_peers), cut(day.ev_kw, n_ev)
    pv_scale = rng.uniform(0.3, 1.1, days)
    load_scale = rng.uniform(0.8, 1.25, days)
    load = np.round(np.concatenate([load1 * s for s in load_scale]), 4)
    pv = np.round(np.concatenate([pv1 * s for s in pv_scale]), 4)
    ev = np.round(np.concatenate([np.roll(ev1, d, axis=0) for d in range(days)]), 4)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, prefix, values in (("load_kw", "peer_", load), ("pv_kw_per_kwp", "peer_", pv), ("ev_kw", "ev_", ev)):
        write_period_series(folder / f"{stem}.{fmt}", prefix, values, start, step)
    write_bids(folder / BIDS_FILE, day.ask[:n_peers], day.bid[:n_peers])
    return folder, load, pv, ev


# --- the command line in this process --------------------------------------------------------


def error_of(stderr: str) -> str:
    """A user's error on stderr: exactly one ``error:`` line (a progress bar's lines, which go to
    stderr too, may come before it), with what follows it. Returns that message."""
    lines = stderr.splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith("error:")]
    assert len(starts) == 1, f"expected one 'error:' line on stderr:\n{stderr}"
    return "\n".join(lines[starts[0] :])


def run_cli(*args) -> tuple[int, str, str]:
    """``lec-opt ARGS`` in this process: (exit status, stdout, stderr). An exception that escapes
    (a traceback for the user) fails the test."""
    import contextlib
    import io
    import sys

    from lec_opt.cli import main
    from lec_opt.io.results_folder import set_command

    argv = sys.argv
    sys.argv = ["lec-opt", *map(str, args)]
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main()
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = argv
        set_command(None)
    return code, stdout.getvalue(), stderr.getvalue()
