"""A power flow of every interval of a solved day on its feeder (models/FORMULATION.md §11).

The community's draw at its connection points (``lec_opt.network.bus_powers``) is solved by the
scenario's engine (``[network] engine``: power-grid-model, one batch a run, or pandapower,
``lec_opt.network.engine``) and written as ``network.csv`` (each interval's extremes),
``voltages.parquet`` (every peer's voltage in every interval) and ``lines.csv`` (each line's
highest loading): ``lec_opt.network.tables``. For a given CES dispatch the flows are the same under
priorities A, B and C: P2P trades move money, not electrons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.errors import LecOptError
from lec_opt.io.atomic import atomic_open, write_csv, write_json
from lec_opt.io.results import load_day_results, read_summary
from lec_opt.io.results_folder import writing
from lec_opt.io.schema import CURTAILMENT_FILE, LINES_FILE, NETWORK_FILE, SUMMARY_FILE, VOLTAGES_FILE
from lec_opt.network.bus_powers import BusPowers, bus_powers
from lec_opt.network.engine import Engine, open_flow
from lec_opt.network.feeder import Feeder, load_feeder
from lec_opt.network.tables import line_peaks, network_rows, network_totals, peer_voltages

CHUNK_INTERVALS = 48  # intervals a batch when progress is shown: the bar moves every 48 flows
Progress = Callable[[int, int], None]


def peer_net_from_settlement(money) -> np.ndarray:
    """What each peer's bus exports (kWh, + out), rebuilt from its accounts after P2P and the CES.

    sold P2P + to the CES + export - bought P2P - from the CES - import: the settlement's view of
    the same energy the profiles give as PV - load, whoever the peer traded with.
    """
    return (
        money.sold_p2p_kwh
        + money.to_ces_kwh
        + money.export_kwh
        - money.bought_p2p_kwh
        - money.from_ces_kwh
        - money.import_kwh
    )


@dataclass(frozen=True)
class DayNetwork:
    """A day's flows as tables: network.csv, voltages.parquet and lines.csv."""

    intervals: pd.DataFrame
    voltages: pd.DataFrame
    lines: pd.DataFrame


def solve_flows(flow, powers: BusPowers, progress: Progress | None = None):
    """``flow.solve`` over ``powers``: in runs of ``CHUNK_INTERVALS`` reporting progress between them,
    or, without ``progress``, in one run (each interval is solved alone: the same results)."""
    from lec_opt.network.engine import FlowResults

    parts = []
    chunk = CHUNK_INTERVALS if progress else max(powers.n_intervals, 1)
    for start in range(0, powers.n_intervals, chunk):
        stop = min(start + chunk, powers.n_intervals)
        parts.append(flow.solve(BusPowers(powers.p_kw[start:stop], powers.q_kvar[start:stop])))
        if progress:
            progress(stop, powers.n_intervals)
    return FlowResults(*(np.concatenate([getattr(p, f) for p in parts]) for f in FlowResults.__dataclass_fields__))


def day_powers(
    feeder: Feeder,
    day,
    ces_charge_kwh: np.ndarray,
    ces_discharge_kwh: np.ndarray,
    power_factor: float,
    curtailed_kwh: np.ndarray | None = None,
):
    """The day's ``BusPowers`` with the given CES dispatch (load, PV and EV demand from ``day``), each
    peer's PV less ``curtailed_kwh`` ([interval, peer], when the network's limits were kept)."""
    ev = day.ev_charger_kwh if day.ev_charger_kwh is not None else day.ev_kwh[:, None]
    pv = day.pv_kwh if curtailed_kwh is None else day.pv_kwh - curtailed_kwh
    return bus_powers(feeder, day.load_kwh, pv, ces_charge_kwh, ces_discharge_kwh, ev, day.hours, power_factor)


def curtailment_of(folder: Path, n_intervals: int, n_peers: int) -> np.ndarray | None:
    """A results folder's curtailment.csv as [interval, peer] kWh (None when the day had no limits)."""
    path = Path(folder) / CURTAILMENT_FILE
    if not path.exists():
        return None
    table = pd.read_csv(path)
    out = np.zeros((n_intervals, n_peers))
    np.add.at(out, (table.interval.to_numpy(int), table.peer.to_numpy(int) - 1), table.curtailed_kwh.to_numpy(float))
    return out


def day_flows(
    feeder: Feeder,
    day,
    ces_charge_kwh: np.ndarray,
    ces_discharge_kwh: np.ndarray,
    power_factor: float,
    engine: Engine | str = Engine.POWER_GRID_MODEL,
    progress: Progress | None = None,
    flow=None,
    curtailed_kwh: np.ndarray | None = None,
) -> DayNetwork:
    """A power flow of every interval of ``day`` (``DayInputs``) with the given CES dispatch and
    curtailment (``day_powers``). ``flow``: the feeder already opened for ``engine`` (``open_flow``),
    for a run of many days."""
    powers = day_powers(feeder, day, ces_charge_kwh, ces_discharge_kwh, power_factor, curtailed_kwh)
    flow = flow if flow is not None else open_flow(feeder, engine)
    times = [day.start(t) for t in range(day.n_intervals)]
    return as_tables(feeder, flow, solve_flows(flow, powers, progress), powers, day.hours, times)


def as_tables(feeder: Feeder, flow, results, powers: BusPowers, hours: float, times: list[str]) -> DayNetwork:
    """A run's ``FlowResults`` as its tables (network.csv's rows, every peer's voltage, each line's peak)."""
    bus_names = [feeder.bus_name(b) for b in flow.buses]
    line_names = feeder.net.line.name.astype(str).reindex(flow.lines).to_list()
    return DayNetwork(
        intervals=network_rows(results, bus_names, line_names, powers.total_kw(), hours, times),
        voltages=peer_voltages(results, feeder, flow.buses, times),
        lines=line_peaks(results, line_names, times),
    )


def placed_feeder(scenario, day=None) -> tuple[Feeder, object]:
    """The scenario's feeder with its peers and EV chargers placed, and the ``DayInputs`` that gave
    their numbers (``day``, or built from the scenario's data)."""
    from lec_opt.market.snapshot import build_day

    day = day if day is not None else build_day(scenario)
    n_chargers = day.ev_charger_kwh.shape[1] if day.ev_charger_kwh is not None else 1
    return load_feeder(scenario, day.n_peers, n_chargers), day


def ready_feeder(scenario, day=None, engine: Engine | str | None = None) -> Feeder:
    """The scenario's feeder with the community placed, checked for the unbalanced flow (every datum
    it needs, no island under the community's buses) and one trial flow run with ``engine`` (default:
    the scenario's); before any work. ``day``: the ``DayInputs`` (default: built from the data)."""
    from lec_opt.network.checks import check_feeder_for_flows, trial_flow

    feeder, day = placed_feeder(scenario, day)
    network = scenario.network
    check_feeder_for_flows(feeder, scenario.origin("network.file" if network.file else "network"))
    trial_flow(feeder, engine or network.engine)
    return feeder


def write_day_network(folder: Path, network: DayNetwork) -> None:
    """network.csv, voltages.parquet and lines.csv into ``folder`` (each written atomically)."""
    write_csv(folder / NETWORK_FILE, network.intervals, float_format="%.9g")
    write_csv(folder / LINES_FILE, network.lines, float_format="%.9g")
    with atomic_open(folder / VOLTAGES_FILE, "wb") as handle:
        network.voltages.to_parquet(handle, index=False)


def power_flow_folder(
    results_dir, progress: Progress | None = None, engine: Engine | str | None = None
) -> pd.DataFrame:
    """Power flows of every interval of a solved feeder day: writes network.csv, voltages.parquet,
    lines.csv and summary.json's ``network`` (the folder is updated whole,
    ``lec_opt.io.results_folder.writing``); returns network.csv's table.

    The CES dispatch is the aggregator's chosen path (intervals.csv); the load, PV and EV demand
    come from the scenario's data, as the day was solved. ``engine``: default the scenario's.
    """
    res = load_day_results(results_dir)
    day = res.day
    scenario = day.scenario
    if scenario.community.topology != "feeder":
        raise LecOptError(f"{res.dir}: a ring community has no feeder to run a power flow on (community.topology)")
    engine = Engine(engine or scenario.network.engine)
    feeder = ready_feeder(scenario, day, engine)
    iv = res.intervals
    network = day_flows(
        feeder,
        day,
        iv.ces_charge_kwh.to_numpy(float),
        iv.ces_discharge_kwh.to_numpy(float),
        scenario.network.load_power_factor,
        engine,
        progress,
        curtailed_kwh=curtailment_of(res.dir, day.n_intervals, day.n_peers),
    )
    summary = read_summary(Path(res.dir) / SUMMARY_FILE)
    summary["network"] = {"engine": str(engine), **network_totals(network.intervals)}
    with writing(res.dir, update=True, command="python: lec_opt.network.power_flow_folder") as folder:
        write_day_network(folder, network)
        write_json(folder / SUMMARY_FILE, summary)
    return network.intervals
