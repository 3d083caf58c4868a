"""Reading a results folder: the files ``solve-day``, the game check and a sweep write.

A day's folder holds intervals.csv, trades.csv, settlement.csv, summary.json and scenario.toml
(the day's gross load and PV come from the scenario's data folder); ``stability.csv`` (the
cooperative game) and ``sweep.csv`` (parameter sweeps) may sit beside them, and a sweep's folder
may hold ``sweep.csv`` alone. Only a complete folder is read: its manifest ``lec-opt.json`` says
so (``lec_opt.io.results_folder.require_complete``). Every file is read and checked here, before
anything uses it: a missing file, column or number is an ``InputError`` naming the file, row and
field.

The keys of summary.json that readers look up are named once, in ``SummaryKey``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.analysis.sweep.table import SWEEP_FILE, swept_columns
from lec_opt.errors import InputError, LecOptError
from lec_opt.io.results_folder import require_complete

DAY_FILES = ("intervals.csv", "trades.csv", "settlement.csv", "summary.json", "scenario.toml")
STABILITY_FILE = "stability.csv"
NETWORK_FILE = "network.csv"  # power flows of a feeder day (lec_opt.network.powerflow)
NETWORK_COLUMNS = ("interval", "converged", "v_min_pu", "v_max_pu", "line_loading_max_percent", "losses_kwh")
VOLTAGES_FILE = "voltages.parquet"  # every peer's voltage in every interval of a feeder day
VOLTAGE_COLUMNS = ("interval", "time", "peer", "bus", "phase", "v_pu")
LINES_FILE = "lines.csv"  # each line's highest loading of a feeder day
LINE_COLUMNS = ("line", "loading_max_percent", "interval", "time")
INTERVAL_COLUMNS = (
    "interval",
    "time",
    "supply_kwh",
    "demand_kwh",
    "alpha_kwh",
    "ev_kwh",
    "chosen",
    "ces_charge_kwh",
    "ces_discharge_kwh",
    "grid_to_ces_kwh",
    "ces_to_ev_kwh",
    "soc_start",
    "soc_end",
)
TRADE_COLUMNS = ("interval", "priority", "chosen", "seller", "buyer", "kwh")
SETTLEMENT_COLUMNS = ("peer", "role", "revenue_usd", "revenue_grid_only_usd", "bill_usd", "bill_grid_only_usd")
STABILITY_COLUMNS = ("interval", "max_violation")
PRIORITIES = "ABC"


class SummaryKey:
    """Keys of summary.json (written by ``lec_opt.day.outputs.summary``) that readers look up."""

    SCENARIO = "scenario"
    METHOD = "method"
    PRIORITY = "priority"
    INTERVALS = "intervals"
    INTERVAL_MINUTES = "interval_minutes"
    PAPER = "paper"  # the paper's values: the two ratios and CES_SOC_BAND
    CES_SOC_BAND = "ces_soc_band"
    PROSUMER_REVENUE_RATIO = "prosumer_revenue_ratio"
    CONSUMER_BILL_RATIO = "consumer_bill_ratio"
    CES_SOC_MIN = "ces_soc_min"
    CES_SOC_MAX = "ces_soc_max"
    PROSUMER_REVENUE_P2P = "prosumer_revenue_p2p_usd"
    PROSUMER_REVENUE_GRID_ONLY = "prosumer_revenue_grid_only_usd"
    CONSUMER_BILL_P2P = "consumer_bill_p2p_usd"
    CONSUMER_BILL_GRID_ONLY = "consumer_bill_grid_only_usd"
    COMMUNITY_SAVING = "community_saving_usd"
    SCORE = "score"
    P2P_ENERGY = "p2p_energy_kwh"
    GRID_IMPORT = "grid_import_kwh"
    GRID_EXPORT = "grid_export_kwh"
    CES_CHARGE = "ces_charge_kwh"
    CES_DISCHARGE = "ces_discharge_kwh"
    GRID_TO_CES = "grid_to_ces_kwh"
    EV = "ev_kwh"
    EV_FROM_CES = "ev_from_ces_kwh"
    EV_FROM_GRID = "ev_from_grid_kwh"
    PRIORITY_COUNTS = "priority_counts"
    PRIORITY_COUNTS_BY_PERIOD = "priority_counts_by_period"
    PERIOD_SPANS = "period_spans"
    PRIORITY_BY_PERIOD = "priority_by_period"  # in PAPER: {period: {"priority", "words"}}
    SELECTION_CRITERION = "selection_criterion"
    DAY_VALUE = "day_value_usd"
    MYOPIC_DAY_VALUE = "myopic_day_value_usd"
    FORESIGHT_DAY_VALUE = "foresight_day_value_usd"
    FORESIGHT_GAIN = "foresight_gain_usd"
    FORESIGHT_GAIN_BY_PERIOD = "foresight_gain_by_period_usd"
    TRANSACTIONS = "transactions"
    FALLBACKS = "fallbacks"
    SINGLE_PRIORITY_TOTALS = "single_priority_totals"
    SOLVE_SECONDS = "solve_seconds"


# --- one file each ----------------------------------------------------------------------------


def read_csv(path: Path, columns: tuple[str, ...], text: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV and check its columns are there, and numeric unless listed in ``text``."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV file ({err})") from None
    for col in columns:
        if col not in frame.columns:
            raise InputError(path, "missing column", field=col)
    _check_numeric(frame, path, [c for c in columns if c not in text])
    return frame


def read_parquet(
    path: Path, columns: tuple[str, ...], text: tuple[str, ...] = ("time", "bus", "phase")
) -> pd.DataFrame:
    """Read a Parquet table and check its columns are there, and numeric unless listed in ``text``."""
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, ValueError) as err:
        raise InputError(path, f"not a readable Parquet file ({err})") from None
    for col in columns:
        if col not in frame.columns:
            raise InputError(path, "missing column", field=col)
    _check_numeric(frame, path, [c for c in columns if c not in text])
    return frame


def _check_numeric(frame: pd.DataFrame, path: Path, columns) -> None:
    if frame.empty:  # a header only (e.g. trades.csv of a day without trades) has no number to check
        return
    for col in columns:
        if not pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col]):
            bad = pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2 if bad.any() else None  # spreadsheet rows: header is row 1
            raise InputError(path, "expected numbers", row=row, field=col)


def solved_priorities(intervals: pd.DataFrame) -> list[str]:
    """The priorities intervals.csv has columns for (``p2p_kwh_A`` ...), in order."""
    return [p for p in PRIORITIES if f"p2p_kwh_{p}" in intervals.columns]


def read_intervals(path: Path) -> pd.DataFrame:
    """intervals.csv: one row per interval, 0, 1, 2 ... in order, and the P2P columns of each priority solved."""
    frame = read_csv(path, INTERVAL_COLUMNS, text=("time", "chosen"))
    priorities = solved_priorities(frame)
    if not priorities:
        raise InputError(path, "missing column", field="p2p_kwh_A")
    for p in priorities:
        if f"transactions_{p}" not in frame.columns:
            raise InputError(path, "missing column", field=f"transactions_{p}")
        _check_numeric(frame, path, [f"p2p_kwh_{p}", f"transactions_{p}"])
    bad = sorted(set(frame["chosen"].astype(str)) - set(priorities))
    if bad:
        raise InputError(path, f"chosen priority {bad[0]!r} has no p2p_kwh column", field="chosen")
    if not np.array_equal(frame["interval"].to_numpy(), np.arange(len(frame))):
        raise InputError(path, "intervals must run 0, 1, 2, ... in order", field="interval")
    return frame


def read_summary(path: Path) -> dict:
    """summary.json: a JSON object."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f"not valid JSON ({err})") from None
    if not isinstance(summary, dict):
        raise InputError(path, "expected a JSON object")
    return summary


def in_core(stability: pd.DataFrame) -> np.ndarray:
    """Per row of stability.csv: is the interval's allocation in the core (``in_core``, else no violation)."""
    if "in_core" in stability.columns:
        return stability["in_core"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
    return stability["max_violation"].to_numpy(dtype=float) <= 1e-9


def read_sweep(path: Path) -> pd.DataFrame:
    """sweep.csv (``lec_opt.analysis.sweep.table``): rows, and the swept fields as its first columns."""
    frame = read_csv(path, ())
    if not len(frame):
        raise InputError(path, "no rows")
    if not swept_columns(frame):
        raise InputError(
            path,
            "no swept field: the first columns of sweep.csv are the swept scenario fields (e.g. ces.k), then the metrics",
            field=str(frame.columns[0]),
        )
    return frame


# --- a whole folder ---------------------------------------------------------------------------


@dataclass
class Results:
    """One results folder, read and checked before anything uses it."""

    dir: Path
    manifest: dict | None = None  # lec-opt.json: who wrote the folder, with which versions, when
    intervals: pd.DataFrame | None = None
    trades: pd.DataFrame | None = None
    settlement: pd.DataFrame | None = None
    summary: dict | None = None
    scenario_text: str | None = None
    stability: pd.DataFrame | None = None
    sweep: pd.DataFrame | None = None
    network: pd.DataFrame | None = None
    voltages: pd.DataFrame | None = None
    lines: pd.DataFrame | None = None

    @property
    def has_day(self) -> bool:
        """The folder holds a day (intervals.csv), not only a sweep."""
        return self.intervals is not None

    @cached_property
    def day(self):
        """The scenario's day (``DayInputs``: gross load and PV per peer and interval, prosumer mask)."""
        from lec_opt.market.snapshot import build_day
        from lec_opt.scenario import load_scenario

        return build_day(load_scenario(self.dir / "scenario.toml"))

    @property
    def priorities(self) -> list[str]:
        """The priorities solved in intervals.csv."""
        return solved_priorities(self.intervals)

    @property
    def n_intervals(self) -> int:
        """Number of intervals of the day."""
        return len(self.intervals)

    @property
    def hours(self) -> float:
        """Length of one interval in hours."""
        return self.day.interval_minutes / 60.0

    @property
    def edges(self) -> np.ndarray:
        """Interval boundaries in hours after midnight."""
        return np.arange(self.n_intervals + 1) * self.hours

    def chosen_p2p_kwh(self) -> np.ndarray:
        """P2P energy per interval under the aggregator's chosen priority."""
        iv = self.intervals
        return np.array([iv.at[i, f"p2p_kwh_{p}"] for i, p in zip(iv.index, iv["chosen"])], dtype=float)


def _folder(results_dir: str | Path) -> tuple[Path, dict]:
    folder = Path(results_dir)
    return folder, require_complete(folder)


def load_day_results(results_dir: str | Path) -> Results:
    """Read and check the five files of a solved day and the day its scenario describes."""
    folder, manifest = _folder(results_dir)
    for name in DAY_FILES:
        if not (folder / name).is_file():
            raise InputError(folder / name, "file not found (write the folder with `lec-opt solve-day`)")
    res = Results(folder, manifest=manifest)
    res.intervals = read_intervals(folder / "intervals.csv")
    res.trades = read_csv(folder / "trades.csv", TRADE_COLUMNS, text=("priority", "chosen"))
    res.settlement = read_csv(folder / "settlement.csv", SETTLEMENT_COLUMNS, text=("role",))
    res.summary = read_summary(folder / "summary.json")
    res.scenario_text = (folder / "scenario.toml").read_text(encoding="utf-8")
    try:
        res.day  # noqa: B018 (the scenario and its data)
    except LecOptError as err:
        raise InputError(folder / "scenario.toml", f"cannot read the day this scenario describes: {err}") from None
    if res.day.n_intervals != res.n_intervals:
        raise InputError(
            folder / "intervals.csv",
            f"{res.n_intervals} intervals, but scenario.toml gives {res.day.n_intervals}; the folder and its scenario disagree",
        )
    return res


def load_results(results_dir: str | Path) -> Results:
    """Read and check everything a results folder holds; raise InputError naming the first bad file.

    The day's files are required unless the folder holds only ``sweep.csv``; ``stability.csv``
    is read when present beside them.
    """
    folder, manifest = _folder(results_dir)
    sweep_file = folder / SWEEP_FILE
    res = Results(folder, manifest=manifest)
    if any((folder / name).is_file() for name in DAY_FILES) or not sweep_file.is_file():
        res = load_day_results(folder)
        if (folder / STABILITY_FILE).is_file():
            res.stability = read_csv(folder / STABILITY_FILE, STABILITY_COLUMNS)
        if (folder / NETWORK_FILE).is_file():
            res.network = read_csv(folder / NETWORK_FILE, NETWORK_COLUMNS)
        if (folder / LINES_FILE).is_file():
            res.lines = read_csv(folder / LINES_FILE, LINE_COLUMNS, text=("line", "time"))
        if (folder / VOLTAGES_FILE).is_file():
            res.voltages = read_parquet(folder / VOLTAGES_FILE, VOLTAGE_COLUMNS)
    if sweep_file.is_file():
        res.sweep = read_sweep(sweep_file)  # checked now, before anything is drawn
    return res
