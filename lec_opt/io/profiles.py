"""The community data folder: its file format, a strict reader, and energy-conserving resampling.

A data folder holds one day of one community:

- ``load_kw.csv``: ``time,peer_1,...,peer_N``: household load, kW (mean over each step)
- ``pv_kw_per_kwp.csv``: ``time,peer_1,...,peer_N``: AC PV output per kWp of each peer's roof
- ``ev_kw.csv``: ``time,ev_1,...,ev_M``: demand of each EV charging point, kW
- ``bids_asks.csv``: ``peer,ask,bid``: priority-C prices, $/kWh
- ``manifest.json`` (optional): where the data came from

``time`` is the start of each step as ``HH:MM`` (or ``HH:MM:SS``), from 00:00, evenly spaced,
covering the whole day. Rows are numbered like a spreadsheet: the header is row 1.

What spreadsheets and other tools write is read when it is unambiguous: a UTF-8 byte-order mark,
CRLF or CR line ends, spaces around cells, empty lines (or lines of commas) at the end of the
file; and step-END labels ``00:05`` ... ``24:00`` (a row labelled ``24:00`` can only end the day),
or a closing ``24:00`` row after a start-labelled day that repeats the last row's values (how
step plots and tariff tables close a day). An empty line inside the table, or a closing
``24:00`` row with other values (which interval would they belong to?), is an error.
"""

from __future__ import annotations

import io
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
        """Number of peers (load columns)."""
        return self.load_kw.values.shape[1]


def format_minute(minute: int) -> str:
    """Minutes after midnight as ``HH:MM``."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_time(text: str, *, end_of_day: bool = False) -> int | None:
    """Minutes after midnight of ``HH:MM[:SS]`` (seconds must be 0), or None.

    ``end_of_day``: also read ``24:00[:00]``, the end of the day, as 1440.
    """
    match = _TIME.match(text.strip())
    if not match:
        return None
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if end_of_day and hours == 24 and minutes == 0 and not seconds:
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59 or seconds:
        return None
    return hours * 60 + minutes


def _blank(line: str) -> bool:
    """An empty line, or one of only commas and spaces (spreadsheets write those below a table)."""
    return not line.replace(",", "").strip()


def read_table(path: Path) -> pd.DataFrame:
    """All cells as text; the header as written (pandas would rename a repeated column).

    A UTF-8 byte-order mark, CRLF/CR line ends and empty lines at the end are accepted; an empty
    line inside the table is an error (a row lost in an edit?), and so is a ';'-separated file.
    """
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start}); save it as UTF-8 CSV") from None
    lines = text.splitlines()
    while lines and _blank(lines[-1]):
        lines.pop()
    if not lines:
        raise InputError(path, "not a readable CSV file (the file is empty)")
    for r, line in enumerate(lines):
        if _blank(line):
            raise InputError(
                path, "empty line inside the table (only the end of a file may have empty lines)", row=r + 1
            )
    header = [c.strip() for c in lines[0].split(",")]
    if len(header) == 1 and ";" in lines[0]:
        raise InputError(path, f"header {lines[0]!r} is separated by ';'; lec-opt reads comma-separated files", row=1)
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
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


def _not_a_time_of_day(text: object) -> str:
    """The message for a one-day table's time that is not ``HH:MM``; a date-time means a period's folder."""
    if re.match(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", str(text).strip()):
        return (
            f"time {text!r} is a date-time: this folder holds a period of days, and one day is read here. "
            "Solve it with solve-period, or give the period (--start and --days, or [period] in the scenario)"
        )
    return f"time {text!r} is not HH:MM within one day"


def _time_axis(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, int]:
    """Check the ``time`` column and return the rows of the day (start-labelled) and the step.

    Start labels from 00:00, uniform, no duplicates or gaps; or end labels up to 24:00 (the same
    rows, each the step that ends at its label); or start labels with a closing 24:00 row that
    repeats the last row (dropped).
    """
    minutes = []
    for r, text in enumerate(frame["time"]):
        minute = parse_time(text, end_of_day=True)
        if minute is None:
            raise InputError(path, _not_a_time_of_day(text), row=r + 2, field="time")
        minutes.append(minute)
    if len(minutes) >= 2 and minutes[-1] == MINUTES_PER_DAY and minutes[0] == 0:
        last, before = (pd.to_numeric(frame.iloc[k, 1:], errors="coerce").to_numpy(dtype=float) for k in (-1, -2))
        if not np.array_equal(last, before):
            raise InputError(
                path,
                f"a closing row at {frame['time'].iloc[-1]} after a day that starts at 00:00 must repeat the row "
                f"before it (a day's last step starts at {frame['time'].iloc[-2]}); its values differ",
                row=len(minutes) + 1,
                field="time",
            )
        frame, minutes = frame.iloc[:-1], minutes[:-1]
    elif minutes[-1] == MINUTES_PER_DAY and minutes[0] > 0:
        minutes = [m - minutes[0] for m in minutes]  # end labels: the step ending at m starts at m - step
    elif MINUTES_PER_DAY in minutes:
        r = minutes.index(MINUTES_PER_DAY)
        raise InputError(path, "24:00 ends the day: it can only be the last row", row=r + 2, field="time")
    if minutes[0] != 0:
        raise InputError(
            path, f"the day must start at 00:00 (or end at 24:00), not {frame['time'].iloc[0]}", row=2, field="time"
        )
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
                f"time out of order: a row {step} min after {frame['time'].iloc[r - 1]} should follow it, "
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
    return frame, step


def check_header(header: list[str], path: Path, prefix: str, n_columns: int | None = None) -> list[str]:
    """The data columns of a profile table's header ``time,<prefix>1,<prefix>2,...``, checked in
    order: InputError naming the file, row 1 and the first column that is twice there, missing, out
    of order, or beyond ``n_columns``."""
    if not header or header[0] != "time":
        found = header[0] if header else ""
        raise InputError(path, f"first column must be 'time', found {found!r}", row=1, field=found or "time")
    columns = header[1:]
    if not columns:
        raise InputError(path, f"no data columns after 'time' (expected {prefix}1, {prefix}2, ...)", row=1)
    for n, name in enumerate(columns):
        if name in columns[:n]:
            raise InputError(path, f"column {name!r} appears twice in the header", row=1, field=name)
    for n, name in enumerate(columns):
        want = f"{prefix}{n + 1}"
        if name == want:
            continue
        if want in columns:
            raise InputError(path, f"column {name!r} comes before {want!r}: the columns go in order", row=1, field=name)
        raise InputError(path, f"column {want!r} is missing ({name!r} stands in its place)", row=1, field=name)
    if n_columns is not None and len(columns) != n_columns:
        if len(columns) < n_columns:
            what = f"{prefix}{len(columns) + 1}" + (f"..{prefix}{n_columns}" if n_columns > len(columns) + 1 else "")
            detail = f": {what} missing"
        else:
            detail = f": {prefix}{n_columns + 1} onwards not expected"
        raise InputError(path, f"{len(columns)} '{prefix}' columns, expected {n_columns}{detail}", row=1)
    return columns


def check_same_peers(load: Path, load_columns: int, pv: Path, pv_columns: int) -> None:
    """The load and PV tables have one column per peer each: when they disagree, the one with fewer
    columns lacks the other's last ones, and the message names both files."""
    if load_columns == pv_columns:
        return
    short, long_, fewer, more = (
        (load, pv, load_columns, pv_columns) if load_columns < pv_columns else (pv, load, pv_columns, load_columns)
    )
    missing = f"peer_{fewer + 1}" + (f"..peer_{more}" if more > fewer + 1 else "")
    raise InputError(
        short,
        f"has {fewer} 'peer_' columns but {long_.name} has {more}: {missing} missing here",
        row=1,
        field=f"peer_{fewer + 1}",
    )


def read_series(path: Path, prefix: str, n_columns: int | None = None) -> Series:
    """Read ``time,<prefix>1,...`` with every check of the data format."""
    frame = read_table(path)
    columns = check_header(list(frame.columns), path, prefix, n_columns)
    frame, step = _time_axis(frame, path)
    return Series(path, step, tuple(columns), _numeric(frame, columns, path))


def read_bids(path: Path, n_peers: int) -> tuple[np.ndarray, np.ndarray]:
    """Read ``peer,ask,bid`` ($/kWh) for peers 1..n_peers; returns (ask, bid) arrays."""
    frame = read_table(path)
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
    pv = read_series(folder / PV_FILE, "peer_")
    check_same_peers(load.path, n, pv.path, pv.values.shape[1])
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
    """Write a ``time,<prefix>1,...`` profile CSV with ``decimals`` decimals."""
    step = MINUTES_PER_DAY // values.shape[0]
    frame = pd.DataFrame(np.round(values, decimals), columns=[f"{prefix}{k}" for k in range(1, values.shape[1] + 1)])
    frame.insert(0, "time", [format_minute(m) for m in range(0, MINUTES_PER_DAY, step)])
    write_csv(path, frame, float_format=f"%.{decimals}f")


def write_bids(path: Path, ask: np.ndarray, bid: np.ndarray) -> None:
    """Write bids_asks.csv (``peer,ask,bid``)."""
    frame = pd.DataFrame({"peer": np.arange(1, len(ask) + 1), "ask": ask, "bid": bid})
    write_csv(path, frame, float_format="%.4f")


def read_tariffs(path: Path) -> Series:
    """A tariff time series ``time,buy,sell`` ($/kWh), with sell below buy in every row."""
    frame = read_table(path)
    if list(frame.columns) != ["time", "buy", "sell"]:
        raise InputError(path, f"header must be 'time,buy,sell', found {','.join(frame.columns)!r}", row=1)
    frame, step = _time_axis(frame, path)
    values = _numeric(frame, ["buy", "sell"], path)
    above = np.flatnonzero(values[:, 1] >= values[:, 0])
    if above.size:
        r = above[0]
        raise InputError(
            path, f"sell price {values[r, 1]} is not below buy price {values[r, 0]}", row=r + 2, field="sell"
        )
    return Series(path, step, ("buy", "sell"), values)
