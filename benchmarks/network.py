"""Power flows of a feeder day: the two engines against the greedy day, and the CES bus.

Runs ``models/ieee_lv_feeder.toml`` (55 peers on the IEEE European LV Test Feeder, 5-min
intervals): the greedy day's own time, then the 288 three-phase flows of its chosen path with
power-grid-model (one batch) and with pandapower (``runpp_3ph`` interval by interval), in one run,
so that their ratio holds on any machine; and the same day with the CES at the transformer (bus 1),
mid-feeder (bus 452, 140 m) and at its far end (bus 882, 296 m): how the noon voltage rise and the
evening minimum move with it. Then the network's limits on the high-PV feeder
(``benchmarks.network_limits``): the enforced day against the limits-off day, both with flows.
"""

from __future__ import annotations

import json
import time

import numpy as np

from benchmarks.common import save
from benchmarks.network_limits import limits_case
from benchmarks.network_limits import report as limits_report
from lec_opt.day.run import run_day
from lec_opt.io.shipped import MODELS_DIR
from lec_opt.network.engine import Engine
from lec_opt.network.feeder import load_feeder
from lec_opt.network.powerflow import day_flows
from lec_opt.network.tables import network_totals
from lec_opt.scenario import load_scenario

SCENARIO = MODELS_DIR / "ieee_lv_feeder.toml"
CES_BUSES = ("1", "452", "882")


def _flows(scenario, run, engine: Engine = Engine.POWER_GRID_MODEL) -> tuple[float, dict, object]:
    day = run.day
    feeder = load_feeder(scenario, day.n_peers, day.ev_charger_kwh.shape[1])
    charge = np.array([s.result.ces_charge_kwh for s in run.steps])
    discharge = np.array([s.result.ces_discharge_kwh for s in run.steps])
    start = time.perf_counter()
    frame = day_flows(feeder, day, charge, discharge, scenario.network.load_power_factor, engine).intervals
    return time.perf_counter() - start, network_totals(frame), frame


def _window(frame, lo: str, hi: str, column: str, fn) -> float:
    rows = frame[(frame.time >= lo) & (frame.time < hi)]
    return float(fn(rows[column]))


def run() -> dict:
    scenario = load_scenario(SCENARIO)
    start = time.perf_counter()
    day_run = run_day(scenario, "greedy")
    greedy_s = time.perf_counter() - start
    per_engine = {}
    for engine in Engine:
        _flows(scenario, day_run, engine)  # warm: imports, the conversion's first calls
        per_engine[engine.value] = _flows(scenario, day_run, engine)[0]
    ces = {}
    for bus in CES_BUSES:
        sc = scenario.model_copy(update={"network": scenario.network.model_copy(update={"ces_bus": bus})})
        r = run_day(sc, "greedy")
        _, totals, frame = _flows(sc, r)
        ces[bus] = {
            "noon_v_max_pu": _window(frame, "10:00", "14:00", "v_max_pu", np.max),
            "evening_v_min_pu": _window(frame, "17:00", "22:00", "v_min_pu", np.min),
            "day_v_min_pu": totals["v_min_pu"],
            "day_v_max_pu": totals["v_max_pu"],
            "line_loading_max_percent": totals["line_loading_max_percent"],
            "trafo_loading_max_percent": totals["trafo_loading_max_percent"],
            "losses_kwh": totals["losses_kwh"],
        }
    return {
        "scenario": SCENARIO.name,
        "intervals": day_run.day.n_intervals,
        "greedy_day_s": greedy_s,
        "flows_s": per_engine,
        "ratio_flows_to_greedy_day": {k: v / greedy_s for k, v in per_engine.items()},
        "pandapower_over_power_grid_model": per_engine["pandapower"] / per_engine["power-grid-model"],
        "ces_bus": ces,
        "limits": limits_case(),
    }


def report(payload: dict) -> str:
    lines = [
        f"{payload['scenario']}: greedy day {payload['greedy_day_s']:.1f} s; {payload['intervals']} flows "
        + ", ".join(f"{k} {v:.2f} s" for k, v in payload["flows_s"].items())
        + f" (pandapower / power-grid-model x{payload['pandapower_over_power_grid_model']:.1f}); flows / greedy day "
        + ", ".join(f"{v:.1f}" for v in payload["ratio_flows_to_greedy_day"].values()),
        "CES bus: noon max V, evening min V, day min-max V (p.u.), max line loading %, losses kWh",
    ]
    for bus, c in payload["ces_bus"].items():
        lines.append(
            f"  {bus:>4}: {c['noon_v_max_pu']:.4f}  {c['evening_v_min_pu']:.4f}  "
            f"{c['day_v_min_pu']:.4f}-{c['day_v_max_pu']:.4f}  {c['line_loading_max_percent']:.1f}  {c['losses_kwh']:.2f}"
        )
    lines.append(limits_report(payload["limits"]))
    return "\n".join(lines)


def main() -> dict:
    payload = run()
    save("network", payload)
    print(report(payload))
    print(json.dumps(payload["flows_s"]))
    return payload
