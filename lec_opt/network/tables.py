"""The tables of a run of flows: network.csv's rows, every peer's voltage, every line's peak.

``network.csv``, one row per interval: the lowest and highest phase voltage (p.u.) and where,
the worst voltage unbalance (negative/positive sequence, %), the highest line loading and the
transformer loading (%), losses (kWh: what the feeder takes from its source minus what the
community draws), the feeder's import (kWh), and the buses outside EN 50160's 0.9-1.1 p.u. on
any phase. Voltages are over every bus except the source's, whose voltage is fixed. A flow that
did not converge has ``converged`` false and no values.

``voltages.parquet``, one row per interval and peer: the voltage at the peer's bus on its phase
(for a three-phase peer, its phase furthest from 1 p.u.). ``lines.csv``, one row per line: its
highest loading over the run and the interval it was reached in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lec_opt.io.schema import LINE_COLUMNS, VOLTAGE_COLUMNS
from lec_opt.network.engine import FlowResults
from lec_opt.network.feeder import BALANCED, PHASES, Feeder

EN50160_BAND_PU = (0.90, 1.10)
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
_A = np.exp(2j * np.pi / 3)


def unbalance_percent(v_pu: np.ndarray, v_angle_rad: np.ndarray) -> np.ndarray:
    """|V2| / |V1| x 100 of every bus ([..., phase] phasors)."""
    v = v_pu * np.exp(1j * v_angle_rad)
    v1 = (v[..., 0] + _A * v[..., 1] + _A**2 * v[..., 2]) / 3
    v2 = (v[..., 0] + _A**2 * v[..., 1] + _A * v[..., 2]) / 3
    return 100.0 * np.abs(v2) / np.abs(v1)


def _where(values: np.ndarray, pick) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per interval: the picked value of [interval, bus, phase] and its bus and phase positions."""
    flat = values.reshape(values.shape[0], -1)
    filled = np.where(np.isnan(flat), -np.inf if pick is np.argmax else np.inf, flat)
    k = pick(filled, axis=1)
    bus, phase = np.divmod(k, values.shape[2])
    return flat[np.arange(len(k)), k], bus, phase


def network_rows(
    results: FlowResults,
    bus_names: Sequence[str],
    line_names: Sequence[str],
    community_kw: np.ndarray,
    hours: float,
    times: Sequence[str],
) -> pd.DataFrame:
    """network.csv's rows (``COLUMNS``) of a run of flows; ``community_kw`` is what the community draws."""
    ok = results.converged
    names = np.asarray(bus_names, dtype=object)
    v_min, min_bus, min_ph = _where(results.v_pu, np.argmin)
    v_max, max_bus, max_ph = _where(results.v_pu, np.argmax)
    unbalance = unbalance_percent(results.v_pu, results.v_angle_rad)
    worst_u = np.argmax(np.where(np.isnan(unbalance), -np.inf, unbalance), axis=1) if unbalance.shape[1] else 0
    lo, hi = EN50160_BAND_PU
    outside = np.any((results.v_pu < lo) | (results.v_pu > hi), axis=2).sum(axis=1)
    frame = pd.DataFrame({"interval": np.arange(len(ok)), "time": list(times), "converged": ok})
    frame["v_min_pu"], frame["v_min_bus"], frame["v_min_phase"] = v_min, names[min_bus], np.array(PHASES)[min_ph]
    frame["v_max_pu"], frame["v_max_bus"], frame["v_max_phase"] = v_max, names[max_bus], np.array(PHASES)[max_ph]
    frame["unbalance_max_percent"] = unbalance[np.arange(len(ok)), worst_u]
    frame["unbalance_bus"] = names[worst_u]
    if results.line_loading_percent.shape[1]:
        loading = results.line_loading_percent
        worst = np.argmax(np.where(np.isnan(loading), -np.inf, loading), axis=1)
        frame["line_loading_max_percent"] = loading[np.arange(len(ok)), worst]
        frame["line_max"] = np.asarray(line_names, dtype=object)[worst]
    frame["trafo_loading_percent"] = results.trafo_loading_percent
    frame["losses_kwh"] = (results.source_kw - community_kw) * hours
    frame["feeder_import_kwh"] = results.source_kw * hours
    frame["buses_outside_en50160"] = outside
    value_columns = [c for c in COLUMNS[3:] if c in frame.columns]
    frame.loc[~ok, value_columns] = None
    return frame.reindex(columns=list(COLUMNS))


def peer_voltages(results: FlowResults, feeder: Feeder, buses: np.ndarray, times: Sequence[str]) -> pd.DataFrame:
    """voltages.parquet's rows: every interval and peer (``VOLTAGE_COLUMNS``), NaN where no flow converged."""
    position = {int(b): k for k, b in enumerate(buses)}
    columns: dict[str, list] = {c: [] for c in VOLTAGE_COLUMNS}
    n = results.v_pu.shape[0]
    for peer, load in enumerate(feeder.peer_loads, 1):
        at = results.v_pu[:, position[int(load.bus)], :]
        if load.phase == BALANCED:
            far = np.argmax(np.where(np.isnan(at), -np.inf, np.abs(at - 1.0)), axis=1)
            phase = np.array(PHASES)[far]
            v = at[np.arange(n), far]
        else:
            phase = np.full(n, load.phase)
            v = at[:, PHASES.index(load.phase)]
        columns["interval"].append(np.arange(n))
        columns["time"].append(np.asarray(times, dtype=object))
        columns["peer"].append(np.full(n, peer))
        columns["bus"].append(np.full(n, feeder.bus_name(load.bus), dtype=object))
        columns["phase"].append(phase)
        columns["v_pu"].append(v)
    return pd.DataFrame({c: np.concatenate(parts) for c, parts in columns.items()}).sort_values(
        ["interval", "peer"], kind="stable", ignore_index=True
    )


def line_peaks(results: FlowResults, line_names: Sequence[str], times: Sequence[str]) -> pd.DataFrame:
    """lines.csv's rows: each line's highest loading over the run and when (``LINE_COLUMNS``),
    most loaded first (NaN for a line with no converged flow)."""
    loading = results.line_loading_percent
    filled = np.where(np.isnan(loading), -np.inf, loading)
    at = np.argmax(filled, axis=0) if loading.shape[0] else np.zeros(loading.shape[1], int)
    peak = loading[at, np.arange(loading.shape[1])] if loading.shape[0] else np.full(loading.shape[1], np.nan)
    frame = pd.DataFrame(dict(zip(LINE_COLUMNS, (list(line_names), peak, at, np.asarray(times)[at]))))
    frame.loc[frame.loading_max_percent.isna(), ["interval", "time"]] = None
    return frame.sort_values("loading_max_percent", ascending=False, kind="stable", ignore_index=True)


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


# days.csv's network columns, and how each adds up over days (summary.json's period and months)
DAY_COLUMNS = {
    "v_min_pu": "min",
    "v_max_pu": "max",
    "bus_minutes_outside_en50160": "sum",
    "line_loading_max_percent": "max",
    "trafo_loading_max_percent": "max",
    "network_losses_kwh": "sum",
    "failed_flows": "sum",
}
_COUNTS = ("bus_minutes_outside_en50160", "failed_flows")


def day_network_columns(frame: pd.DataFrame, interval_minutes: int) -> dict:
    """A day's network columns of days.csv (``DAY_COLUMNS``) from its network.csv rows."""
    ok = frame[frame.converged.astype(bool)]

    def extreme(column: str, fn: str) -> float | None:
        values = ok[column].dropna()
        return float(getattr(values, fn)()) if len(values) else None

    return {
        "v_min_pu": extreme("v_min_pu", "min"),
        "v_max_pu": extreme("v_max_pu", "max"),
        "bus_minutes_outside_en50160": int(ok.buses_outside_en50160.sum()) * interval_minutes,
        "line_loading_max_percent": extreme("line_loading_max_percent", "max"),
        "trafo_loading_max_percent": extreme("trafo_loading_percent", "max"),
        "network_losses_kwh": float(ok.losses_kwh.sum()),
        "failed_flows": int(len(frame) - len(ok)),
    }


def aggregate_network(days: pd.DataFrame) -> dict:
    """The network columns of some rows of days.csv, over those days (``DAY_COLUMNS``' rule each)."""
    out = {}
    for column, rule in DAY_COLUMNS.items():
        value = getattr(days[column], rule)()
        out[column] = int(value) if column in _COUNTS else float(value)
    return out


def peer_day_extremes(voltages: pd.DataFrame, interval_minutes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per peer (peer order) of one day's voltages.parquet rows: the highest voltage, and the
    minutes outside EN 50160's band."""
    lo, hi = EN50160_BAND_PU
    by_peer = voltages.groupby("peer", sort=True).v_pu
    outside = voltages.assign(out=(voltages.v_pu < lo) | (voltages.v_pu > hi)).groupby("peer", sort=True).out.sum()
    return by_peer.max().to_numpy(), outside.to_numpy() * interval_minutes


def worst_interval(frame: pd.DataFrame) -> int | None:
    """The interval furthest from 1 p.u. (lowest minimum or highest maximum voltage); None if none converged."""
    ok = frame[frame.converged.astype(bool)]
    if ok.empty:
        return None
    deviation = np.maximum(1.0 - ok.v_min_pu.to_numpy(), ok.v_max_pu.to_numpy() - 1.0)
    return int(ok.interval.iloc[int(np.argmax(deviation))])
