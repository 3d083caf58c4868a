"""One sweep point, as a worker runs it: plain data in, plain data out.

A point is a whole day (``lec_opt.day.run.run_day`` with one process) summarised by
``lec_opt.day.outputs.summary``, or for a period scenario (``[period]`` with a start or more than
one day) the period (``lec_opt.period.run.run_period``, its matchings shared through the sweep's
``matchings/`` store by points that differ only in the CES), flattened to scalar metrics. The payload and the record are
plain data, so a point runs the same in-process, in a process pool or on a Dask worker.
"""

from __future__ import annotations

import copy
import tempfile
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lec_opt.io.schema import SummaryKey as K
from lec_opt.io.schema import alone_column, priority_count_column
from lec_opt.scenario import parse_scenario

LIMITS_COLUMNS = ("curtailed_kwh", "curtailed_percent_of_pv", "limits_cost_usd", "voltage_excess_max_pu")
_SUMMARY_DROPPED = {
    K.SCENARIO,
    K.METHOD,
    K.PRIORITY,
    K.INTERVALS,
    K.INTERVAL_MINUTES,
    K.PAPER,
    K.PRIORITY_COUNTS,
    K.SINGLE_PRIORITY_TOTALS,
    "clock",  # a period's
}


def flatten_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The day's summary as flat scalar metrics (priority counts and each priority alone flattened)."""
    out = {k: v for k, v in summary.items() if k not in _SUMMARY_DROPPED and not isinstance(v, (dict, list))}
    for p, count in summary.get(K.PRIORITY_COUNTS, {}).items():
        out[priority_count_column(p)] = count
    for p, totals in summary.get(K.SINGLE_PRIORITY_TOTALS, {}).items():
        out[alone_column(p, K.SCORE)] = totals[K.SCORE]
        out[alone_column(p, K.P2P_ENERGY)] = totals[K.P2P_ENERGY]
    out.update(summary.get("network", {}))  # a period's network columns, over its days
    limits = summary.get(K.NETWORK_LIMITS)
    if limits:  # a day that kept the network's limits: what it curtailed and what that cost
        out.update({key: limits[key] for key in LIMITS_COLUMNS})
        for status in ("residual", "infeasible"):
            out[f"network_intervals_{status}"] = limits["intervals"][status]
    return out


def point_metrics(scenario, summary: Mapping[str, Any]) -> dict[str, Any]:
    """A point's row of sweep.csv: the flat summary, and the sizing columns when its CES has a cost."""
    from lec_opt.analysis.sizing import sizing_metrics

    metrics = flatten_summary(summary)
    return {**metrics, **sizing_metrics(scenario, metrics)}


def run_point(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Solve one point's day: ``{"scenario", "source", "method", "priority", "keep"}`` -> a record.

    Never raises for a problem of the point itself: the record then has ``status = "error"``.
    With ``keep`` the day's files (``write_day``) come back as ``{name: bytes}`` under ``files``,
    so the driver writes them even when the worker is on another machine.
    """
    from lec_opt.day.outputs import summary, write_day
    from lec_opt.day.run import run_day

    started = time.perf_counter()
    try:
        scenario = parse_scenario(copy.deepcopy(dict(payload["scenario"])), payload.get("source", "sweep point"))
        if is_period(scenario):
            return _period_point(scenario, payload, started)
        run = run_day(scenario, payload["method"], payload["priority"], workers=1)
        record: dict[str, Any] = {"status": "ok", "error": None, "metrics": point_metrics(scenario, summary(run))}
        if payload.get("power_flow"):
            record["metrics"].update(_day_network(scenario, run))
        if payload.get("keep"):
            with tempfile.TemporaryDirectory(prefix="lec-opt-point-") as tmp:
                folder = write_day(run, Path(tmp) / "day")  # the day's folder, manifest included
                record["files"] = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    except Exception as err:  # noqa: BLE001 - a failed point is recorded, the sweep goes on
        record = _failed(err)
    record["seconds"] = time.perf_counter() - started
    return record


def _day_network(scenario, run) -> dict[str, Any]:
    """A day point's network columns (those of days.csv) from its power flows."""
    from lec_opt.network.tables import day_network_columns
    from lec_opt.period.run import feeder_flows

    network = feeder_flows(scenario, run.day).day(run.day, run)
    return day_network_columns(network.intervals, scenario.interval_minutes)


def _failed(err: Exception) -> dict[str, Any]:
    """The record of a point that raised: its error and traceback, no metrics."""
    return {
        "status": "error",
        "error": f"{type(err).__name__}: {err}",
        "metrics": {},
        "traceback": traceback.format_exc(),
    }


def is_period(scenario) -> bool:
    """A scenario whose ``[period]`` names a start or more than one day is solved as a period."""
    return scenario.period.start is not None or (scenario.period.days or 1) > 1


def _period_point(scenario, payload: Mapping[str, Any], started: float) -> dict[str, Any]:
    from lec_opt.period.run import feeder_flows, period_days, run_period, solve_period

    method, priority, power_flow = payload["method"], payload["priority"], bool(payload.get("power_flow"))
    try:
        if payload.get("keep"):  # the period's folder (its own checkpoints, not the sweep's store)
            with tempfile.TemporaryDirectory(prefix="lec-opt-point-") as tmp:
                folder = Path(tmp) / "period"
                summary = solve_period(
                    scenario, folder, method, priority, figures=False, power_flow=power_flow, executor="serial"
                )
                files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        else:
            inputs = period_days(scenario)
            network = feeder_flows(scenario, inputs[1][0]) if power_flow else None
            store = payload.get("matchings")
            summary = run_period(
                scenario, method, priority, executor="serial", store=store, inputs=inputs, network=network
            )
            files = None
        record: dict[str, Any] = {"status": "ok", "error": None, "metrics": point_metrics(scenario, summary)}
        if files:
            record["files"] = files
    except Exception as err:  # noqa: BLE001 - a failed point is recorded, the sweep goes on
        record = _failed(err)
    record["seconds"] = time.perf_counter() - started
    return record
