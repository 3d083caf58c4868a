"""The linearised power flow (lec_opt.network.sensitivity) against a hand derivation and the full flow.

Two-bus line, 10 kW drawn on phase a with the neutral return (R1 = 0.05 ohm, R0 = 0.15 ohm): the
phase voltage V = (Vs + sqrt(Vs² − 4 P R_eff)) / 2 with R_eff = (2 R1 + R0) / 3, so injecting x kW
more changes it by dV/dx = R_eff / sqrt(Vs² − 4 P R_eff) (per kW: x 1000, in p.u.: / Vs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_network import _two_bus, five_bus_feeder  # noqa: F401 - the hand-made feeders

from lec_opt.network.bus_powers import bus_powers
from lec_opt.network.engine import Engine, open_flow
from lec_opt.network.feeder import load_feeder
from lec_opt.network.sensitivity import sensitivities
from lec_opt.scenario import load_scenario


def _feeder(path, write_scenario, n_peers: int, chargers: int = 0, **network):
    scenario = write_scenario(
        {
            "community": {"topology": "feeder", "n_peers": n_peers},
            "network": {"file": str(path), "load_power_factor": 1.0, **network},
        }
    )
    return load_feeder(load_scenario(scenario), n_peers, chargers)


@pytest.mark.parametrize("engine", [e.value for e in Engine])
def test_the_two_bus_sensitivity_is_the_hand_derivative(tmp_path, write_scenario, engine):
    feeder = _feeder(_two_bus(tmp_path / "two.json", "a"), write_scenario, 1)
    point = bus_powers(feeder, [[10.0]], [[0.0]], 0.0, 0.0, np.zeros((1, 0)), 1.0, 1.0)
    linear = sensitivities(open_flow(feeder, engine), feeder, point, (0,))
    v_s, p, r_eff = 400 / math.sqrt(3), 10_000.0, (2 * 0.05 + 0.15) / 3
    by_hand = r_eff / math.sqrt(v_s**2 - 4 * p * r_eff) * 1000.0 / v_s  # p.u. per kW injected
    bus = 0  # B1: the one bus that is not the source's
    assert linear.dv_dkw[bus, 0, 0] == pytest.approx(by_hand, rel=1e-4)
    assert abs(linear.dv_dkw[bus, 1, 0]) < 0.5 * by_hand  # phases b and c move less (through the neutral)
    assert linear.dloading_dkw[0, 0] < 0  # injecting relieves the loaded cable


def test_the_linear_model_predicts_the_full_flow_of_a_curtailment(tmp_path, write_scenario):
    """Four peers on the five-bus feeder exporting 6 kW each: the linear voltages for 2 kW less
    export at two of them against the full flow at that point (the linearisation's error)."""
    five_bus_feeder(tmp_path / "net.json")
    feeder = _feeder(tmp_path / "net.json", write_scenario, 4, 0, ces_bus="B1")
    load, pv = np.full((1, 4), 0.5), np.full((1, 4), 6.5)
    flow = open_flow(feeder)
    point = bus_powers(feeder, load, pv, 0.0, 0.0, np.zeros((1, 0)), 1.0, 1.0)
    linear = sensitivities(flow, feeder, point, (0, 1, 2, 3))
    curtailed = pv - np.array([[2.0, 0.0, 2.0, 0.0]])
    after = flow.solve(bus_powers(feeder, load, curtailed, 0.0, 0.0, np.zeros((1, 0)), 1.0, 1.0))
    predicted = linear.voltages([-2.0, 0.0, -2.0, 0.0])
    assert np.abs(predicted - after.v_pu[0]).max() < 1e-4
    assert np.abs(after.v_pu[0] - linear.v0_pu).max() > 10 * np.abs(predicted - after.v_pu[0]).max()
