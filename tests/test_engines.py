"""The two power-flow engines agree on the shipped IEEE European LV feeder day, and the day's network
files (network.csv, voltages.parquet, lines.csv) agree with each other.

power-grid-model (a day in one batch) and pandapower (runpp_3ph interval by interval) solve the
same unbalanced flow: every bus-phase voltage within 1e-4 p.u. and the feeder's import within
0.1 % in every interval (models/FORMULATION.md §11 says why they differ at all: the source's
impedance, which power-grid-model puts in every sequence).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from lec_opt.io.results import load_day_results
from lec_opt.network.engine import Engine, open_flow
from lec_opt.network.powerflow import day_powers, placed_feeder, solve_flows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def feeder_day(tmp_path_factory):
    """The shipped feeder day, greedy, with its power flows (the default engine)."""
    out = tmp_path_factory.mktemp("ieee") / "day"
    code, _, err = run_cli(
        "solve-day", "--scenario", "ieee_lv_feeder.toml", "--method", "greedy", "--power-flow", "--out", out
    )
    assert code == 0, err
    return out


def test_the_engines_agree_on_every_bus_phase_and_the_import(feeder_day):
    res = load_day_results(feeder_day)
    feeder, day = placed_feeder(res.day.scenario, res.day)
    iv = res.intervals
    powers = day_powers(
        feeder,
        day,
        iv.ces_charge_kwh.to_numpy(),
        iv.ces_discharge_kwh.to_numpy(),
        day.scenario.network.load_power_factor,
    )
    pgm_flow, pp_flow = open_flow(feeder, Engine.POWER_GRID_MODEL), open_flow(feeder, Engine.PANDAPOWER)
    np.testing.assert_array_equal(pgm_flow.buses, pp_flow.buses)
    pgm, pp = solve_flows(pgm_flow, powers), solve_flows(pp_flow, powers)
    assert pgm.converged.all() and pp.converged.all() and len(pgm.converged) == 288
    assert np.abs(pgm.v_pu - pp.v_pu).max() <= 1e-4
    # the import: the day's within 0.1 %; each interval's within 0.1 % of what flows through the
    # transformer (at night the CES covers the load and the import is the losses alone, a few W)
    assert abs(pgm.source_kw.sum() - pp.source_kw.sum()) <= 1e-3 * abs(pp.source_kw.sum())
    through = np.maximum(np.abs(pp.source_kw), np.abs(powers.p_kw).sum(axis=(1, 2)))
    assert (np.abs(pgm.source_kw - pp.source_kw) <= 1e-3 * through).all()
    assert np.abs(pgm.line_loading_percent - pp.line_loading_percent).max() <= 0.1  # percentage points


def test_the_day_files_agree_with_each_other(feeder_day):
    network = pd.read_csv(feeder_day / "network.csv")
    voltages = pd.read_parquet(feeder_day / "voltages.parquet")
    lines = pd.read_csv(feeder_day / "lines.csv")
    assert list(voltages.columns) == ["interval", "time", "peer", "bus", "phase", "v_pu"]
    assert len(voltages) == 288 * 55 and set(voltages.peer) == set(range(1, 56))
    by_interval = voltages.groupby("interval").v_pu
    # every peer's voltage lies within the interval's extremes over all buses
    assert (by_interval.min().to_numpy() >= network.v_min_pu.to_numpy() - 1e-8).all()  # network.csv: 9 digits
    assert (by_interval.max().to_numpy() <= network.v_max_pu.to_numpy() + 1e-8).all()
    # peer 1 is LOAD1, on bus 34 phase a (the feeder's own data)
    first = voltages[voltages.peer == 1]
    assert set(first.bus) == {"34"} and set(first.phase) == {"a"}
    # lines.csv: one row per line, most loaded first; its peak is network.csv's
    assert len(lines) == 905 and lines.loading_max_percent.is_monotonic_decreasing
    top = lines.iloc[0]
    assert top.loading_max_percent == pytest.approx(network.line_loading_max_percent.max(), rel=1e-9)
    assert network.at[int(top.interval), "line_max"] == top.line and network.at[int(top.interval), "time"] == top.time
    figures = {p.name for p in (feeder_day / "figures").iterdir()}
    assert {"14_peer_voltages.png", "15_feeder_cables.png"} <= figures


def _ieee_load_profiles(folder, n: int = 55, seed: int = 7):
    """Load_profile_1..n.csv as the test case distributes them: time,mult; 1440 minute-end rows."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    minutes = np.arange(1, 1441)
    for k in range(1, n + 1):
        shape = 0.3 + 0.5 * np.exp(-(((minutes / 60) - 19) ** 2) / 4) + 0.2 * np.exp(-(((minutes / 60) - 8) ** 2) / 2)
        kw = np.round(np.clip(shape * rng.uniform(0.5, 1.5) + rng.normal(0, 0.05, 1440), 0, None), 3)
        labels = [f"{m // 60:02d}:{m % 60:02d}:00" for m in minutes]
        rows = ["time,mult"] + [f"{t},{v:.3f}" for t, v in zip(labels, kw)]
        (folder / f"Load_profile_{k}.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_the_test_cases_own_day_minute_by_minute(tmp_path):
    """``network ieee-reference``: 1440 flows, the import minute by minute is the loads plus the
    losses, every peer's voltage every minute (the engines' agreement: the test above)."""
    from lec_opt.io.ieee import find_profiles, read_ieee_profile

    loads = _ieee_load_profiles(tmp_path / "loads")
    code, _, err = run_cli("network", "ieee-reference", loads, "--out", tmp_path / "ref")
    assert code == 0, err
    network = pd.read_csv(tmp_path / "ref" / "network.csv")
    kw = np.column_stack([read_ieee_profile(p) for p in find_profiles(loads)])
    assert len(network) == 1440 and network.converged.all()
    np.testing.assert_allclose(network.feeder_import_kwh - network.losses_kwh, kw.sum(axis=1) / 60, atol=1e-8)
    assert (network.losses_kwh > 0).all()
    voltages = pd.read_parquet(tmp_path / "ref" / "voltages.parquet")
    assert len(voltages) == 1440 * 55 and voltages.v_pu.between(0.9, 1.1).all()


def test_a_one_minute_feeder_day_with_the_imported_ieee_loads(tmp_path):
    """interval_minutes = 1 on the feeder with ``data import-ieee-lv``'s folder: 1440 intervals, each
    with its power flow."""
    loads = _ieee_load_profiles(tmp_path / "loads")
    code, _, err = run_cli("data", "import-ieee-lv", loads, "--out", tmp_path / "data")
    assert code == 0, err
    scenario = tmp_path / "one_minute.toml"
    scenario.write_text('base = "ieee_lv_feeder.toml"\nname = "ieee_1min"\ninterval_minutes = 1\n')
    code, _, err = run_cli(
        "solve-day", "-s", scenario, "--data", tmp_path / "data", "--method", "greedy", "--power-flow",
        "--out", tmp_path / "day",
    )  # fmt: skip
    assert code == 0, err
    network = pd.read_csv(tmp_path / "day" / "network.csv")
    assert len(network) == 1440 and network.converged.all()
    assert len(pd.read_parquet(tmp_path / "day" / "voltages.parquet")) == 1440 * 55


def test_the_built_in_feeders_source_is_the_test_cases():
    """11 kV at 1.05 p.u. behind the definition's impedance: 3 kA three-phase fault current, X/R 4."""
    import math

    from lec_opt.network.feeder import SOURCE_LINE, read_network
    from lec_opt.scenario import load_scenario

    scenario = load_scenario("ieee_lv_feeder.toml")
    net = read_network(scenario.network, scenario.source)
    line = net.line[net.line.name == SOURCE_LINE].iloc[0]
    z1 = complex(line.r_ohm_per_km, line.x_ohm_per_km) * line.length_km
    assert 11.0**2 / abs(z1) == pytest.approx(math.sqrt(3) * 11.0 * 3.0, rel=1e-4)  # MVA = √3 · kV · kA
    assert z1.imag / z1.real == pytest.approx(4.0, rel=1e-4)
    assert float(net.ext_grid.vm_pu.iloc[0]) == pytest.approx(1.05) and int(net.ext_grid.bus.iloc[0]) == int(
        line.from_bus
    )
    assert int(line.to_bus) in set(net.trafo.hv_bus)
