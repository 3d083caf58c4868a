"""The power-grid-model engine: the community's feeder converted once, every run of intervals one batch.

power-grid-model's asymmetric Newton-Raphson solves each interval from the same flat start (no
interval depends on another), to a voltage mismatch of ``ERROR_TOLERANCE_PU``, the intervals
spread over the machine's threads (each is solved alone, so the results do not depend on how many:
1 and 2 threads give the same bits on the shipped day). pandapower stays the network's source:
power-grid-model-io's converter reads the same prepared network the pandapower engine solves.
"""

from __future__ import annotations

import logging

import numpy as np

from lec_opt.network.bus_powers import BusPowers
from lec_opt.network.engine import FlowResults, community_net, empty_results
from lec_opt.network.feeder import Feeder

ERROR_TOLERANCE_PU = 1e-10
MAX_ITERATIONS = 30


class PgmFlow:
    """The feeder as a power-grid-model, with the community's loads as its asymmetric loads."""

    def __init__(self, feeder: Feeder):
        import structlog.testing
        from power_grid_model import ComponentType, PowerGridModel
        from power_grid_model_io.converters import PandaPowerConverter

        net, rows, self.buses, self.lines = community_net(feeder)
        converter = PandaPowerConverter(log_level=logging.ERROR)
        with structlog.testing.capture_logs():  # its notes on pandapower-only zero-sequence fields
            data, _ = converter.load_input_data(net)  # (models/FORMULATION.md §11: what they would change)
        self._model = PowerGridModel(data)
        self._load_ids = np.array([converter.get_id("asymmetric_load", int(r)) for r in rows])
        nodes = np.array([converter.get_id("bus", int(b)) for b in self.buses])
        self._node_pos = self._model.get_indexer(ComponentType.node, nodes)
        lines = np.array([converter.get_id("line", int(i)) for i in self.lines])
        self._line_pos = self._model.get_indexer(ComponentType.line, lines) if len(lines) else np.zeros(0, int)
        source_lines = [converter.get_id("line", int(i)) for i in net.line.index.difference(self.lines)]
        self._source_line_pos = (
            self._model.get_indexer(ComponentType.line, np.array(source_lines)) if source_lines else np.zeros(0, int)
        )
        self._has_trafo = len(data.get(ComponentType.transformer, ())) > 0

    def _update(self, powers: BusPowers) -> dict:
        from power_grid_model import ComponentType, DatasetType, initialize_array

        update = initialize_array(
            DatasetType.update, ComponentType.asym_load, (powers.n_intervals, len(self._load_ids))
        )
        update["id"] = self._load_ids
        update["p_specified"] = powers.p_kw * 1000.0
        update["q_specified"] = powers.q_kvar * 1000.0
        return {ComponentType.asym_load: update}

    def solve(self, powers: BusPowers) -> FlowResults:
        """The flows of every interval of ``powers``, in one batch call."""
        from power_grid_model import CalculationMethod, ComponentType

        result = self._model.calculate_power_flow(
            symmetric=False,
            calculation_method=CalculationMethod.newton_raphson,
            error_tolerance=ERROR_TOLERANCE_PU,
            max_iterations=MAX_ITERATIONS,
            update_data=self._update(powers),
            threading=0,  # every hardware thread: the scenarios are independent, the results the same
            continue_on_batch_error=True,
        )
        out = empty_results(powers.n_intervals, len(self.buses), len(self.lines))
        failed = self._model.batch_error
        ok = np.ones(powers.n_intervals, dtype=bool)
        if failed is not None:
            ok[np.asarray(failed.failed_scenarios, dtype=int)] = False
        out.converged[:] = ok
        node = result[ComponentType.node][:, self._node_pos]
        out.v_pu[ok] = node["u_pu"][ok]
        out.v_angle_rad[ok] = node["u_angle"][ok]
        if len(self.lines):
            out.line_loading_percent[ok] = 100.0 * result[ComponentType.line]["loading"][:, self._line_pos][ok]
        if self._has_trafo:
            out.trafo_loading_percent[ok] = 100.0 * result[ComponentType.transformer]["loading"].max(axis=1)[ok]
        source_w = result[ComponentType.source]["p"].sum(axis=(1, 2))
        if len(self._source_line_pos):  # the feeder's import is at its supply point, after the source's impedance
            source_line = result[ComponentType.line][:, self._source_line_pos]
            source_w = source_w - (source_line["p_from"] + source_line["p_to"]).sum(axis=(1, 2))
        out.source_kw[ok] = source_w[ok] / 1000.0
        return out
