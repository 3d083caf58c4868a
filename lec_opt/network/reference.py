"""The IEEE European LV Test Feeder's own case: its 55 load profiles on their loads, minute by minute.

The test case as its definition gives it (models/FORMULATION.md §11): the built-in feeder with its
source, transformer and lines, Load_profile_k (1-minute kW) on LOADk as a constant-PQ load at
power factor 0.95, no PV, no EV chargers and no CES: 1440 flows. Its files are a day's network
files (network.csv, voltages.parquet, lines.csv), so that the feeder's import minute by minute and
the voltages at the on-peak minute can be set beside the test case's published solution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lec_opt.errors import InputError
from lec_opt.io.ieee import find_profiles, read_ieee_profile
from lec_opt.io.shipped import shipped_scenario
from lec_opt.network.bus_powers import bus_powers
from lec_opt.network.engine import Engine, open_flow
from lec_opt.network.feeder import load_feeder
from lec_opt.network.powerflow import DayNetwork, Progress, as_tables, solve_flows

FEEDER_SCENARIO = "ieee_lv_feeder.toml"
MINUTES = 1440
POWER_FACTOR = 0.95  # the test case's loads


def ieee_reference_day(
    loads_dir: str | Path, engine: Engine | str = Engine.POWER_GRID_MODEL, progress: Progress | None = None
) -> DayNetwork:
    """The flows of the test case's day: Load_profile_k on LOADk, every minute."""
    from lec_opt.scenario import load_scenario

    files = find_profiles(Path(loads_dir))
    scenario = load_scenario(shipped_scenario(FEEDER_SCENARIO))
    scenario = scenario.model_copy(update={"network": scenario.network.model_copy(update={"ev_buses": None})})
    feeder = load_feeder(scenario, scenario.community.n_peers, 0)  # no EV chargers
    if len(files) != feeder.n_peers:
        raise InputError(loads_dir, f"{len(files)} Load_profile files; the feeder has {feeder.n_peers} loads")
    load_kw = np.column_stack([read_ieee_profile(p) for p in files])  # [minute, load]
    hours = 1.0 / 60.0
    none = np.zeros(MINUTES)
    powers = bus_powers(
        feeder, load_kw * hours, np.zeros_like(load_kw), none, none, np.zeros((MINUTES, 0)), hours, POWER_FACTOR
    )
    flow = open_flow(feeder, engine)
    times = [f"{m // 60:02d}:{m % 60:02d}" for m in range(MINUTES)]
    return as_tables(feeder, flow, solve_flows(flow, powers, progress), powers, hours, times)
