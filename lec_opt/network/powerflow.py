"""A power flow of every interval of a solved day on its feeder (models/FORMULATION.md §11).

Each interval's bus injections are mean powers over the interval: every peer's household load
minus its PV at its bus, on its phase (single-phase customers) or spread over three phases; the
CES's charge minus discharge at the CES bus and each EV charger's demand at its bus, both
balanced over three phases. pandapower's unbalanced three-phase Newton-Raphson
(``runpp_3ph``) solves the interval. P2P trades do not appear: they move money, not electrons
(a peer's bus sees load - PV whoever it trades with), so for a given CES dispatch the flows are
the same under priorities A, B and C.

Reported per interval (``network.csv``): the lowest and highest phase voltage (p.u.) and where,
the worst voltage unbalance (negative/positive sequence, %), the highest line loading and the
transformer loading (%), losses (kWh: what the feeder takes from its source minus what its loads
take), the feeder's import (kWh), and the buses outside EN 50160's 0.9-1.1 p.u. on any phase.
Voltages are over every bus except the source (ext_grid) buses, whose voltage is fixed. A flow
that does not converge is recorded (``converged`` false, no values) and the day goes on.
"""

from __future__ import annotations

import copy
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.errors import LecOptError
from lec_opt.io.atomic import write_csv, write_json
from lec_opt.io.results import load_day_results, read_summary
from lec_opt.io.results_folder import writing
from lec_opt.network.feeder import BALANCED, PHASES, Feeder, load_feeder

# pandapower's optional accelerator (same results, 1.1x on the IEEE feeder): asked for only when
# installed, so that pandapower does not print its "please install numba" warning at every flow
_NUMBA = importlib.util.find_spec("numba") is not None

EN50160_BAND_PU = (0.90, 1.10)
NETWORK_FILE = "network.csv"
COLUMNS = (
    "interval",
    "time",
    "converged",
    "v_min_pu",
    "v_min_bus",
    "v_min_phase",
    "v_max_pu",
    "v_max_bus",
    "v_max_phase",
    "unbalance_max_percent",
    "unbalance_bus",
    "line_loading_max_percent",
    "line_max",
    "trafo_loading_percent",
    "losses_kwh",
    "feeder_import_kwh",
    "buses_outside_en50160",
)


@dataclass(frozen=True)
class Injections:
    """Mean powers of one interval, kW (consumption positive): per peer, the CES, per EV charger."""

    peer_p_kw: np.ndarray  # load - PV
    peer_q_kvar: np.ndarray  # load * tan(phi)
    ces_kw: float  # charge - discharge
    ev_kw: np.ndarray


def injections(
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    ces_charge_kwh: float,
    ces_discharge_kwh: float,
    ev_kwh: np.ndarray,
    hours: float,
    power_factor: float,
) -> Injections:
    """An interval's energies (kWh) as mean powers at the buses (kW, kvar)."""
    tan_phi = math.tan(math.acos(power_factor))
    return Injections(
        peer_p_kw=(np.asarray(load_kwh, float) - np.asarray(pv_kwh, float)) / hours,
        peer_q_kvar=np.asarray(load_kwh, float) * tan_phi / hours,
        ces_kw=(ces_charge_kwh - ces_discharge_kwh) / hours,
        ev_kw=np.asarray(ev_kwh, float) / hours,
    )


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


class FeederFlow:
    """The feeder prepared for a day's flows: its own loads and generators replaced by the community's.

    One asymmetric load per peer (on its phase), one for the CES and one per EV charger (balanced).
    """

    def __init__(self, feeder: Feeder):
        import pandapower as pp

        self._pp = pp
        self.feeder = feeder
        net = copy.deepcopy(feeder.net)
        for table in ("load", "asymmetric_load", "sgen", "asymmetric_sgen", "storage", "gen"):
            if table in net and len(net[table]):
                net[table].drop(net[table].index, inplace=True)
        self.peer_rows = np.array(
            [pp.create_asymmetric_load(net, ld.bus, name=f"peer_{k}") for k, ld in enumerate(feeder.peer_loads, 1)]
        )
        self.peer_phase = [ld.phase for ld in feeder.peer_loads]
        self.ces_row = pp.create_asymmetric_load(net, feeder.ces_bus, name="ces")
        self.ev_rows = np.array(
            [pp.create_asymmetric_load(net, b, name=f"ev_{k}") for k, b in enumerate(feeder.ev_buses, 1)], dtype=int
        )
        slack = set(int(b) for b in net.ext_grid.bus)
        self.buses = np.array([b for b in net.bus.index if int(b) not in slack and net.bus.at[b, "in_service"]])
        self.bus_names = net.bus.name.astype(str).reindex(self.buses).to_numpy()
        self.net = net
        self._connected = False

    def _set(self, inj: Injections) -> None:
        table = self.net.asymmetric_load
        n = len(table)
        p = {ph: np.zeros(n) for ph in PHASES}
        q = {ph: np.zeros(n) for ph in PHASES}
        pos = {row: i for i, row in enumerate(table.index)}
        for row, phase, pk, qk in zip(self.peer_rows, self.peer_phase, inj.peer_p_kw, inj.peer_q_kvar):
            on = PHASES if phase == BALANCED else (phase,)
            for ph in on:
                p[ph][pos[row]] += pk / 1000.0 / len(on)
                q[ph][pos[row]] += qk / 1000.0 / len(on)
        for row, kw in ((self.ces_row, inj.ces_kw), *zip(self.ev_rows, inj.ev_kw)):
            for ph in PHASES:
                p[ph][pos[row]] += kw / 1000.0 / 3
        for ph in PHASES:
            table[f"p_{ph}_mw"] = p[ph]
            table[f"q_{ph}_mvar"] = q[ph]

    def run(self, inj: Injections, hours: float) -> dict:
        """Solve one interval; returns the row of network.csv (without interval and time)."""
        self._set(inj)
        try:
            # flat start: every interval is a function of its own injections only (no history);
            # connectivity is checked until a flow finds every bus supplied (the structure is fixed)
            self._pp.runpp_3ph(self.net, init="flat", check_connectivity=not self._connected, numba=_NUMBA)
        except self._pp.powerflow.LoadflowNotConverged:
            return {"converged": False}
        if not self.net.res_bus_3ph.loc[self.buses, "vm_a_pu"].notna().any():
            return {"converged": False}  # a flow that gives no voltage at all has not converged either
        if not self._connected:
            self._connected = bool(self.net.res_bus_3ph.vm_a_pu.notna().all())
        return self._row(hours)

    def _row(self, hours: float) -> dict:
        net = self.net
        res = net.res_bus_3ph.loc[self.buses]
        vm = res[[f"vm_{ph}_pu" for ph in PHASES]].to_numpy()
        low = np.unravel_index(np.nanargmin(vm), vm.shape)
        high = np.unravel_index(np.nanargmax(vm), vm.shape)
        unbalance = res["unbalance_percent"].to_numpy()
        worst_u = int(np.nanargmax(unbalance))
        lo, hi = EN50160_BAND_PU
        outside = int(np.sum(np.any((vm < lo) | (vm > hi), axis=1)))
        row = {
            "converged": True,
            "v_min_pu": float(vm[low]),
            "v_min_bus": self.bus_names[low[0]],
            "v_min_phase": PHASES[low[1]],
            "v_max_pu": float(vm[high]),
            "v_max_bus": self.bus_names[high[0]],
            "v_max_phase": PHASES[high[1]],
            "unbalance_max_percent": float(unbalance[worst_u]),
            "unbalance_bus": self.bus_names[worst_u],
        }
        if len(net.line):
            loading = net.res_line_3ph.loading_percent.to_numpy()
            worst = int(np.nanargmax(loading))
            row["line_loading_max_percent"] = float(loading[worst])
            row["line_max"] = str(net.line.name.iloc[worst])
        row["trafo_loading_percent"] = float(net.res_trafo_3ph.loading_percent.max()) if len(net.trafo) else np.nan
        grid = net.res_ext_grid_3ph
        source_mw = float(grid[[f"p_{ph}_mw" for ph in PHASES]].to_numpy().sum())
        loads_mw = float(net.asymmetric_load[[f"p_{ph}_mw" for ph in PHASES]].to_numpy().sum())
        row["losses_kwh"] = (source_mw - loads_mw) * 1000.0 * hours
        row["feeder_import_kwh"] = source_mw * 1000.0 * hours
        row["buses_outside_en50160"] = outside
        return row


Progress = Callable[[int, int], None]


def day_flows(
    feeder: Feeder,
    day,
    ces_charge_kwh: np.ndarray,
    ces_discharge_kwh: np.ndarray,
    power_factor: float,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """A power flow of every interval of ``day`` (``DayInputs``) with the given CES dispatch: network.csv's rows."""
    flow = FeederFlow(feeder)
    ev = day.ev_charger_kwh if day.ev_charger_kwh is not None else day.ev_kwh[:, None]
    if ev.shape[1] != len(feeder.ev_buses):
        raise ValueError(f"{ev.shape[1]} EV chargers but the feeder places {len(feeder.ev_buses)}")
    rows = []
    for t in range(day.n_intervals):
        inj = injections(
            day.load_kwh[t], day.pv_kwh[t], ces_charge_kwh[t], ces_discharge_kwh[t], ev[t], day.hours, power_factor
        )
        rows.append({"interval": t, "time": day.start(t), **flow.run(inj, day.hours)})
        if progress:
            progress(t + 1, day.n_intervals)
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def network_totals(frame: pd.DataFrame) -> dict:
    """Day totals of network.csv for summary.json's ``network`` key."""
    ok = frame[frame.converged.astype(bool)]

    def at(column: str, fn: str):
        if ok.empty or ok[column].isna().all():
            return None, None
        idx = getattr(ok[column], fn)()
        return float(ok.at[idx, column]), {"interval": int(ok.at[idx, "interval"]), "time": ok.at[idx, "time"]}

    v_min, v_min_at = at("v_min_pu", "idxmin")
    v_max, v_max_at = at("v_max_pu", "idxmax")
    line, line_at = at("line_loading_max_percent", "idxmax")
    trafo, trafo_at = at("trafo_loading_percent", "idxmax")
    unbalance, _ = at("unbalance_max_percent", "idxmax")
    return {
        "intervals": int(len(frame)),
        "failed_flows": int((~frame.converged.astype(bool)).sum()),
        "v_min_pu": v_min,
        "v_min_at": v_min_at,
        "v_max_pu": v_max,
        "v_max_at": v_max_at,
        "unbalance_max_percent": unbalance,
        "line_loading_max_percent": line,
        "line_loading_max_at": line_at,
        "trafo_loading_max_percent": trafo,
        "trafo_loading_max_at": trafo_at,
        "losses_kwh": float(ok.losses_kwh.sum()),
        "feeder_import_kwh": float(ok.feeder_import_kwh.sum()),
        "intervals_outside_en50160": int((ok.buses_outside_en50160 > 0).sum()),
        "bus_intervals_outside_en50160": int(ok.buses_outside_en50160.sum()),
    }


def worst_interval(frame: pd.DataFrame) -> int | None:
    """The interval furthest from 1 p.u. (lowest minimum or highest maximum voltage); None if none converged."""
    ok = frame[frame.converged.astype(bool)]
    if ok.empty:
        return None
    deviation = np.maximum(1.0 - ok.v_min_pu.to_numpy(), ok.v_max_pu.to_numpy() - 1.0)
    return int(ok.interval.iloc[int(np.argmax(deviation))])


def placed_feeder(scenario, day=None) -> tuple[Feeder, object]:
    """The scenario's feeder with its peers and EV chargers placed, and the ``DayInputs`` that gave
    their numbers (``day``, or built from the scenario's data)."""
    from lec_opt.market.snapshot import build_day

    day = day if day is not None else build_day(scenario)
    n_chargers = day.ev_charger_kwh.shape[1] if day.ev_charger_kwh is not None else 1
    return load_feeder(scenario, day.n_peers, n_chargers), day


def ready_feeder(scenario, day=None) -> Feeder:
    """The scenario's feeder with the community placed, checked for the unbalanced flow (every datum
    it needs, no island under the community's buses) and one trial flow run; before any work.
    ``day``: the ``DayInputs`` (default: built from the scenario's data)."""
    from lec_opt.network.checks import check_feeder_for_flows, trial_flow

    feeder, day = placed_feeder(scenario, day)
    network = scenario.network
    check_feeder_for_flows(feeder, scenario.origin("network.file" if network.file else "network"))
    trial_flow(feeder, day.hours)
    return feeder


def power_flow_folder(results_dir, progress: Progress | None = None) -> pd.DataFrame:
    """Power flows of every interval of a solved feeder day: writes network.csv and summary.json's ``network``
    (the folder is updated whole, ``lec_opt.io.results_folder.writing``).

    The CES dispatch is the aggregator's chosen path (intervals.csv); the load, PV and EV demand
    come from the scenario's data, as the day was solved.
    """
    res = load_day_results(results_dir)
    day = res.day
    scenario = day.scenario
    if scenario.community.topology != "feeder":
        raise LecOptError(f"{res.dir}: a ring community has no feeder to run a power flow on (community.topology)")
    feeder = ready_feeder(scenario, day)
    iv = res.intervals
    frame = day_flows(
        feeder,
        day,
        iv.ces_charge_kwh.to_numpy(float),
        iv.ces_discharge_kwh.to_numpy(float),
        scenario.network.load_power_factor,
        progress,
    )
    summary = read_summary(Path(res.dir) / "summary.json")
    summary["network"] = network_totals(frame)
    with writing(res.dir, update=True, command="python: lec_opt.network.power_flow_folder") as folder:
        write_csv(folder / NETWORK_FILE, frame, float_format="%.9g")
        write_json(folder / "summary.json", summary)
    return frame
