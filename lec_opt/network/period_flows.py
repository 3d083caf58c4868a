"""Power flows of a run of days on one feeder (``solve-period --power-flow``, sweep points).

The feeder is checked and converted once (``FeederFlows``); each walked day then gets the flows
of its chosen CES dispatch (``lec_opt.network.powerflow.day_flows``): its network.csv rows, its
peers' voltages and its lines' peaks, tagged with the date, and its row of network columns for
days.csv (``lec_opt.network.tables.day_network_columns``).
"""

from __future__ import annotations

import numpy as np

from lec_opt.network.engine import Engine, open_flow
from lec_opt.network.powerflow import DayNetwork, day_flows, ready_feeder


class FeederFlows:
    """A scenario's feeder ready for many days' flows: checked, trial-flowed and converted once."""

    def __init__(self, scenario, day):
        """``day``: any ``DayInputs`` of the run (it places the peers and chargers); the engine is
        the scenario's ``network.engine``."""
        self.engine = Engine(scenario.network.engine)
        self.feeder = ready_feeder(scenario, day, self.engine)
        self.flow = open_flow(self.feeder, self.engine)
        self.power_factor = scenario.network.load_power_factor

    def day(self, day, run) -> DayNetwork:
        """The flows of every interval of a walked day (``DayRun``'s chosen CES dispatch, and each
        peer's curtailment when the day kept the network's limits)."""
        charge = np.array([s.result.ces_charge_kwh for s in run.steps])
        discharge = np.array([s.result.ces_discharge_kwh for s in run.steps])
        kept = run.steps and run.steps[0].network is not None
        curtailed = np.array([s.network.curtailed_kwh for s in run.steps]) if kept else None
        return day_flows(
            self.feeder, day, charge, discharge, self.power_factor, self.engine, flow=self.flow, curtailed_kwh=curtailed
        )
