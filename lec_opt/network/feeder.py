"""A community on a distribution feeder: peers mapped to the feeder's loads, and cable distances.

``community.topology = "feeder"`` puts peer k on the feeder load ``network.loads[k - 1]`` (by
default the feeder's loads in order: LOAD1 = peer 1 on the IEEE European LV Test Feeder), on that
load's bus and phase. The distance between two peers is the length in metres of the cable path
between their buses (pandapower's topology graph weighted by ``length_km``; transformers and
closed bus-bus switches count 0 m); on a radial feeder it is the one path, on a meshed network the
shortest (models/FORMULATION.md §11). The built-in feeder ships with pandapower: nothing is
downloaded. pandapower is imported only here and in ``lec_opt.network.powerflow``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from lec_opt.errors import InputError, LecOptError
from lec_opt.scenario.network import Network
from lec_opt.scenario.schema import Scenario

PHASES = ("a", "b", "c")
BALANCED = "abc"  # a three-phase (balanced) load, or one whose phase the file does not tell


def _pandapower():
    try:
        import pandapower
    except ImportError:  # pragma: no cover - the message is the point
        raise LecOptError('community.topology = "feeder" needs pandapower: pip install "lec-opt[network]"') from None
    return pandapower


# The IEEE European LV Test Feeder's source as its definition gives it (OpenDSS: Vsource BasekV=11
# pu=1.05 ISC3=3000 ISC1=5, with OpenDSS's X1/R1 = 4 and X0/R0 = 3): Z1 = 11² / (√3·11·3 kA) ohm
# = 0.51344 + j2.0537 ohm and Z0 = 1203.7 + j3611 ohm at 11 kV (models/FORMULATION.md §11)
IEEE_SOURCE_Z1_OHM = complex(0.51344, 2.0537)
IEEE_SOURCE_Z0_OHM = complex(1203.7, 3611.0)
SOURCE_LINE = "source impedance"  # the line that carries it; not a cable of the feeder
IDEAL_SOURCE_MVA = 1e6


def _ieee_source_as_defined(net):
    """pandapower's copy of the feeder puts a 10 GVA source at the 11 kV bus. The definition's
    57 MVA source goes in as an impedance (a 1 km line of Z1 and Z0, zero capacitance) between an
    ideal source and that bus, so that every engine sees it in all three sequences."""
    pp = _pandapower()
    grid = net.ext_grid.index[0]
    bus = int(net.ext_grid.at[grid, "bus"])
    ideal = pp.create_bus(net, net.bus.at[bus, "vn_kv"], name="source")
    net.ext_grid.at[grid, "bus"] = ideal
    for column in ("s_sc_max_mva", "s_sc_min_mva"):
        net.ext_grid.at[grid, column] = IDEAL_SOURCE_MVA
    z1, z0 = IEEE_SOURCE_Z1_OHM, IEEE_SOURCE_Z0_OHM
    pp.create_line_from_parameters(
        net, ideal, bus, 1.0, r_ohm_per_km=z1.real, x_ohm_per_km=z1.imag, c_nf_per_km=0.0, max_i_ka=1.0,
        r0_ohm_per_km=z0.real, x0_ohm_per_km=z0.imag, c0_nf_per_km=0.0, name=SOURCE_LINE,
    )  # fmt: skip
    return net


@lru_cache(maxsize=4)
def _read_net(source: str | None, file: str | None, stamp: tuple[int, int] | None):
    """The feeder as shipped or as saved (cached by file size and modification time); never modify it."""
    pp = _pandapower()
    if source == "ieee_european_lv":
        import pandapower.networks as pn

        return _ieee_source_as_defined(pn.ieee_european_lv_asymmetric("on_peak_566"))
    try:
        return pp.from_json(file)
    except Exception as err:  # pandapower raises many kinds on a bad file; all are the user's input
        raise InputError(file, f"not a pandapower network saved with pandapower.to_json ({err})") from None


def _net_key(network: Network, where: str) -> tuple[str | None, str | None, tuple[int, int] | None]:
    if network.file is None:
        return network.source, None, None
    path = Path(network.file)
    if not path.is_file():
        raise InputError(where, f"network file {path} not found", field="network.file")
    stat = path.stat()
    return None, str(path), (stat.st_size, stat.st_mtime_ns)


def read_network(network: Network, where: str):
    """The pandapower network a ``[network]`` section names (shared and cached: copy before changing it)."""
    return _read_net(*_net_key(network, where))


@dataclass(frozen=True)
class FeederLoad:
    """One load of the feeder: its table (asymmetric_load or load), row, name, bus and phase."""

    table: str
    index: int
    name: str
    bus: int
    phase: str  # a, b, c, or abc


def feeder_loads(net) -> list[FeederLoad]:
    """The feeder's in-service loads in order: asymmetric loads (single-phase customers) first, then loads.

    A single-phase customer's phase is the one phase with a non-zero power in the file; a load
    with none or several is taken as balanced over the three phases.
    """
    out = []
    table = net.asymmetric_load
    for idx, row in table[table.in_service.astype(bool)].iterrows():
        used = [ph for ph in PHASES if row[f"p_{ph}_mw"] != 0 or row[f"q_{ph}_mvar"] != 0]
        phase = used[0] if len(used) == 1 else BALANCED
        out.append(FeederLoad("asymmetric_load", int(idx), str(row["name"]), int(row["bus"]), phase))
    table = net.load
    for idx, row in table[table.in_service.astype(bool)].iterrows():
        out.append(FeederLoad("load", int(idx), str(row["name"]), int(row["bus"]), BALANCED))
    return out


@dataclass(frozen=True)
class Feeder:
    """A community placed on a feeder: each peer's load, bus and phase, the CES and EV buses, distances."""

    net: Any  # the pandapower network as read (shared: copy before changing it)
    name: str  # the built-in's name or the file
    peer_loads: tuple[FeederLoad, ...]  # peer k = peer_loads[k - 1]
    ces_bus: int  # bus index
    ev_buses: tuple[int, ...]  # one bus index per EV charger
    distance_m: np.ndarray  # [peer - 1, peer - 1], cable metres

    @property
    def n_peers(self) -> int:
        """Number of peers on the feeder."""
        return len(self.peer_loads)

    @property
    def peer_bus(self) -> np.ndarray:
        """Each peer's bus index, in peer order."""
        return np.array([ld.bus for ld in self.peer_loads], dtype=int)

    def bus_name(self, bus: int) -> str:
        """The bus's name in the network."""
        return str(self.net.bus.at[bus, "name"])

    def bus_xy(self, bus: int) -> tuple[float, float]:
        """A bus's coordinates from the feeder's geodata (NaN when the file has none)."""
        return bus_coordinates(self.net).get(int(bus), (float("nan"), float("nan")))

    def info(self) -> dict:
        """What ``lec-opt network info --json`` prints."""
        peers = []
        for k, ld in enumerate(self.peer_loads, start=1):
            x, y = self.bus_xy(ld.bus)
            peers.append({"peer": k, "load": ld.name, "bus": self.bus_name(ld.bus), "phase": ld.phase, "x": x, "y": y})
        return {
            "feeder": self.name,
            "peers": peers,
            "ces_bus": self.bus_name(self.ces_bus),
            "ev_buses": [self.bus_name(b) for b in self.ev_buses],
            "distance_m": self.distance_m.tolist(),
        }


def bus_coordinates(net) -> dict[int, tuple[float, float]]:
    """Bus index -> (x, y) from pandapower's GeoJSON ``bus.geo`` column (buses without one are left out)."""
    out = {}
    if "geo" not in net.bus:
        return out
    for idx, geo in net.bus.geo.items():
        if isinstance(geo, str) and geo:
            x, y = json.loads(geo)["coordinates"][:2]
            out[int(idx)] = (float(x), float(y))
    return out


def _bus_index(net, name: str, where: str, field: str) -> int:
    names = net.bus.name.astype(str)
    hits = np.flatnonzero(names.to_numpy() == name)
    if len(hits) == 1:
        return int(net.bus.index[hits[0]])
    if len(hits) > 1:
        raise InputError(where, f"bus name {name!r} is not unique in the feeder ({len(hits)} buses)", field=field)
    close = difflib.get_close_matches(name, names.tolist(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InputError(where, f"no bus named {name!r} in the feeder{hint}", field=field)


def cable_distances_m(net, buses: np.ndarray) -> np.ndarray:
    """Metres of cable between every two of ``buses`` (pandapower's topology graph, Dijkstra on length_km)."""
    import networkx as nx
    import pandapower.topology as top

    graph = top.create_nxgraph(net, calc_branch_impedances=False)
    unique = sorted({int(b) for b in buses})
    km = {}
    for b in unique:
        km[b] = nx.single_source_dijkstra_path_length(graph, b, weight="weight")
    out = np.empty((len(buses), len(buses)))
    for a, ba in enumerate(buses):
        reach = km[int(ba)]
        for c, bc in enumerate(buses):
            if int(bc) not in reach:
                names = net.bus.name.get(int(ba), int(ba)), net.bus.name.get(int(bc), int(bc))
                raise LecOptError(f"buses {names[0]!r} and {names[1]!r} are not connected in the feeder")
            out[a, c] = 1000.0 * float(reach[int(bc)])
    return out


def load_feeder(scenario: Scenario, n_peers: int, n_chargers: int | None = None) -> Feeder:
    """Place the scenario's ``n_peers`` peers (and ``n_chargers`` EV chargers) on its feeder; checked before any solve."""
    network = scenario.network
    if scenario.community.topology != "feeder" or network is None:
        raise LecOptError(f"{scenario.source}: community.topology is not 'feeder'; there is no network to place")
    key = _net_key(network, scenario.origin("network.file") if network.file else scenario.origin("network"))
    net = _read_net(*key)
    loads = feeder_loads(net)
    if network.loads is None:
        if n_peers > len(loads):
            raise InputError(
                scenario.origin("community"),
                f"{n_peers} peers but the feeder has {len(loads)} loads; give fewer peers or list network.loads",
                field="community.n_peers",
            )
        chosen = loads[:n_peers]
    else:
        if len(network.loads) != n_peers:
            raise InputError(
                scenario.origin("network.loads"),
                f"lists {len(network.loads)} loads for {n_peers} peers (one load per peer)",
                field="network.loads",
            )
        by_name: dict[str, FeederLoad] = {}
        for ld in loads:
            by_name.setdefault(ld.name, ld)
        missing = [name for name in network.loads if name not in by_name]
        if missing:
            close = difflib.get_close_matches(missing[0], list(by_name), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(
                scenario.origin("network.loads"),
                f"no load named {missing[0]!r} in the feeder{hint}",
                field="network.loads",
            )
        chosen = [by_name[name] for name in network.loads]
    if network.ces_bus is not None:
        ces_bus = _bus_index(net, network.ces_bus, scenario.origin("network.ces_bus"), "network.ces_bus")
    elif len(net.trafo):
        ces_bus = int(net.trafo.lv_bus.iloc[0])
    else:
        ces_bus = int(net.ext_grid.bus.iloc[0])
    if network.ev_buses is None:
        ev_buses = (ces_bus,) * (n_chargers or 0)
    else:
        if n_chargers is not None and len(network.ev_buses) != n_chargers:
            raise InputError(
                scenario.origin("network.ev_buses"),
                f"lists {len(network.ev_buses)} buses for {n_chargers} EV chargers (one bus per charger)",
                field="network.ev_buses",
            )
        ev_buses = tuple(
            _bus_index(net, name, scenario.origin("network.ev_buses"), "network.ev_buses") for name in network.ev_buses
        )
    _check_supplied(net, [ld.bus for ld in chosen] + [ces_bus, *ev_buses], scenario.origin("network"))
    distances = _distances(net, key, tuple(ld.bus for ld in chosen))
    name = network.source or str(network.file)
    return Feeder(net, name, tuple(chosen), ces_bus, ev_buses, distances)


def _check_supplied(net, buses: list[int], where: str) -> None:
    """InputError naming the community's buses that no source supplies (an island, an open line)."""
    from lec_opt.network.checks import unsupplied_buses

    cut_off = unsupplied_buses(net, buses)
    if cut_off:
        names = ", ".join(repr(str(net.bus.name.get(b, b))) for b in cut_off[:8])
        raise InputError(
            where, f"no source supplies the buses {names} where the community has loads (an island)", field="network"
        )


_DISTANCE_CACHE: dict[tuple, np.ndarray] = {}


def _distances(net, key: tuple, buses: tuple[int, ...]) -> np.ndarray:
    """Cable distances between ``buses``, computed once per feeder file and peer placement."""
    if (key, buses) not in _DISTANCE_CACHE:
        distances = cable_distances_m(net, np.array(buses, dtype=int))
        distances.setflags(write=False)
        _DISTANCE_CACHE[(key, buses)] = distances
    return _DISTANCE_CACHE[(key, buses)]
