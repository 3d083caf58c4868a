"""The network's limits kept in every interval (lec_opt.day.network_limits, models/FORMULATION.md §12).

By hand, on the two-bus line of tests/test_network.py (R1 = 0.05 Ω, R0 = 0.15 Ω, 100 A, the peer on
phase a with the neutral return): the phase voltage with P injected is V = Vs + R_eff I, I = P / V,
R_eff = (2 R1 + R0) / 3, so the most PV the bus takes at V <= v_max Vs is P = (V - Vs) V / R_eff, and at
I <= I_max it is P = (Vs + R_eff I_max) I_max. The curtailment is what the peer exports beyond it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_network import _two_bus, five_bus_feeder

from lec_opt.day.outputs import write_day
from lec_opt.day.run import run_day
from lec_opt.errors import LecOptError
from lec_opt.market.network_rows import CesReach, CurtailmentRule, LimitRows, greedy_curtailment
from lec_opt.model.network_level import network_level
from lec_opt.scenario import load_scenario

V_S = 400 / math.sqrt(3)
R_EFF = (2 * 0.05 + 0.15) / 3


def _two_bus_scenario(tmp_path, make_data, write_scenario, **network):
    make_data("one", n_peers=1, n_ev=1)
    _two_bus(tmp_path / "two.json", "a")
    doc = {
        "interval_minutes": 60,
        "data": {"dir": "one"},
        "community": {"topology": "feeder", "n_peers": 1, "prosumers": "all", "pv_kwp": 60.0},
        "network": {"file": "two.json", "ces_bus": "B0", "ev_buses": ["B0"], "load_power_factor": 1.0, **network},
    }
    return load_scenario(write_scenario(doc))


def _most_pv_kw(v_max_pu: float) -> float:
    v = v_max_pu * V_S
    return (v - V_S) * v / R_EFF / 1000.0


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_two_bus_curtailment_is_the_hand_value_of_the_voltage_limit(tmp_path, make_data, write_scenario, method):
    scenario = _two_bus_scenario(
        tmp_path, make_data, write_scenario, limits="enforced", v_max_pu=1.05, cable_max_percent=1000.0
    )
    run = run_day(scenario, method)
    day = run.day
    exported = day.pv_kwh[:, 0] - day.load_kwh[:, 0]  # kWh in an hour: kW
    # the AC flow ends within 0.001 p.u. of v_max: the curtailment lies between the hand values there
    low = np.clip(exported - _most_pv_kw(1.051), 0.0, None)
    high = np.clip(exported - _most_pv_kw(1.049), 0.0, None)
    curtailed = np.array([s.network.total_curtailed_kwh for s in run.steps])
    assert (high > 1.0).sum() >= 4, "the limit must bind in several hours for the test to mean anything"
    assert np.all(curtailed >= low - 1e-6) and np.all(curtailed <= high + 1e-6)
    assert all(s.network.excess.within for s in run.steps)


def test_two_bus_curtailment_is_the_hand_value_of_the_cable_limit(tmp_path, make_data, write_scenario):
    scenario = _two_bus_scenario(tmp_path, make_data, write_scenario, limits="enforced", v_max_pu=1.5)
    run = run_day(scenario, "greedy")
    exported = run.day.pv_kwh[:, 0] - run.day.load_kwh[:, 0]
    i_max = 100.0  # A: the line's rating
    hand = np.clip(exported - (V_S + R_EFF * i_max) * i_max / 1000.0, 0.0, None)
    curtailed = np.array([s.network.total_curtailed_kwh for s in run.steps])
    assert hand.max() > 5.0
    # 0.1 % of the rating (the loading tolerance) is 0.1 A: about 0.024 kW
    assert np.abs(curtailed - hand).max() < 0.03


def test_limits_off_change_nothing_and_enforced_writes_the_curtailment(tmp_path, make_data, write_scenario):
    off = _two_bus_scenario(tmp_path, make_data, write_scenario)
    plain = write_day(run_day(off, "greedy"), tmp_path / "off")
    assert not (plain / "curtailment.csv").exists()
    assert "curtailed_kwh" not in pd.read_csv(plain / "intervals.csv").columns
    on = _two_bus_scenario(
        tmp_path, make_data, write_scenario, limits="enforced", v_max_pu=1.05, cable_max_percent=1000.0
    )
    folder = write_day(run_day(on, "greedy"), tmp_path / "on")
    intervals = pd.read_csv(folder / "intervals.csv")
    per_peer = pd.read_csv(folder / "curtailment.csv")
    settlement = pd.read_csv(folder / "settlement.csv")
    assert intervals.curtailed_kwh.sum() == pytest.approx(per_peer.curtailed_kwh.sum())
    assert settlement.curtailed_kwh.sum() == pytest.approx(per_peer.curtailed_kwh.sum())
    assert (per_peer.lost_revenue_usd > 0).all()  # curtailed PV is PV not sold
    assert set(intervals.network_status) <= {"within", "kept"}
    from lec_opt.report.curtailment_figures import fig_curtailment

    figure = fig_curtailment(folder)
    assert figure is not None and figure.name == "16_curtailment.png" and figure.stat().st_size > 10_000
    assert fig_curtailment(plain) is None


def test_a_band_the_empty_feeder_breaks_is_refused_before_any_work(tmp_path, make_data, write_scenario):
    scenario = _two_bus_scenario(tmp_path, make_data, write_scenario, limits="enforced", v_min_pu=1.01, v_max_pu=1.1)
    with pytest.raises(LecOptError, match="with no load at all"):
        run_day(scenario, "greedy")


def test_an_empty_band_is_refused(tmp_path, make_data, write_scenario):
    with pytest.raises(Exception, match="v_min_pu"):
        _two_bus_scenario(tmp_path, make_data, write_scenario, v_min_pu=1.05, v_max_pu=1.05)


# --- level 0 against the greedy rule, on random linear limits ---------------------------------


def _random_rows(rng, sellers: int, rows: int) -> tuple[LimitRows, np.ndarray, CesReach]:
    """Overvoltage rows: curtailing lowers each row (a_c < 0), charging the CES lowers it too."""
    a_c = -rng.uniform(0.2, 1.0, size=(rows, sellers)) * rng.uniform(0.0, 1.0, size=(1, sellers))
    a_n = -rng.uniform(0.0, 0.8, size=rows)
    surplus = rng.uniform(0.5, 3.0, size=sellers)
    b = rng.uniform(-2.0, 0.5, size=rows)
    reach = CesReach(
        charge_max=rng.uniform(0.0, 2.0),
        grid_charge_max=0.0,
        leftover_surplus=float(surplus.sum()) * rng.uniform(0.0, 1.0),
        discharge_max=rng.uniform(0.0, 2.0),
    )
    return LimitRows(a_c, a_n, b), surplus, reach


@pytest.mark.parametrize("seed", range(40))
def test_level0_curtails_no_more_than_the_greedy_rule_nor_equal_share(seed):
    rows, surplus, reach = _random_rows(np.random.default_rng(seed), 6, 8)
    least = network_level(rows, surplus, reach, CurtailmentRule.LEAST)
    greedy = greedy_curtailment(rows, surplus, reach, 0.0, CurtailmentRule.LEAST)
    equal = network_level(rows, surplus, reach, CurtailmentRule.EQUAL_SHARE)
    if greedy.met:
        assert least.met
        assert least.curtailed_kwh.sum() <= greedy.curtailed_kwh.sum() + 1e-7
    if equal.met:
        assert least.curtailed_kwh.sum() <= equal.curtailed_kwh.sum() + 1e-7
    for plan in (least, equal):
        if plan.met:  # the plan keeps every row, and its band holds its own CES net charge
            assert rows.residual(plan.curtailed_kwh, plan.net_charge_kwh).max() <= 1e-7
            assert plan.band[0] - 1e-9 <= plan.net_charge_kwh <= plan.band[1] + 1e-9
        assert np.all(plan.curtailed_kwh >= -1e-9) and np.all(plan.curtailed_kwh <= surplus + 1e-9)
    shares = equal.curtailed_kwh / surplus
    assert np.ptp(shares) < 1e-9


def test_rows_nothing_can_keep_are_kept_as_nearly_as_possible():
    rows = LimitRows(np.array([[-1.0, -1.0]]), np.array([0.0]), np.array([-10.0]))
    surplus = np.array([1.0, 2.0])
    reach = CesReach(0.0, 0.0, 0.0, 0.0)
    plan = network_level(rows, surplus, reach, CurtailmentRule.LEAST)
    assert not plan.met
    assert plan.violation == pytest.approx(7.0)
    assert plan.curtailed_kwh == pytest.approx(surplus)
    greedy = greedy_curtailment(rows, surplus, reach, 0.0, CurtailmentRule.LEAST)
    assert not greedy.met and greedy.violation == pytest.approx(7.0)


def test_the_five_bus_day_keeps_a_tight_band(tmp_path, small_data, write_scenario):
    five_bus_feeder(tmp_path / "net.json")
    doc = {
        "interval_minutes": 30,
        "community": {"topology": "feeder", "prosumers": "all", "pv_kwp": 60.0},
        "network": {
            "file": "net.json",
            "ces_bus": "B3",
            "ev_buses": ["B2", "B4"],
            "limits": "enforced",
            "v_max_pu": 1.01,
        },
    }
    scenario = load_scenario(write_scenario(doc))
    for method in ("greedy", "milp"):
        run = run_day(scenario, method)
        statuses = {str(s.network.status) for s in run.steps}
        assert "kept" in statuses and statuses <= {"within", "kept"}
        assert max(s.network.excess.voltage_pu for s in run.steps) <= 1e-3


@pytest.mark.slow
def test_the_high_pv_feeder_day_keeps_en_50160_and_the_lp_curtails_no_more_than_the_rule(tmp_path, monkeypatch):
    """models/ieee_lv_high_pv_limits.toml (55 prosumers of 10 kWp): with limits off the noon voltage
    passes 1.10 p.u. in many intervals; enforced, the AC flow of every interval of the folder stays
    within the band up to 0.001 p.u. and every cable under 100 %."""
    from lec_opt.day import network_limits
    from lec_opt.network.powerflow import power_flow_folder

    pairs = []  # (the LP's plan, the greedy day's own rule's plan) on the very same rows
    rule = network_limits.IntervalLimits._level0

    def both(self, rows, surplus, reach, market_net):
        plan = rule(self, rows, surplus, reach, market_net)
        pairs.append((network_level(rows, surplus, reach, self.rule), plan))
        return plan

    monkeypatch.setattr(network_limits.IntervalLimits, "_level0", both)
    run = run_day(load_scenario("ieee_lv_high_pv_limits"), "greedy")
    folder = write_day(run, tmp_path / "day")
    flows = power_flow_folder(folder)
    assert flows.v_max_pu.max() <= 1.10 + 1e-3 and flows.v_min_pu.min() >= 0.90 - 1e-3
    assert flows.line_loading_max_percent.max() <= 100.0 + 0.1
    intervals = pd.read_csv(folder / "intervals.csv")
    assert (intervals.network_status == "kept").sum() >= 20
    assert intervals.curtailed_kwh.sum() > 1.0
    assert len(pairs) >= 20
    for lp, greedy in pairs:
        assert lp.curtailed_kwh.sum() <= greedy.curtailed_kwh.sum() + 1e-7


def test_an_interval_no_lever_can_fix_is_recorded_infeasible_and_the_day_goes_on(tmp_path, make_data, write_scenario):
    """A 1 km line (0.5 Ω) and v_min = 0.995 p.u.: the evening load alone pulls phase a below it, the
    CES sits at the source (no lever on the voltage) and curtailment could only lower it further."""
    import pandapower as pp
    from test_network import _ext_grid, _line, _load

    net = pp.create_empty_network()
    pp.create_bus(net, 0.4, name="B0")
    pp.create_bus(net, 0.4, name="B1")
    _ext_grid(net, 0)
    _line(net, 0, 1, 1000, r=0.5, r0=1.5, max_i_ka=0.1)
    _load(net, 1, "LOAD1", "a")
    pp.to_json(net, str(tmp_path / "long.json"))
    scenario = _two_bus_scenario(
        tmp_path, make_data, write_scenario, limits="enforced", v_min_pu=0.995, v_max_pu=1.5, cable_max_percent=1000.0
    )
    network = scenario.network.model_copy(update={"file": str(tmp_path / "long.json")})
    run = run_day(scenario.model_copy(update={"network": network}), "milp")
    statuses = [str(s.network.status) for s in run.steps]
    assert "infeasible" in statuses and len(statuses) == 24
    for s in run.steps:
        if s.network.status == "infeasible":
            assert s.network.excess.voltage_pu > 1e-3  # the violation left, recorded
            assert s.network.total_curtailed_kwh == 0.0  # curtailing would not have helped
    summary = write_day(run, tmp_path / "day") / "summary.json"
    assert '"infeasible": 0' not in summary.read_text()


def _random_feeder(path, rng) -> None:
    """A random radial LV feeder: 6 buses on a random tree, cables of 30-120 m, four single-phase loads."""
    import pandapower as pp
    from test_network import _ext_grid, _line, _load

    net = pp.create_empty_network()
    for k in range(6):
        pp.create_bus(net, 0.4, name=f"B{k}")
    _ext_grid(net, 0)
    for k in range(1, 6):
        _line(net, int(rng.integers(0, k)), k, float(rng.uniform(30, 120)), max_i_ka=0.4)
    for n, bus in enumerate(rng.choice(np.arange(1, 6), size=4, replace=False), start=1):
        _load(net, int(bus), f"LOAD{n}", "abc"[int(rng.integers(0, 3))])
    pp.to_json(net, str(path))


@pytest.mark.parametrize("seed", range(3))
def test_on_random_feeders_least_curtails_no_more_than_equal_share_or_the_rule(
    tmp_path, small_data, write_scenario, monkeypatch, seed
):
    """Every level 0 of a day on a random feeder, solved by the three ways on the very same rows
    (sensitivities of the real flow): least <= the greedy rule, least <= equal_share."""
    from lec_opt.day import network_limits

    _random_feeder(tmp_path / "net.json", np.random.default_rng(seed))
    doc = {
        "interval_minutes": 60,
        "community": {"topology": "feeder", "prosumers": "all", "pv_kwp": 60.0},
        "network": {
            "file": "net.json",
            "ces_bus": "B1",
            "ev_buses": ["B1", "B1"],
            "limits": "enforced",
            "v_max_pu": 1.02,
        },
    }
    compared = []
    made = network_limits.IntervalLimits._level0

    def level0(self, rows, surplus, reach, market_net):
        least = network_level(rows, surplus, reach, CurtailmentRule.LEAST)
        equal = network_level(rows, surplus, reach, CurtailmentRule.EQUAL_SHARE)
        rule = greedy_curtailment(rows, surplus, reach, market_net, CurtailmentRule.LEAST)
        compared.append((least.curtailed_kwh.sum(), equal.curtailed_kwh.sum(), rule.curtailed_kwh.sum()))
        return made(self, rows, surplus, reach, market_net)

    monkeypatch.setattr(network_limits.IntervalLimits, "_level0", level0)
    run_day(load_scenario(write_scenario(doc)), "greedy")
    assert len(compared) >= 3, "the limits must bind for the test to mean anything"
    for least, equal, rule in compared:
        assert least <= equal + 1e-6 * (1 + equal) and least <= rule + 1e-6 * (1 + rule)


def test_one_interval_alone_refuses_the_limits_rather_than_ignore_them(tmp_path, make_data, write_scenario):
    from lec_opt import solve_interval

    scenario = _two_bus_scenario(tmp_path, make_data, write_scenario, limits="enforced")
    with pytest.raises(LecOptError, match="kept by a whole day"):
        solve_interval(scenario, interval="12:00", method="greedy")
