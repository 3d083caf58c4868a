"""The power-flow engines and what every one of them returns (models/FORMULATION.md §11).

Two engines solve the same unbalanced three-phase Newton-Raphson flow on the same network:

- ``power-grid-model`` (the default): the feeder converted once (power-grid-model-io's pandapower
  converter), then one batch call over all intervals of a run;
- ``pandapower``: ``runpp_3ph`` interval by interval, the engine the network comes from.

Both take the community's ``BusPowers`` and return ``FlowResults``: arrays over intervals of every
bus-phase voltage, every line's loading, the transformers' loading and what the feeder takes from
its source. A flow that does not converge is marked (``converged`` false, NaN values), not raised.
"""

from __future__ import annotations

import copy
import importlib.util
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from lec_opt.errors import LecOptError
from lec_opt.network.bus_powers import BusPowers, connection_rows
from lec_opt.network.feeder import SOURCE_LINE, Feeder

NO_MAGNETISING_MAG0_PERCENT = 1e6  # pandapower's zero-sequence magnetising impedance, x short-circuit: none


class Engine(StrEnum):
    """Which library solves the flows (``[network] engine``, ``--engine``)."""

    POWER_GRID_MODEL = "power-grid-model"
    PANDAPOWER = "pandapower"


@dataclass(frozen=True)
class FlowResults:
    """Flows of a run of intervals; NaN where a flow did not converge.

    ``v_pu``/``v_angle_rad``: [interval, bus, phase] over ``Flow.buses`` (every in-service bus
    but the source's); ``line_loading_percent``: [interval, line] (current over rated current,
    highest phase); ``trafo_loading_percent``: the most loaded transformer; ``source_kw``: what the
    feeder takes from its source (three phases).
    """

    converged: np.ndarray
    v_pu: np.ndarray
    v_angle_rad: np.ndarray
    line_loading_percent: np.ndarray
    trafo_loading_percent: np.ndarray
    source_kw: np.ndarray


class Flow(Protocol):
    """A feeder prepared for flows: the community's loads in place of the feeder's own."""

    buses: np.ndarray  # pandapower bus indices, the order of FlowResults' bus axis
    lines: np.ndarray  # pandapower line indices, the order of FlowResults' line axis

    def solve(self, powers: BusPowers) -> FlowResults:
        """The flows of every interval of ``powers``."""
        ...


def community_net(feeder: Feeder):
    """A copy of the feeder's network with its own loads and generators replaced by one asymmetric
    load per ``connection_rows`` row (rows in order, zero power), and pandapower's zero-sequence
    magnetising branch removed where the transformer has no magnetising branch at all.

    Returns (net, the rows' asymmetric_load indices, the buses and the lines flows report on:
    every in-service bus but the source's, every line but the source's impedance).
    """
    import pandapower as pp

    net = copy.deepcopy(feeder.net)
    for table in ("load", "asymmetric_load", "sgen", "asymmetric_sgen", "storage", "gen"):
        if table in net and len(net[table]):
            net[table].drop(net[table].index, inplace=True)
    rows = np.array([pp.create_asymmetric_load(net, bus, name=name) for name, bus, _ in connection_rows(feeder)])
    if len(net.trafo) and "mag0_percent" in net.trafo:
        # i0 = 0 and no iron losses: the transformer has only its leakage impedance (the IEEE LV
        # feeder's definition), so no zero-sequence magnetising branch either (pandapower's copy
        # of the feeder sets mag0_percent = 100, which power-grid-model does not model)
        bare = (net.trafo.i0_percent == 0) & (net.trafo.pfe_kw == 0)
        net.trafo.loc[bare, "mag0_percent"] = NO_MAGNETISING_MAG0_PERCENT
    slack = {int(b) for b in net.ext_grid.bus}
    buses = np.array([b for b in net.bus.index if int(b) not in slack and net.bus.at[b, "in_service"]], dtype=int)
    lines = np.array(net.line.index[net.line.name.astype(str) != SOURCE_LINE], dtype=int)
    return net, rows, buses, lines


def open_flow(feeder: Feeder, engine: Engine | str = Engine.POWER_GRID_MODEL) -> Flow:
    """The feeder prepared for ``engine``'s flows."""
    engine = Engine(engine)
    if engine is Engine.POWER_GRID_MODEL:
        if importlib.util.find_spec("power_grid_model_io") is None:
            raise LecOptError(
                "the power-grid-model engine needs power-grid-model and power-grid-model-io: "
                "pip install 'lec-opt[network]' (or choose engine = \"pandapower\")"
            )
        from lec_opt.network.engine_pgm import PgmFlow

        return PgmFlow(feeder)
    from lec_opt.network.engine_pandapower import PandapowerFlow

    return PandapowerFlow(feeder)


def empty_results(n_intervals: int, n_buses: int, n_lines: int) -> FlowResults:
    """Results with nothing converged yet (NaN everywhere), for an engine to fill."""
    nan = np.full
    return FlowResults(
        converged=np.zeros(n_intervals, dtype=bool),
        v_pu=nan((n_intervals, n_buses, 3), np.nan),
        v_angle_rad=nan((n_intervals, n_buses, 3), np.nan),
        line_loading_percent=nan((n_intervals, n_lines), np.nan),
        trafo_loading_percent=nan(n_intervals, np.nan),
        source_kw=nan(n_intervals, np.nan),
    )
