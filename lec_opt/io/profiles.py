"""The community data folder: its file format, a strict reader, and energy-conserving resampling.

A data folder holds one day of one community:

- ``load_kw.csv``: ``time,peer_1,...,peer_N``: household load, kW (mean over each step)
- ``pv_kw_per_kwp.csv``: ``time,peer_1,...,peer_N``: AC PV output per kWp of each peer's roof
- ``ev_kw.csv``: ``time,ev_1,...,ev_M``: demand of each EV charging point, kW
- ``bids_asks.csv``: ``peer,ask,bid``: priority-C prices, $/kWh
- ``manifest.json`` (optional): where the data came from

``time`` is the start of each step as ``HH:MM`` (or ``HH:MM:SS``), from 00:00, evenly spaced,
covering the whole day. Rows are numbered like a spreadsheet: the header is row 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.errors import InputError
from lec_opt.io.atomic import write_csv

MINUTES_PER_DAY = 1440
LOAD_FILE = "load_kw.csv"
PV_FILE = "pv_kw_per_kwp.csv"
EV_FILE = "ev_kw.csv"
BIDS_FILE = "bids_asks.csv"
MANIFEST_FILE = "manifest.json"
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


@dataclass(frozen=True)
class Series:
    """A validated day-long table: ``values[step, column]`` with a uniform step in minutes."""

    path: Path
    step_minutes: int
    columns: tuple[str, ...]
    values: np.ndarray

    def to_interval_mean(self, interval_minutes: int) -> np.ndarray:
        """Mean over each trading interval (energy-conserving), shape (intervals, columns)."""
        return resample_mean(self.values, self.step_minutes, interval_minutes, self.path)


@dataclass(frozen=True)
class Profiles:
    """A community's day as read from its data folder, at the files' own resolution."""

    folder: Path
    load_kw: Series
    pv_kw_per_kwp: Series
    ev_kw: Series
    ask: np.ndarray
    bid: np.ndarray

    @property
    def n_peers(self) -> int:
        return self.load_kw.values.shape[1]


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_time(text: str) -> int | None:
    """Minutes after midnight of ``HH:MM[:SS]`` (seconds must be 0), or None."""
    match = _TIME.match(text.strip())
    if not match:
        return None
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours > 23 or minutes > 59 or seconds:
        return None
    return hours * 60 + minutes


def _read_table(path: Path) -> pd.DataFrame:
    """All cells as text; the header as written (pandas would rename a repeated column)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with path.open(encoding="utf-8") as handle:
            header = [c.strip() for c in handle.readline().rstrip("\r\n").split(",")]
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV file ({err})") from None
    if frame.empty:
        raise InputError(path, "has a header but no data rows")
    frame.columns = header
    return frame


def _numeric(frame: pd.DataFrame, columns: list[str], path: Path, *, nonnegative: bool = True) -> np.ndarray:
    values = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(path, f"not a finite number: {frame[columns[c]].iloc[r]!r}", row=r + 2, field=columns[c])
    if nonnegative and (values < 0).any():
        r, c = np.argwhere(values < 0)[0]
        raise InputError(path, f"negative value {values[r, c]}", row=r + 2, field=columns[c])
    return values


def _time_axis(frame: pd.DataFrame, path: Path) -> int:
    """Check the ``time`` column: from 00:00, uniform, no duplicates or gaps; return the step."""
    minutes = []
    for r, text in enumerate(frame["time"]):
        minute = parse_time(text)
        if minute is None:
            raise InputError(path, f"time {text!r} is not HH:MM within one day", row=r + 2, field="time")
        minutes.append(minute)
    if minutes[0] != 0:
        raise InputError(path, f"the day must start at 00:00, not {frame['time'].iloc[0]}", row=2, field="time")
    if len(minutes) == 1:
        raise InputError(path, "one row cannot cover a day; expected a row per step", field="time")
    step = minutes[1] - minutes[0]
    if step == 0:
        raise InputError(path, f"duplicate time {frame['time'].iloc[1]}", row=3, field="time")
    if step < 0 or MINUTES_PER_DAY % step:
        raise InputError(path, f"step of {step} min does not divide a day", row=3, field="time")
    for r in range(1, len(minutes)):
        delta = minutes[r] - minutes[r - 1]
        if delta == step:
            continue
        if delta == 0:
            raise InputError(path, f"duplicate time {frame['time'].iloc[r]}", row=r + 2, field="time")
        wanted = minutes[r - 1] + step
        if delta < 0 or wanted in minutes[r + 1 :]:
            raise InputError(
                path,
                f"time out of order: {format_minute(wanted)} should follow {frame['time'].iloc[r - 1]}, "
                f"found {frame['time'].iloc[r]}",
                row=r + 2,
                field="time",
            )
        raise InputError(
            path,
            f"gap: {frame['time'].iloc[r - 1]} is followed by {frame['time'].iloc[r]} (step is {step} min)",
            row=r + 2,
            field="time",
        )
    expected = MINUTES_PER_DAY // step
    if len(minutes) != expected:
        raise InputError(
            path,
            f"{len(minutes)} rows of {step} min end at {frame['time'].iloc[-1]}; a day needs {expected}",
            row=len(minutes) + 1,
            field="time",
        )
    return step


def read_series(path: Path, prefix: str, n_columns: int | None = None) -> Series:
    """Read ``time,<prefix>1,...`` with every check of the data format."""
    frame = _read_table(path)
    header = list(frame.columns)
    if header[0] != "time":
        raise InputError(path, f"first column must be 'time', found {header[0]!r}", row=1, field=header[0])
    columns = header[1:]
    for n, name in enumerate(columns):
        if name in columns[:n]:
            raise InputError(path, f"column {name!r} appears twice in the header", row=1, field=name)
    expected = [f"{prefix}{k}" for k in range(1, len(columns) + 1)]
    if not columns:
        raise InputError(path, f"no data columns after 'time' (expected {prefix}1, {prefix}2, ...)", row=1)
    for got, want in zip(columns, expected, strict=True):
        if got != want:
            raise InputError(path, f"column {got!r} where {want!r} was expected", row=1, field=got)
    if n_columns is not None and len(columns) != n_columns:
        raise InputError(path, f"{len(columns)} '{prefix}' columns, expected {n_columns}", row=1)
    step = _time_axis(frame, path)
    return Series(path, step, tuple(columns), _numeric(frame, columns, path))


def read_bids(path: Path, n_peers: int) -> tuple[np.ndarray, np.ndarray]:
    frame = _read_table(path)
    if list(frame.columns) != ["peer", "ask", "bid"]:
        raise InputError(path, f"header must be 'peer,ask,bid', found {','.join(frame.columns)!r}", row=1)
    values = _numeric(frame, ["peer", "ask", "bid"], path)
    peers = values[:, 0]
    for r, p in enumerate(peers):
        if p != int(p) or not 1 <= p <= n_peers:
            raise InputError(
                path, f"peer {frame['peer'].iloc[r]!r} is not a peer number 1..{n_peers}", row=r + 2, field="peer"
            )
    order = peers.astype(int)
    if len(set(order)) != len(order):
        dup = pd.Series(order).duplicated().to_numpy().nonzero()[0][0]
        raise InputError(path, f"peer {order[dup]} is listed twice", row=dup + 2, field="peer")
    if len(order) != n_peers:
        missing = sorted(set(range(1, n_peers + 1)) - set(order))
        raise InputError(
            path, f"{len(order)} peers listed, the community has {n_peers}; missing {missing[:10]}", field="peer"
        )
    ask = np.empty(n_peers)
    bid = np.empty(n_peers)
    ask[order - 1] = values[:, 1]
    bid[order - 1] = values[:, 2]
    return ask, bid


def read_profiles(folder: str | Path, n_peers: int | None = None, bids_file: str = BIDS_FILE) -> Profiles:
    """Read and check a whole data folder; ``n_peers`` (from the scenario) must match when given."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "data folder not found")
    load = read_series(folder / LOAD_FILE, "peer_")
    if n_peers is not None and load.values.shape[1] != n_peers:
        raise InputError(
            folder / LOAD_FILE,
            f"has {load.values.shape[1]} peers but the scenario says community.n_peers = {n_peers}",
            row=1,
        )
    n = load.values.shape[1]
    pv = read_series(folder / PV_FILE, "peer_", n)
    ev = read_series(folder / EV_FILE, "ev_")
    ask, bid = read_bids(folder / bids_file, n)
    return Profiles(folder, load, pv, ev, ask, bid)


def resample_mean(values: np.ndarray, step: int, interval: int, path: Path | str = "data") -> np.ndarray:
    """Mean power per interval from power per step (energy is conserved exactly).

    Finer data is averaged; coarser data (step a multiple of the interval) is repeated.
    """
    if interval % step == 0:
        k = interval // step
        return values.reshape(values.shape[0] // k, k, *values.shape[1:]).mean(axis=1)
    if step % interval == 0:
        return np.repeat(values, step // interval, axis=0)
    raise InputError(path, f"its {step}-min step and the {interval}-min trading interval do not nest")


def write_series(path: Path, prefix: str, values: np.ndarray, decimals: int = 4) -> None:
    step = MINUTES_PER_DAY // values.shape[0]
    frame = pd.DataFrame(np.round(values, decimals), columns=[f"{prefix}{k}" for k in range(1, values.shape[1] + 1)])
    frame.insert(0, "time", [format_minute(m) for m in range(0, MINUTES_PER_DAY, step)])
    write_csv(path, frame, float_format=f"%.{decimals}f")


def write_bids(path: Path, ask: np.ndarray, bid: np.ndarray) -> None:
    frame = pd.DataFrame({"peer": np.arange(1, len(ask) + 1), "ask": ask, "bid": bid})
    write_csv(path, frame, float_format="%.4f")


def read_tariffs(path: Path) -> Series:
    """A tariff time series ``time,buy,sell`` ($/kWh), with sell below buy in every row."""
    frame = _read_table(path)
    if list(frame.columns) != ["time", "buy", "sell"]:
        raise InputError(path, f"header must be 'time,buy,sell', found {','.join(frame.columns)!r}", row=1)
    step = _time_axis(frame, path)
    values = _numeric(frame, ["buy", "sell"], path)
    above = np.flatnonzero(values[:, 1] >= values[:, 0])
    if above.size:
        r = above[0]
        raise InputError(
            path, f"sell price {values[r, 1]} is not below buy price {values[r, 0]}", row=r + 2, field="sell"
        )
    return Series(path, step, ("buy", "sell"), values)
