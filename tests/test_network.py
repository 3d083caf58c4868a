"""The feeder topology: cable distances, priority B along the cables, and power flows of every interval.

Hand-made radial feeders (pandapower networks saved as JSON) with their path lengths derived in
comments; a two-bus line solved by hand from Ohm's law; the A/B/C invariance of the physical flows
for a given CES dispatch; and a small feeder day through the command line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandapower as pp  # the network extra, part of the test extra
import pandas as pd
import pytest
from conftest import _merge, make_data_folder, small_scenario_dict, to_toml
from helpers import error_of, run_cli
from typer.testing import CliRunner

from lec_opt.cli import app
from lec_opt.day.interval import solve_snapshot  # noqa: E402
from lec_opt.errors import InputError, LecOptError  # noqa: E402
from lec_opt.market.ces import ces_params  # noqa: E402
from lec_opt.market.greedy import match  # noqa: E402
from lec_opt.market.pairs import candidate_pairs  # noqa: E402
from lec_opt.market.settlement import settle  # noqa: E402
from lec_opt.network.bus_powers import bus_powers  # noqa: E402
from lec_opt.network.engine import Engine, open_flow  # noqa: E402
from lec_opt.network.feeder import load_feeder  # noqa: E402
from lec_opt.network.powerflow import peer_net_from_settlement  # noqa: E402
from lec_opt.network.tables import network_rows  # noqa: E402
from lec_opt.scenario import load_scenario  # noqa: E402
from tests.conftest import REPO_ROOT  # noqa: E402
from tests.helpers import make_snapshot, trade_set  # noqa: E402

runner = CliRunner()


def _ext_grid(net, bus: int) -> None:
    # a stiff source (10^6 MVA short-circuit power): its impedance is negligible in every sequence
    pp.create_ext_grid(
        net, bus, vm_pu=1.0, s_sc_max_mva=1e6, s_sc_min_mva=1e6, rx_max=0.1, rx_min=0.1, r0x0_max=0.1, x0x_max=1.0
    )


def _line(net, a: int, b: int, metres: float, r: float = 0.2, r0: float = 0.6, max_i_ka: float = 0.2) -> int:
    return pp.create_line_from_parameters(
        net,
        a,
        b,
        metres / 1000.0,
        r_ohm_per_km=r,
        x_ohm_per_km=0.0,
        c_nf_per_km=0.0,
        max_i_ka=max_i_ka,
        r0_ohm_per_km=r0,
        x0_ohm_per_km=0.0,
        c0_nf_per_km=0.0,
    )


def _load(net, bus: int, name: str, phase: str) -> None:
    p = {f"p_{ph}_mw": (0.001 if ph in phase else 0.0) for ph in "abc"}
    pp.create_asymmetric_load(net, bus, name=name, **p)


def five_bus_feeder(path: Path) -> Path:
    """A radial LV feeder, lengths in metres:

        B0 (source) --50-- B1 --30-- B2
                            |
                            80
                            |
                            B3 --20-- B4

    LOAD1 at B2 (phase a), LOAD2 at B4 (b), LOAD3 at B3 (c), LOAD4 at B1 (a). Cable paths:
    peers 1-2: B2-B1-B3-B4 = 30 + 80 + 20 = 130;  1-3: 30 + 80 = 110;  1-4: 30;
    peers 2-3: 20;  2-4: 20 + 80 = 100;  3-4: 80.
    """
    net = pp.create_empty_network()
    for k in range(5):
        pp.create_bus(net, 0.4, name=f"B{k}", geodata=(float(k), float(k % 2)))
    _ext_grid(net, 0)
    _line(net, 0, 1, 50)
    _line(net, 1, 2, 30)
    _line(net, 1, 3, 80)
    _line(net, 3, 4, 20)
    for name, bus, phase in (("LOAD1", 2, "a"), ("LOAD2", 4, "b"), ("LOAD3", 3, "c"), ("LOAD4", 1, "a")):
        _load(net, bus, name, phase)
    pp.to_json(net, str(path))
    return path


FIVE_BUS_DISTANCES = np.array(
    [
        [0, 130, 110, 30],
        [130, 0, 20, 100],
        [110, 20, 0, 80],
        [30, 100, 80, 0],
    ],
    dtype=float,
)


@pytest.fixture
def feeder_scenario(tmp_path, small_data, write_scenario):
    """The small 4-peer community (tests/conftest.py) on the five-bus feeder, CES at B1, EVs at B2 and B4."""
    five_bus_feeder(tmp_path / "net.json")

    def write(interval_minutes: int = 60, **network):
        doc = {
            "interval_minutes": interval_minutes,
            "community": {"topology": "feeder"},
            "network": {"file": "net.json", "ces_bus": "B1", "ev_buses": ["B2", "B4"], **network},
            "selection": {"network_fee": 0.01},
        }
        return load_scenario(write_scenario(doc))

    return write


# --- distances ------------------------------------------------------------------------------


def test_cable_distances_of_a_hand_made_radial_feeder(feeder_scenario):
    feeder = load_feeder(feeder_scenario(), 4, 2)
    np.testing.assert_allclose(feeder.distance_m, FIVE_BUS_DISTANCES, atol=1e-9)
    info = feeder.info()
    assert [(p["bus"], p["phase"]) for p in info["peers"]] == [("B2", "a"), ("B4", "b"), ("B3", "c"), ("B1", "a")]
    assert info["ces_bus"] == "B1" and info["ev_buses"] == ["B2", "B4"]
    assert (info["peers"][0]["x"], info["peers"][0]["y"]) == (2.0, 0.0)


def test_peer_to_load_mapping_moves_the_distances(feeder_scenario):
    # peer 1 on LOAD4 (B1), peer 2 on LOAD3 (B3), peer 3 on LOAD2 (B4), peer 4 on LOAD1 (B2)
    feeder = load_feeder(feeder_scenario(loads=["LOAD4", "LOAD3", "LOAD2", "LOAD1"]), 4, 2)
    order = [3, 2, 1, 0]
    np.testing.assert_allclose(feeder.distance_m, FIVE_BUS_DISTANCES[np.ix_(order, order)], atol=1e-9)


def test_bad_feeder_input_names_file_and_field(feeder_scenario):
    with pytest.raises(InputError, match=r"network\.ces_bus.*no bus named 'B9'"):
        load_feeder(feeder_scenario(ces_bus="B9"), 4, 2)
    with pytest.raises(InputError, match=r"network\.ev_buses.*1 buses for 2 EV chargers"):
        load_feeder(feeder_scenario(ev_buses=["B2"]), 4, 2)
    with pytest.raises(InputError, match=r"network\.loads.*no load named 'LOAD7'"):
        load_feeder(feeder_scenario(loads=["LOAD1", "LOAD2", "LOAD3", "LOAD7"]), 4, 2)
    with pytest.raises(InputError, match=r"5 peers but the feeder has 4 loads"):
        load_feeder(feeder_scenario(), 5, 2)


def test_feeder_topology_needs_a_network_section(write_scenario):
    with pytest.raises(LecOptError, match=r"needs a \[network\] section"):
        load_scenario(write_scenario({"community": {"topology": "feeder"}}))
    with pytest.raises(LecOptError, match="exactly one of network.source"):
        load_scenario(write_scenario({"community": {"topology": "feeder"}, "network": {}}))


# --- priority B along the cables ------------------------------------------------------------


def _snap_on_five_bus():
    """Sellers peers 1 and 3, buyers peers 2 and 4, 0.5 kWh each.

    On the ring of 4 every pair is one hop (a tie). Along the cables: 1->4 is 30 m and 3->2 is
    20 m (Σ d·x = 0.5·30 + 0.5·20 = 25 m·kWh), against 1->2 130 m and 3->4 80 m (105 m·kWh).
    Asks 0.10 (peer 1) and 0.12 (peer 3), bids 0.18 (peer 2) and 0.16 (peer 4): C pairs the
    lowest ask with the highest bid, 1->2 and 3->4, the far pairs.
    """
    snap = make_snapshot(4, {1: (0.5, 0.10), 3: (0.5, 0.12)}, {2: (0.5, 0.18), 4: (0.5, 0.16)})
    return dataclasses.replace(snap, distance_m=FIVE_BUS_DISTANCES)


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_priority_b_takes_the_nearest_pairs_along_the_cables(feeder_scenario, method):
    scenario = feeder_scenario()
    snap = _snap_on_five_bus()
    result = solve_snapshot(snap, scenario, scenario.ces.soc_initial, ("B",), method)["B"]
    # (within the lexicographic levels' relative slack of 1e-6)
    assert trade_set(result) == pytest.approx({(1, 4): 0.5, (3, 2): 0.5}, abs=1e-5)
    objective = next(lv.objective for lv in result.levels if lv.level == 3)
    assert objective == pytest.approx(25.0, abs=1e-4)  # metres·kWh


def test_greedy_b_follows_the_cables_not_the_ring():
    snap = _snap_on_five_bus()
    # seller 3 to buyer 2 (20 m) first, then seller 1 to buyer 4 (30 m); positions: sellers [1, 3], buyers [2, 4]
    assert match(snap, "B") == [(1, 0, 0.5), (0, 1, 0.5)]


def test_nearest_candidate_pairs_along_the_cables():
    pairs = candidate_pairs(_snap_on_five_bus(), sparse_k=1)
    # seller 1 keeps buyer 4 (30 m < 130 m), seller 3 keeps buyer 2 (20 m < 80 m)
    assert list(zip(pairs.seller, pairs.buyer)) == [(0, 1), (1, 0)]
    assert list(pairs.distance) == [30.0, 20.0]


# --- power flows by hand --------------------------------------------------------------------


def _two_bus(path: Path, phase: str) -> Path:
    """Source B0 at 1.0 p.u. (0.4 kV) -- 100 m of 0.5 Ω/km (x = 0; r0 1.5 Ω/km) -- B1 with one load."""
    net = pp.create_empty_network()
    pp.create_bus(net, 0.4, name="B0")
    pp.create_bus(net, 0.4, name="B1")
    _ext_grid(net, 0)
    _line(net, 0, 1, 100, r=0.5, r0=1.5, max_i_ka=0.1)
    _load(net, 1, "LOAD1", phase)
    pp.to_json(net, str(path))
    return path


ENGINES = [e.value for e in Engine]


def one_flow(feeder, load_kwh, pv_kwh, ces_kwh: float, ev_kwh, hours: float, power_factor: float, engine: str):
    """One interval's flow by ``engine``: (network.csv's row as a dict, the FlowResults, the flow)."""
    powers = bus_powers(
        feeder,
        np.atleast_2d(load_kwh),
        np.atleast_2d(pv_kwh),
        max(ces_kwh, 0.0),
        max(-ces_kwh, 0.0),
        np.atleast_2d(ev_kwh),
        hours,
        power_factor,
    )
    flow = open_flow(feeder, engine)
    results = flow.solve(powers)
    names = [feeder.bus_name(b) for b in flow.buses]
    lines = feeder.net.line.name.astype(str).reindex(flow.lines).to_list()
    row = network_rows(results, names, lines, powers.total_kw(), hours, ["00:00"]).iloc[0].to_dict()
    return row, results, flow


def _flow_on(path: Path, scenario_writer, kw: float, engine: str):
    scenario = scenario_writer(
        {"community": {"topology": "feeder", "n_peers": 1}, "network": {"file": str(path), "load_power_factor": 1.0}}
    )
    feeder = load_feeder(load_scenario(scenario), 1, 0)
    row, _, _ = one_flow(feeder, [kw], [0.0], 0.0, np.zeros((1, 0)), 1.0, 1.0, engine)
    return row, feeder


@pytest.mark.parametrize("engine", ENGINES)
def test_two_bus_balanced_load_matches_ohms_law(tmp_path, write_scenario, engine):
    """30 kW balanced at unity power factor: 10 kW per phase on V_s = 400/√3 V through R = 0.05 Ω.

    V_r (V_s - V_r) = P R  =>  V_r = (V_s + sqrt(V_s² - 4 P R)) / 2;  I = P / V_r;  losses = 3 I² R.
    """
    row, _ = _flow_on(_two_bus(tmp_path / "two.json", "abc"), write_scenario, 30.0, engine)
    v_s, p, r = 400 / math.sqrt(3), 10_000.0, 0.05
    v_r = (v_s + math.sqrt(v_s**2 - 4 * p * r)) / 2
    current = p / v_r
    assert row["converged"]
    assert row["v_min_pu"] == pytest.approx(v_r / v_s, abs=1e-7)
    # losses are source minus load: exact up to the flow's mismatch tolerance (1e-8 MVA per bus and sequence)
    assert row["losses_kwh"] == pytest.approx(3 * current**2 * r / 1000, abs=5e-5)
    assert row["line_loading_max_percent"] == pytest.approx(current / 100 * 100, rel=1e-5)  # max_i 100 A
    assert row["feeder_import_kwh"] - row["losses_kwh"] == pytest.approx(30.0, rel=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_two_bus_single_phase_load_returns_through_the_neutral(tmp_path, write_scenario, engine):
    """10 kW on phase a alone: I0 = I1 = I2 = I/3, so the drop of phase a is I (2 R1 + R0) / 3.

    R1 = 0.05 Ω, R0 = 0.15 Ω: R_eff = (0.1 + 0.15) / 3;  V_a = (V_s + sqrt(V_s² - 4 P R_eff)) / 2;
    losses 3 (I/3)² (2 R1 + R0) = I² R_eff.
    """
    row, feeder = _flow_on(_two_bus(tmp_path / "one.json", "a"), write_scenario, 10.0, engine)
    v_s, p, r_eff = 400 / math.sqrt(3), 10_000.0, (2 * 0.05 + 0.15) / 3
    v_a = (v_s + math.sqrt(v_s**2 - 4 * p * r_eff)) / 2
    current = p / v_a
    assert [ld.phase for ld in feeder.peer_loads] == ["a"]
    assert row["v_min_pu"] == pytest.approx(v_a / v_s, abs=1e-6)
    assert row["v_min_phase"] == "a" and row["v_min_bus"] == "B1"
    assert row["losses_kwh"] == pytest.approx(current**2 * r_eff / 1000, abs=5e-5)
    assert row["unbalance_max_percent"] > 0.1


# --- P2P moves money, not electrons ---------------------------------------------------------


def test_flows_are_the_same_under_a_b_and_c_for_a_given_ces_dispatch(feeder_scenario):
    scenario = feeder_scenario()
    snap = _snap_on_five_bus()
    soc = scenario.ces.soc_initial
    ces = ces_params(scenario, snap, soc)
    results = solve_snapshot(snap, scenario, soc, ("A", "B", "C"), "milp")
    assert trade_set(results["B"]) != trade_set(results["C"])  # different partners ...
    dispatch = {p: (r.ces_charge_kwh, r.ces_discharge_kwh) for p, r in results.items()}
    assert dispatch["A"] == dispatch["B"] == dispatch["C"]  # ... the same CES dispatch
    feeder = load_feeder(scenario, 4, 2)
    tan_phi = math.tan(math.acos(scenario.network.load_power_factor))
    rows, voltages = {}, {}
    for p, r in results.items():
        net_kwh = peer_net_from_settlement(settle(r, ces))  # each bus's export after P2P and the CES
        np.testing.assert_allclose(net_kwh, snap.pv_kwh - snap.load_kwh, atol=1e-9)
        powers = bus_powers(
            feeder,
            snap.load_kwh[None, :],  # the household's load sets its reactive power
            (snap.load_kwh + net_kwh)[None, :],  # so that load - "PV" = -net, the settlement's export
            r.ces_charge_kwh,
            r.ces_discharge_kwh,
            np.zeros((1, 2)),
            snap.hours,
            scenario.network.load_power_factor,
        )
        phase = [0 if ld.phase == "abc" else "abc".index(ld.phase) for ld in feeder.peer_loads]
        share = [3 if ld.phase == "abc" else 1 for ld in feeder.peer_loads]
        np.testing.assert_allclose(powers.q_kvar[0, np.arange(4), phase] * share, snap.load_kwh * tan_phi / snap.hours)
        flows = open_flow(feeder).solve(powers)
        voltages[p] = flows.v_pu
        rows[p] = flows.source_kw
    for p in "BC":
        np.testing.assert_allclose(voltages[p], voltages["A"], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(rows[p], rows["A"])


# --- a feeder day through the command line --------------------------------------------------


@pytest.fixture(scope="module")
def feeder_day(tmp_path_factory):
    """The small community on the five-bus feeder at 240 minutes, solved with --power-flow --report
    (once for the module: the tests only read it, and power-flow rewrites network.csv with the same bytes)."""
    root = tmp_path_factory.mktemp("feeder_day")
    make_data_folder(root / "data")
    five_bus_feeder(root / "net.json")
    network = {"file": "net.json", "ces_bus": "B1", "ev_buses": ["B2", "B4"]}
    doc = {"interval_minutes": 240, "community": {"topology": "feeder"}, "network": network}
    (root / "scenario.toml").write_text(
        to_toml(_merge(small_scenario_dict(), {**doc, "selection": {"network_fee": 0.01}}))
    )
    scenario = load_scenario(root / "scenario.toml")
    out = root / "day"
    cli = runner.invoke(
        app,
        [
            "solve-day",
            "--scenario",
            scenario.source,
            "--method",
            "greedy",
            "--power-flow",
            "--report",
            "--out",
            str(out),
        ],
    )
    assert cli.exit_code == 0, cli.output
    return out, cli.output


def assert_flows_balance(out: Path, intervals: int) -> pd.DataFrame:
    """Every interval of the day's network.csv converged, and what the source delivers minus the
    losses is what the buses take (load − PV, the CES's charge − discharge, the EVs); the summary's
    network totals are the file's. Returns network.csv."""
    from lec_opt.market.snapshot import build_day

    network = pd.read_csv(out / "network.csv")
    assert len(network) == intervals and network.converged.all()
    day = pd.read_csv(out / "intervals.csv")
    inputs = build_day(load_scenario(out / "scenario.toml"))
    taken = (inputs.load_kwh - inputs.pv_kwh).sum(axis=1) + day.ces_charge_kwh - day.ces_discharge_kwh + inputs.ev_kwh
    np.testing.assert_allclose(network.feeder_import_kwh - network.losses_kwh, taken, atol=1e-6)
    assert (network.losses_kwh > 0).all()
    assert (network.v_min_pu <= network.v_max_pu).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["network"]["intervals"] == intervals and summary["network"]["failed_flows"] == 0
    assert summary["network"]["losses_kwh"] == pytest.approx(network.losses_kwh.sum())
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert "12_voltage_band.png" in figures and any(f.startswith("13_feeder_map_t") for f in figures)
    return network


def test_solve_day_power_flow_writes_network_csv_summary_and_figures(feeder_day):
    out, output = feeder_day
    assert "unbalanced power flow" in output and "6/6" in output
    assert_flows_balance(out, 6)
    assert "Power flows on the feeder" in (out / "report.html").read_text()
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades)
    expected = FIVE_BUS_DISTANCES[trades.seller - 1, trades.buyer - 1]
    np.testing.assert_allclose(trades.distance_m, expected)


def test_power_flow_of_a_folder_is_deterministic(feeder_day):
    out, _ = feeder_day
    before = (out / "network.csv").read_bytes()
    cli = runner.invoke(app, ["power-flow", str(out)])
    assert cli.exit_code == 0, cli.output
    assert (out / "network.csv").read_bytes() == before


def test_power_flow_refuses_a_ring_day(tmp_path, small_data, write_scenario):
    scenario = write_scenario({"interval_minutes": 240})
    out = tmp_path / "ring"
    cli = runner.invoke(app, ["solve-day", "--scenario", str(scenario), "--method", "greedy", "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    assert "distance_m" not in pd.read_csv(out / "trades.csv").columns
    with pytest.raises(LecOptError, match="ring community has no feeder"):
        from lec_opt.network.powerflow import power_flow_folder

        power_flow_folder(out)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_non_converging_flow_is_recorded_not_raised(feeder_scenario, engine):
    feeder = load_feeder(feeder_scenario(), 4, 2)
    # 2 MW per peer through 0.4 kV cables: no solution exists
    row, results, _ = one_flow(feeder, np.full(4, 2000.0), np.zeros(4), 0.0, np.zeros((1, 2)), 1.0, 0.95, engine)
    assert not row["converged"] and not results.converged.any()
    assert pd.isna(row["v_min_pu"]) and pd.isna(row["losses_kwh"]) and np.isnan(results.v_pu).all()


# --- the shipped IEEE feeder ----------------------------------------------------------------


def test_network_info_of_the_ieee_feeder():
    cli = runner.invoke(app, ["network", "info", "--scenario", str(REPO_ROOT / "models/ieee_lv_feeder.toml"), "--json"])
    assert cli.exit_code == 0, cli.output
    info = json.loads(cli.output)
    assert len(info["peers"]) == 55 and info["ces_bus"] == "1"
    assert info["power_flow_missing"] == []  # the built-in feeder has every value the unbalanced flow reads
    first = info["peers"][0]
    assert (first["peer"], first["load"], first["bus"], first["phase"]) == (1, "LOAD1", "34", "a")
    assert math.isfinite(first["x"]) and math.isfinite(first["y"])
    d = np.array(info["distance_m"])
    assert d.shape == (55, 55) and np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    # re-check one distance from the feeder's own line data: walk the tree from each bus to the transformer
    import pandapower.networks as pn

    net = pn.ieee_european_lv_asymmetric()
    parent = {}
    frontier, seen = [1], {1}
    while frontier:
        bus = frontier.pop()
        for _, line in net.line[(net.line.from_bus == bus) | (net.line.to_bus == bus)].iterrows():
            other = int(line.to_bus if line.from_bus == bus else line.from_bus)
            if other not in seen:
                seen.add(other)
                parent[other] = (bus, 1000 * line.length_km)
                frontier.append(other)

    def path(bus):
        out = {}
        total = 0.0
        while bus in parent:
            out[bus] = total
            bus, metres = parent[bus]
            total += metres
        out[bus] = total
        return out

    bus = {int(k): int(v) for k, v in zip(net.bus.name.index, net.bus.name) if str(v).isdigit()}
    b1, b2 = bus[34], bus[906]  # peer 1 (LOAD1) and peer 55 (LOAD55)
    up1, up2 = path(b1), path(b2)
    common = min(set(up1) & set(up2), key=lambda b: up1[b])
    assert d[0, 54] == pytest.approx(up1[common] + up2[common], rel=1e-9)


def test_the_ring_path_does_not_import_pandapower(tmp_path, small_data, write_scenario):
    scenario = write_scenario({"interval_minutes": 240})
    code = (
        "import sys\n"
        "from lec_opt import load_scenario\n"
        "from lec_opt.day.run import run_day\n"
        "from lec_opt.day.outputs import write_day\n"
        f"write_day(run_day(load_scenario({str(scenario)!r}), 'greedy'), {str(tmp_path / 'out')!r})\n"
        "assert 'pandapower' not in sys.modules, 'pandapower imported on the ring path'\n"
        "assert 'power_grid_model' not in sys.modules, 'power-grid-model imported on the ring path'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


@pytest.mark.slow
def test_the_shipped_feeder_day_with_its_power_flows(tmp_path):
    """``lec-opt solve-day --scenario models/ieee_lv_feeder.toml --method greedy --power-flow``, as the
    README shows it: 288 flows on the IEEE European LV feeder (about 40 s)."""
    out = tmp_path / "feeder"
    cli = runner.invoke(
        app, ["solve-day", "--scenario", "ieee_lv_feeder.toml", "--method", "greedy", "--power-flow", "--out", str(out)]
    )
    assert cli.exit_code == 0, cli.output
    network = assert_flows_balance(out, 288)
    assert network.buses_outside_en50160.sum() == 0 and (network.v_min_pu > 0.9).all()
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) and (trades.distance_m > 0).all()


def test_the_day_folder_carries_its_network_file(feeder_day, tmp_path):
    """scenario.toml names the feeder as network.json beside it, a copy of the user's file: the folder
    moved elsewhere still reads its feeder (power-flow, report)."""
    out, _ = feeder_day
    text = (out / "scenario.toml").read_text()
    assert 'file = "network.json"' in text and "net.json" not in text
    assert (out / "network.json").read_bytes() == (out.parent / "net.json").read_bytes()
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    assert load_scenario(moved / "scenario.toml").network.file == str((moved / "network.json").resolve())
    cli = runner.invoke(app, ["power-flow", str(moved)])
    assert cli.exit_code == 0, cli.output
    assert (moved / "network.csv").read_bytes() == (out / "network.csv").read_bytes()


# --- a user's own feeder: what the unbalanced flow needs, checked before any work -------------------


def _refused(scenario, out: Path) -> str:
    """``lec-opt solve-day --power-flow`` must stop with exit status 2 and one error line, before any
    folder is made. Returns the message, its whitespace collapsed."""
    code, out_text, err = run_cli(
        "solve-day", "--scenario", scenario.source, "--method", "greedy", "--power-flow", "--out", out
    )
    assert code == 2, (code, out_text, err)
    assert not out.exists()
    return " ".join(error_of(err).split())


def _edit_net(path: Path, change) -> None:
    net = pp.from_json(str(path))
    change(net)
    pp.to_json(net, str(path))


def test_a_network_without_unbalanced_data_is_refused_before_any_work(feeder_scenario, tmp_path):
    scenario = feeder_scenario(interval_minutes=240)

    def strip(net):
        net.ext_grid.drop(columns=["s_sc_max_mva"], inplace=True)
        net.line.loc[1, "r0_ohm_per_km"] = float("nan")

    _edit_net(tmp_path / "net.json", strip)
    said = _refused(scenario, tmp_path / "day")
    assert "the unbalanced power flow needs data this network lacks" in said
    assert "ext_grid" in said and "s_sc_max_mva (the source's short-circuit power, MVA)" in said
    assert "line" in said and "r0_ohm_per_km" in said and "pandapower.to_json" in said


def test_network_info_says_what_the_power_flow_lacks(feeder_scenario, tmp_path):
    scenario = feeder_scenario(interval_minutes=240)
    _edit_net(tmp_path / "net.json", lambda net: net.ext_grid.drop(columns=["x0x_max"], inplace=True))
    code, out, err = run_cli("network", "info", "--scenario", scenario.source)
    assert code == 0, err
    said = " ".join(out.split())
    assert "unbalanced power flow: the network lacks 1 value (" in said and "x0x_max" in said
    code, out, err = run_cli("network", "info", "--scenario", scenario.source, "--json")
    (missing,) = json.loads(out)["power_flow_missing"]
    assert missing.startswith("ext_grid ") and missing.endswith(": x0x_max (the source's X0/X ratio)")


def test_a_network_whose_flow_cannot_converge_stops_before_the_day(feeder_scenario, tmp_path):
    """A 'Dyn' transformer at 150° (Dyn5): pandapower's unbalanced flow does not converge on it, and
    that was reported only after the whole day. Now one trial flow stops the run first. (The
    power-grid-model engine models Dyn5 and solves the same network.)"""
    scenario = feeder_scenario(interval_minutes=240, engine="pandapower")

    def behind_a_transformer(net):
        mv = pp.create_bus(net, 20.0, name="MV")
        net.ext_grid.loc[0, "bus"] = mv
        pp.create_transformer_from_parameters(
            net, mv, 0, sn_mva=0.4, vn_hv_kv=20, vn_lv_kv=0.4, vkr_percent=1.0, vk_percent=4.0, pfe_kw=0.5,
            i0_percent=0.1, shift_degree=150, vector_group="Dyn", vk0_percent=4.0, vkr0_percent=1.0,
            mag0_percent=100, mag0_rx=0, si0_hv_partial=0.9, name="T1",
        )  # fmt: skip

    _edit_net(tmp_path / "net.json", behind_a_transformer)
    said = _refused(scenario, tmp_path / "day")
    assert "does not converge on this network even at 0.1 kW a peer" in said
    assert "T1: Dyn with shift 150°" in said
    code, _, err = run_cli("solve-day", "--scenario", scenario.source, "--method", "greedy", "--power-flow",
                           "--engine", "power-grid-model", "--out", tmp_path / "pgm")  # fmt: skip
    assert code == 0, err
    assert pd.read_csv(tmp_path / "pgm" / "network.csv").converged.all()


def test_a_community_load_on_an_island_is_named(feeder_scenario, tmp_path):
    scenario = feeder_scenario(interval_minutes=240)
    _edit_net(tmp_path / "net.json", lambda net: net.line.loc[:, "in_service"].__setitem__(2, False))  # B1-B3 open
    said = _refused(scenario, tmp_path / "day")
    assert "'B3'" in said and "'B4'" in said, said


# --- the day's network files, a period and a sweep on the feeder --------------------------------


def test_the_day_writes_every_peers_voltage_and_every_lines_peak(feeder_day):
    out, _ = feeder_day
    network = pd.read_csv(out / "network.csv")
    voltages = pd.read_parquet(out / "voltages.parquet")
    lines = pd.read_csv(out / "lines.csv")
    assert len(voltages) == 6 * 4 and list(voltages.columns) == ["interval", "time", "peer", "bus", "phase", "v_pu"]
    # peer k's bus and phase are the feeder's (tests of distances above): B2 a, B4 b, B3 c, B1 a
    placed = voltages.drop_duplicates("peer").set_index("peer")
    assert [(placed.at[k, "bus"], placed.at[k, "phase"]) for k in (1, 2, 3, 4)] == [
        ("B2", "a"), ("B4", "b"), ("B3", "c"), ("B1", "a"),
    ]  # fmt: skip
    assert (voltages.groupby("interval").v_pu.min().to_numpy() >= network.v_min_pu.to_numpy() - 1e-8).all()
    assert len(lines) == 4 and lines.loading_max_percent.iloc[0] == pytest.approx(
        network.line_loading_max_percent.max()
    )
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"14_peer_voltages.png", "15_feeder_cables.png"} <= figures
    report = (out / "report.html").read_text()
    assert "voltages.parquet" in report and "lines.csv" in report


def test_the_pandapower_engine_gives_the_same_network_csv(feeder_day, tmp_path):
    out, _ = feeder_day
    copy = tmp_path / "pp"
    shutil.copytree(out, copy)
    code, _, err = run_cli("power-flow", copy, "--engine", "pandapower")
    assert code == 0, err
    ours, theirs = pd.read_csv(out / "network.csv"), pd.read_csv(copy / "network.csv")
    numeric = ["v_min_pu", "v_max_pu", "losses_kwh", "feeder_import_kwh"]
    np.testing.assert_allclose(theirs[numeric], ours[numeric], rtol=0, atol=1e-6)  # p.u., kWh
    np.testing.assert_allclose(theirs.line_loading_max_percent, ours.line_loading_max_percent, rtol=0, atol=1e-4)
    assert json.loads((copy / "summary.json").read_text())["network"]["engine"] == "pandapower"
    assert json.loads((out / "summary.json").read_text())["network"]["engine"] == "power-grid-model"
    code, _, err = run_cli("power-flow", copy, "--engine", "opendss")
    assert code == 2 and "--engine must be one of power-grid-model, pandapower" in error_of(err)


def test_a_period_on_the_feeder_has_each_days_network_columns(feeder_day, tmp_path):
    """Two days of the one-day folder: each day's columns in days.csv are that day's network.csv
    (the first day starts from the same SoC as the day run, so its flows are the day's)."""
    out, _ = feeder_day
    scenario = out.parent / "scenario.toml"
    period = tmp_path / "period"
    args = ["solve-period", "-s", scenario, "--start", "2025-06-01", "--days", "2", "--method", "greedy"]
    code, said, err = run_cli(*args, "--power-flow", "--out", period)
    assert code == 0, err
    assert "bus-minutes outside EN 50160" in " ".join(said.split())
    days = pd.read_csv(period / "days.csv")
    day = pd.read_csv(out / "network.csv")
    first = days.iloc[0]
    assert first.v_min_pu == pytest.approx(day.v_min_pu.min(), abs=1e-8)
    assert first.v_max_pu == pytest.approx(day.v_max_pu.max(), abs=1e-8)
    assert first.network_losses_kwh == pytest.approx(day.losses_kwh.sum(), abs=1e-7)
    assert first.bus_minutes_outside_en50160 == int(day.buses_outside_en50160.sum()) * 240
    assert first.failed_flows == 0
    network = pd.read_parquet(period / "network.parquet")
    voltages = pd.read_parquet(period / "voltages.parquet")
    lines = pd.read_parquet(period / "lines.parquet")
    assert len(network) == 12 and len(voltages) == 2 * 6 * 4 and len(lines) == 2 * 4
    assert set(network.date) == set(voltages.date) == set(lines.date) == {"2025-06-01", "2025-06-02"}
    summary = json.loads((period / "summary.json").read_text())
    assert summary["network"]["network_losses_kwh"] == pytest.approx(days.network_losses_kwh.sum())
    assert {"period_peer_voltages.png", "period_minutes_outside.png"} <= {
        p.name for p in (period / "figures").iterdir()
    }
    code, _, err = run_cli(*args, "--power-flow", "--executor", "serial", "--out", tmp_path / "again")
    assert code == 0, err  # the same files from another executor (the flows run in the client, in date order)
    for name in ("days.csv", "network.parquet", "voltages.parquet", "lines.parquet"):
        assert (tmp_path / "again" / name).read_bytes() == (period / name).read_bytes(), name


def test_a_sweep_on_the_feeder_has_the_network_columns(feeder_day, tmp_path):
    out, _ = feeder_day
    scenario = out.parent / "scenario.toml"
    code, _, err = run_cli(
        "sweep", "-s", scenario, "-p", "ces.capacity_kwh=20", "--method", "greedy", "--executor", "serial",
        "--power-flow", "--out", tmp_path / "sweep", "--no-figures",
    )  # fmt: skip
    assert code == 0, err
    row = pd.read_csv(tmp_path / "sweep" / "sweep.csv").iloc[0]
    day = pd.read_csv(out / "network.csv")  # the day's scenario has the same 20 kWh CES
    assert row.v_max_pu == pytest.approx(day.v_max_pu.max(), abs=1e-8)
    assert row.network_losses_kwh == pytest.approx(day.losses_kwh.sum(), abs=1e-7)


def test_power_flows_of_a_period_need_a_feeder(tmp_path, small_data, write_scenario):
    scenario = write_scenario({"interval_minutes": 240})
    code, _, err = run_cli(
        "solve-period", "-s", scenario, "--start", "2025-06-01", "--days", "1", "--method", "greedy", "--power-flow",
        "--out", tmp_path / "p",
    )  # fmt: skip
    assert code == 2 and "power flows need a feeder scenario" in error_of(err)
    assert not (tmp_path / "p").exists()


def test_a_feeder_days_report_draws_the_feeder_not_the_ring(feeder_day):
    out, _ = feeder_day
    figures = {p.name for p in (out / "figures").iterdir()}
    assert not any(name.startswith("07_ring") for name in figures)
    assert any(name.startswith("13_feeder_map") for name in figures)


def test_a_feeder_without_coordinates_is_said_so_in_the_report(feeder_scenario, tmp_path):
    def no_coordinates(net):
        net.bus["geo"] = None
        if "bus_geodata" in net:
            net.bus_geodata.drop(net.bus_geodata.index, inplace=True)

    _edit_net(tmp_path / "net.json", no_coordinates)
    scenario = feeder_scenario(interval_minutes=240)
    code, _, err = run_cli(
        "solve-day", "--scenario", scenario.source, "--method", "greedy", "--power-flow", "--report",
        "--out", tmp_path / "day",
    )  # fmt: skip
    assert code == 0, err
    figures = {p.name for p in (tmp_path / "day" / "figures").iterdir()}
    assert not any(name.startswith(("07_ring", "13_feeder_map", "15_feeder_cables")) for name in figures)
    report = " ".join((tmp_path / "day" / "report.html").read_text().split())
    assert "not drawn: the network" in report and "buses have no coordinates" in report


def test_a_feeder_period_stopped_half_way_resumes_to_the_same_files(feeder_scenario, tmp_path, monkeypatch):
    """A period with power flows that stops on its third day keeps its partial folder; --resume
    ends with the files an uninterrupted run writes, on any executor."""
    from lec_opt.network.period_flows import FeederFlows
    from lec_opt.period.run import solve_period, with_period

    scenario = with_period(feeder_scenario(interval_minutes=240), "2025-06-01", 5)
    real_day = FeederFlows.day
    calls = []

    def stop_on_day_three(self, day, run):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("stopped")
        return real_day(self, day, run)

    monkeypatch.setattr(FeederFlows, "day", stop_on_day_three)
    with pytest.raises(KeyboardInterrupt):
        solve_period(scenario, tmp_path / "out", "greedy", power_flow=True, executor="serial")
    monkeypatch.setattr(FeederFlows, "day", real_day)
    assert not (tmp_path / "out").exists()
    solve_period(scenario, tmp_path / "out", "greedy", power_flow=True, executor="serial", resume=True)
    for executor in ("serial", "dask"):
        solve_period(scenario, tmp_path / executor, "greedy", power_flow=True, executor=executor, workers=2)

    def files(folder):
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != "lec-opt.json"}

    expected = files(tmp_path / "serial")
    assert {"network.parquet", "voltages.parquet", "lines.parquet", "days.csv"} <= set(expected)
    assert files(tmp_path / "out") == expected
    assert files(tmp_path / "dask") == expected


def test_data_validate_checks_a_feeder_scenarios_network(feeder_scenario, tmp_path):
    scenario = feeder_scenario(interval_minutes=240)
    data = Path(scenario.data_dir)
    code, said, err = run_cli("data", "validate", data, "--scenario", scenario.source)
    assert code == 0, err
    said = " ".join(said.split())
    assert "are placed on" in said and "the network has the data it needs" in said

    def without_zero_sequence(net):
        net.line["r0_ohm_per_km"] = np.nan

    _edit_net(tmp_path / "net.json", without_zero_sequence)
    code, said, err = run_cli("data", "validate", data, "--scenario", scenario.source)
    assert code == 0, err  # the data are fine: the network's gap is a warning for --power-flow
    assert "--power-flow will stop until they are added" in " ".join(said.split())
    _edit_net(tmp_path / "net.json", lambda net: net.line.loc[:, "in_service"].__setitem__(2, False))
    code, _, err = run_cli("data", "validate", data, "--scenario", scenario.source)
    assert code == 2 and "B" in error_of(err)  # a peer's bus cut off: named, exit 2
