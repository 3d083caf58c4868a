"""Multi-day data folders: reading and writing profiles of a run of dates.

A multi-day folder has the same files as a one-day folder, but the ``time`` column of the three
profile tables holds ISO date-times ``YYYY-MM-DDTHH:MM`` in the site's standard clock time (no
daylight saving), ascending, evenly spaced with a step that divides a day, covering whole days
from 00:00 of the first day to the last step of the last day. Each profile table is stored as
``<name>.csv`` or ``<name>.parquet`` (exactly one of the two). ``bids_asks.csv`` is one table for
the whole period. A one-day folder (times ``HH:MM``) stays valid: it means "this same day on
every date". Rows of a Parquet file are numbered from 1 (its first data row); rows of a CSV file
like a spreadsheet (the header is row 1).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.errors import InputError
from lec_opt.io.atomic import atomic_open, write_csv
from lec_opt.io.profiles import (
    BIDS_FILE,
    EV_FILE,
    LOAD_FILE,
    MINUTES_PER_DAY,
    PV_FILE,
    Profiles,
    Series,
    check_header,
    check_same_peers,
    format_minute,
    parse_time,
    read_bids,
    read_series,
    read_table,
)

PROFILE_STEMS = {LOAD_FILE: "load_kw", PV_FILE: "pv_kw_per_kwp", EV_FILE: "ev_kw"}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:00)?$")


@dataclass(frozen=True)
class PeriodProfiles:
    """A community's days as read from a data folder: ``values[step of the period, column]``.

    ``dates`` is empty for a one-day folder, whose day stands for every date (``repeats``).
    """

    folder: Path
    dates: tuple[datetime.date, ...]
    step_minutes: int
    load_kw: Series
    pv_kw_per_kwp: Series
    ev_kw: Series
    ask: np.ndarray
    bid: np.ndarray

    @property
    def repeats(self) -> bool:
        """A one-day folder: the same day on every date."""
        return not self.dates

    @property
    def n_peers(self) -> int:
        """The number of peers (load columns)."""
        return self.load_kw.values.shape[1]

    @property
    def steps_per_day(self) -> int:
        """Rows per date."""
        return MINUTES_PER_DAY // self.step_minutes

    def check_covers(self, start: datetime.date, days: int) -> None:
        """InputError naming the load file when the folder does not hold every date of the period."""
        if self.repeats:
            return
        last = start + datetime.timedelta(days=days - 1)
        first_date, last_date = self.dates[0], self.dates[-1]
        if start < first_date or last > last_date:
            raise InputError(
                self.load_kw.path,
                f"the period {start}..{last} ({days} days) is not inside the data's dates {first_date}..{last_date}",
                field="time",
            )

    def day(self, date: datetime.date) -> Profiles:
        """The one-day ``Profiles`` of ``date`` (minutes 0..1439 of that date)."""
        if self.repeats:
            return Profiles(self.folder, self.load_kw, self.pv_kw_per_kwp, self.ev_kw, self.ask, self.bid)
        n = (date - self.dates[0]).days
        if not 0 <= n < len(self.dates):
            raise InputError(
                self.load_kw.path, f"no data for {date} (the data covers {self.dates[0]}..{self.dates[-1]})"
            )
        rows = slice(n * self.steps_per_day, (n + 1) * self.steps_per_day)

        def cut(series: Series) -> Series:
            return Series(series.path, series.step_minutes, series.columns, series.values[rows])

        return Profiles(self.folder, cut(self.load_kw), cut(self.pv_kw_per_kwp), cut(self.ev_kw), self.ask, self.bid)


def profile_file(folder: Path, name: str) -> Path:
    """``<stem>.csv`` or ``<stem>.parquet`` in ``folder`` (exactly one of the two)."""
    stem = PROFILE_STEMS[name]
    csv, parquet = folder / f"{stem}.csv", folder / f"{stem}.parquet"
    if csv.is_file() and parquet.is_file():
        raise InputError(parquet, f"both {csv.name} and {parquet.name} exist; keep one of the two")
    if parquet.is_file():
        return parquet
    if not csv.is_file():
        raise InputError(csv, f"file not found (nor {parquet.name})")
    return csv


def _read_frame(path: Path) -> tuple[pd.DataFrame, int]:
    """The table of a CSV or Parquet profile file and the row number of its first data row."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises many types for a broken file
            raise InputError(path, f"not a readable Parquet file ({type(err).__name__}: {err})") from None
        frame = table.to_pandas()
        if frame.empty:
            raise InputError(path, "has columns but no data rows")
        frame.columns = [str(c) for c in frame.columns]
        return frame, 1
    return read_table(path), 2


def _period_times(frame: pd.DataFrame, path: Path, first_row: int) -> tuple[tuple[datetime.date, ...], int]:
    """Check the date-time axis of a multi-day table; its dates and its step in minutes."""
    time = frame["time"]
    if pd.api.types.is_datetime64_any_dtype(time):
        if getattr(time.dt, "tz", None) is not None:
            raise InputError(
                path, "time has a time zone; write the site's standard clock time without one", field="time"
            )
        stamps = time
    else:
        text = time.astype(str).str.strip()
        bad = np.flatnonzero(~text.str.match(_DATETIME).to_numpy())
        if bad.size:
            r = int(bad[0])
            raise InputError(path, f"time {text.iloc[r]!r} is not YYYY-MM-DDTHH:MM", row=r + first_row, field="time")
        stamps = pd.to_datetime(text.str.replace(" ", "T", regex=False), format="ISO8601", errors="coerce")
        bad = np.flatnonzero(stamps.isna().to_numpy())
        if bad.size:
            r = int(bad[0])
            raise InputError(path, f"time {text.iloc[r]!r} is not a valid date-time", row=r + first_row, field="time")
    label = lambda r: str(time.iloc[r])  # noqa: E731
    minutes = stamps.to_numpy().astype("datetime64[m]").astype(np.int64)
    if minutes[0] % MINUTES_PER_DAY:
        raise InputError(path, f"the first day must start at 00:00, not {label(0)}", row=first_row, field="time")
    if len(minutes) == 1:
        raise InputError(path, "one row cannot cover a day; expected a row per step", field="time")
    step = int(minutes[1] - minutes[0])
    delta = np.diff(minutes)
    wrong = np.flatnonzero(delta != step) + 1
    if step > 0 and MINUTES_PER_DAY % step == 0 and not wrong.size:
        pass
    elif step <= 0 or (wrong.size and wrong[0] == 1):
        what = "duplicate time" if step == 0 else "time out of order"
        raise InputError(path, f"{what}: {label(1)} after {label(0)}", row=1 + first_row, field="time")
    elif MINUTES_PER_DAY % step:
        raise InputError(path, f"step of {step} min does not divide a day", row=1 + first_row, field="time")
    if wrong.size:
        r = int(wrong[0])
        d = int(delta[r - 1])
        what = "duplicate time" if d == 0 else "time out of order" if d < 0 else "gap"
        raise InputError(
            path,
            f"{what}: {label(r - 1)} is followed by {label(r)} (step is {step} min)",
            row=r + first_row,
            field="time",
        )
    per_day = MINUTES_PER_DAY // step
    if len(minutes) % per_day:
        r = len(minutes) - 1
        raise InputError(
            path,
            f"the last day is not whole: it ends at {label(r)}, a day's last step starts at "
            f"{format_minute(MINUTES_PER_DAY - step)}",
            row=r + first_row,
            field="time",
        )
    first = datetime.date(1970, 1, 1) + datetime.timedelta(days=int(minutes[0] // MINUTES_PER_DAY))
    return tuple(first + datetime.timedelta(days=d) for d in range(len(minutes) // per_day)), step


def _period_numeric(frame: pd.DataFrame, columns: list[str], path: Path, first_row: int) -> np.ndarray:
    values = np.empty((len(frame), len(columns)))
    for c, name in enumerate(columns):
        column = frame[name]
        numbers = column if pd.api.types.is_float_dtype(column) else pd.to_numeric(column, errors="coerce")
        data = numbers.to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(data))
        if bad.size:
            r = int(bad[0])
            raise InputError(path, f"not a finite number: {column.iloc[r]!r}", row=r + first_row, field=name)
        negative = np.flatnonzero(data < 0)
        if negative.size:
            r = int(negative[0])
            raise InputError(path, f"negative value {data[r]}", row=r + first_row, field=name)
        values[:, c] = data
    return values


def _first_time(path: Path) -> str | None:
    """The ``time`` cell of a CSV file's first data row (None when the file has none)."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            header = [c.strip() for c in handle.readline().split(",")]
            first = handle.readline().split(",")
    except OSError:
        return None
    return first[0].strip() if header and header[0] == "time" and first and first[0].strip() else None


def folder_period(folder: str | Path) -> tuple[datetime.date, int] | None:
    """The first date and the number of days of a multi-day data folder, read from the load table's
    ``time`` column alone (the whole folder is checked when it is read); None for a one-day folder."""
    path = profile_file(Path(folder), LOAD_FILE)
    try:
        if path.suffix == ".csv":
            first = _first_time(path)
            if first is None or parse_time(first, end_of_day=True) is not None:
                return None
            time = pd.read_csv(path, usecols=["time"], dtype={"time": str}, encoding="utf-8-sig")["time"]
        else:
            import pyarrow.parquet as pq

            time = pq.read_table(path, columns=["time"]).to_pandas()["time"]
        stamps = pd.to_datetime(time.astype(str).str.strip().str.replace(" ", "T", regex=False), format="ISO8601")
    except Exception:  # noqa: BLE001 - an unreadable table is reported, with its row, when the folder is read
        return None
    first, last = stamps.min().date(), (stamps.max() - pd.Timedelta(minutes=1)).date()
    return first, max((last - first).days + 1, 1)


def read_period_series(path: Path, prefix: str, n_columns: int | None = None) -> tuple[Series, tuple]:
    """A profile table of a one-day (``HH:MM``) or multi-day (date-time) folder, and its dates
    (empty for one day)."""
    if path.suffix == ".csv":
        first = _first_time(path)
        if first is None or parse_time(first, end_of_day=True) is not None:
            return read_series(path, prefix, n_columns), ()  # a one-day table, with every check of that format
        try:  # numbers as numbers, only the time column as text: a year of 5-minute rows is read in seconds
            frame = pd.read_csv(path, dtype={"time": str}, skipinitialspace=True, encoding="utf-8-sig")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
            raise InputError(path, f"not a readable CSV file ({err})") from None
        frame.columns = [str(c).strip() for c in frame.columns]
        first_row = 2
    else:
        frame, first_row = _read_frame(path)
        time = frame["time"] if "time" in frame.columns else None
        if time is not None and not pd.api.types.is_datetime64_any_dtype(time):
            if parse_time(str(time.iloc[0]), end_of_day=True) is not None:
                raise InputError(
                    path, "a Parquet profile needs date-times YYYY-MM-DDTHH:MM in 'time'", row=1, field="time"
                )
    columns = check_header(list(frame.columns), path, prefix, n_columns)
    dates, step = _period_times(frame, path, first_row)
    return Series(path, step, tuple(columns), _period_numeric(frame, columns, path, first_row)), dates


def read_period(folder: str | Path, n_peers: int | None = None, bids_file: str = BIDS_FILE) -> PeriodProfiles:
    """Read and check a one-day or multi-day data folder (CSV or Parquet profiles).

    Errors name the file, the row and the field: a missing or duplicated time, a gap, a day that
    is not whole, the three tables disagreeing on dates or step.

    >>> data = read_period("data/year")
    >>> data.dates[0], data.step_minutes, data.day(data.dates[0]).n_peers
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "data folder not found")
    load, dates = read_period_series(profile_file(folder, LOAD_FILE), "peer_")
    n = load.values.shape[1]
    if n_peers is not None and n != n_peers:
        raise InputError(load.path, f"has {n} peers but the scenario says community.n_peers = {n_peers}", row=1)
    pv, pv_dates = read_period_series(profile_file(folder, PV_FILE), "peer_")
    check_same_peers(load.path, n, pv.path, pv.values.shape[1])
    ev, ev_dates = read_period_series(profile_file(folder, EV_FILE), "ev_")
    for series, its_dates in ((pv, pv_dates), (ev, ev_dates)):
        if its_dates != dates:

            def span(d):
                return f"{d[0]}..{d[-1]} ({len(d)} days)" if d else "one day (HH:MM)"

            raise InputError(
                series.path, f"covers {span(its_dates)} but {load.path.name} covers {span(dates)}", field="time"
            )
    steps = {s.path.name: s.step_minutes for s in (load, pv, ev)}
    if dates and len(set(steps.values())) > 1:
        raise InputError(ev.path, f"the tables' steps differ: {steps} (minutes)", field="time")
    ask, bid = read_bids(folder / bids_file, n)
    return PeriodProfiles(folder, dates, load.step_minutes, load, pv, ev, ask, bid)


def period_times(start: datetime.date, days: int, step_minutes: int) -> list[str]:
    """The ``time`` labels ``YYYY-MM-DDTHH:MM`` of ``days`` whole days from ``start``."""
    labels = [format_minute(m) for m in range(0, MINUTES_PER_DAY, step_minutes)]
    return [f"{start + datetime.timedelta(days=d)}T{hhmm}" for d in range(days) for hhmm in labels]


def write_period_series(
    path: Path, prefix: str, values: np.ndarray, start: datetime.date, step_minutes: int, decimals: int = 4
) -> None:
    """A multi-day profile table (``.csv`` or ``.parquet`` by the suffix of ``path``), written atomically."""
    days = values.shape[0] * step_minutes // MINUTES_PER_DAY
    frame = pd.DataFrame(np.round(values, decimals), columns=[f"{prefix}{k}" for k in range(1, values.shape[1] + 1)])
    frame.insert(0, "time", period_times(start, days, step_minutes))
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with atomic_open(path, "wb") as handle:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), handle)
    else:
        write_csv(path, frame, float_format=f"%.{decimals}f")
