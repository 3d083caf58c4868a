"""Reading a results folder: the files ``solve-day``, the game check and a sweep write.

A day's folder holds intervals.csv, trades.csv, settlement.csv, summary.json and scenario.toml
(the day's gross load and PV come from the scenario's data folder); ``stability.csv`` (the
cooperative game) and ``sweep.csv`` (parameter sweeps) may sit beside them, and a sweep's folder
may hold ``sweep.csv`` alone. Only a complete folder is read: its manifest ``lec-opt.json`` says
so (``lec_opt.io.results_folder.require_complete``). Every file is read and checked here, before
anything uses it: a missing file, column or number is an ``InputError`` naming the file, row and
field.

The files, their columns and the keys of summary.json are named once, in ``lec_opt.io.schema``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.errors import InputError, LecOptError
from lec_opt.io.results_folder import require_complete
from lec_opt.io.schema import (
    DAY_FILES,
    INTERVAL_COLUMNS,
    INTERVALS_FILE,
    LINE_COLUMNS,
    LINES_FILE,
    NETWORK_COLUMNS,
    NETWORK_FILE,
    PRIORITIES,
    SCENARIO_FILE,
    SETTLEMENT_COLUMNS,
    SETTLEMENT_FILE,
    STABILITY_COLUMNS,
    STABILITY_FILE,
    SUMMARY_FILE,
    SWEEP_FILE,
    TRADE_COLUMNS,
    TRADES_FILE,
    VOLTAGE_COLUMNS,
    VOLTAGES_FILE,
    priority_column,
    swept_columns,
)

# --- one file each ----------------------------------------------------------------------------


def read_csv(path: Path, columns: tuple[str, ...], text: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV and check its columns are there, and numeric unless listed in ``text``."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV file ({err})") from None
    return _checked(frame, path, columns, text)


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
    return _checked(frame, path, columns, text)


def _checked(frame: pd.DataFrame, path: Path, columns: tuple[str, ...], text: tuple[str, ...]) -> pd.DataFrame:
    """The table read from ``path``, once its ``columns`` are there and numeric unless listed in ``text``."""
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
    return [p for p in PRIORITIES if priority_column("p2p_kwh", p) in intervals.columns]


def read_intervals(path: Path) -> pd.DataFrame:
    """intervals.csv: one row per interval, 0, 1, 2 ... in order, and the P2P columns of each priority solved."""
    frame = read_csv(path, INTERVAL_COLUMNS, text=("time", "chosen"))
    priorities = solved_priorities(frame)
    if not priorities:
        raise InputError(path, "missing column", field=priority_column("p2p_kwh", PRIORITIES[0]))
    for p in priorities:
        p2p, transactions = priority_column("p2p_kwh", p), priority_column("transactions", p)
        if transactions not in frame.columns:
            raise InputError(path, "missing column", field=transactions)
        _check_numeric(frame, path, [p2p, transactions])
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

        return build_day(load_scenario(self.dir / SCENARIO_FILE))

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
        return np.array([iv.at[i, priority_column("p2p_kwh", p)] for i, p in zip(iv.index, iv["chosen"])], dtype=float)


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
    res.intervals = read_intervals(folder / INTERVALS_FILE)
    res.trades = read_csv(folder / TRADES_FILE, TRADE_COLUMNS, text=("priority", "chosen"))
    res.settlement = read_csv(folder / SETTLEMENT_FILE, SETTLEMENT_COLUMNS, text=("role",))
    res.summary = read_summary(folder / SUMMARY_FILE)
    res.scenario_text = (folder / SCENARIO_FILE).read_text(encoding="utf-8")
    try:
        res.day  # noqa: B018 (the scenario and its data)
    except LecOptError as err:
        raise InputError(folder / SCENARIO_FILE, f"cannot read the day this scenario describes: {err}") from None
    if res.day.n_intervals != res.n_intervals:
        raise InputError(
            folder / INTERVALS_FILE,
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
