"""A weather file the user brings (EPW or TMY3, read with pvlib.iotools) as a typical year of hours.

The file's hours are mapped by month, day and hour onto any date (a typical year has no year of its
own; 29 February takes 28 February's weather), in the site's standard clock: a file written in
another time zone is shifted by the difference. EPW rows are labelled by the hour they end
(hour 1 = 00:00-01:00, pvlib labels it 00:00); TMY3 rows too (01:00 = 00:00-01:00, which pvlib keeps
at 01:00, so it is moved back an hour here). Every value is checked before any generation; an error
names the file, its line (as a text editor counts them) and the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.errors import InputError

HOURS = 8760
FIELDS = {  # pvlib's column: (plausible range, unit)
    "ghi": ((0.0, 1500.0), "W/m²"),
    "temp_air": ((-70.0, 60.0), "°C"),
    "wind_speed": ((0.0, 60.0), "m/s"),
}
MAX_SITE_DISTANCE_DEG = 1.0  # a file further from [site] than this (latitude or longitude) is refused


@dataclass(frozen=True)
class WeatherYear:
    """Hourly weather in the site's clock: ``values[field][(month, day)]`` = 24 hourly means."""

    path: Path
    kind: str
    latitude: float
    longitude: float
    tz_hours: float
    ghi: dict[tuple[int, int], np.ndarray]
    temp_air: dict[tuple[int, int], np.ndarray]
    wind_speed: dict[tuple[int, int], np.ndarray]

    def day(self, date: dt.date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """GHI (W/m²), air temperature (°C) and wind speed (m/s), 24 hourly means of ``date``."""
        key = (date.month, date.day) if (date.month, date.day) != (2, 29) else (2, 28)
        return self.ghi[key], self.temp_air[key], self.wind_speed[key]


def _kind(path: Path) -> str:
    if not path.is_file():
        raise InputError(path, "weather file not found")
    suffix = path.suffix.lower()
    if suffix == ".epw":
        return "EPW"
    if suffix == ".csv":
        return "TMY3"
    raise InputError(path, f"weather file must be EPW (.epw) or TMY3 (.csv), not {suffix or 'no extension'!r}")


def read_weather(path: str | Path, latitude: float, longitude: float, utc_offset_hours: float) -> WeatherYear:
    """Read and check an EPW or TMY3 file for a site at (``latitude``, ``longitude``)."""
    import pvlib

    path = Path(path)
    kind = _kind(path)
    first_data_line = 9 if kind == "EPW" else 3  # EPW: 8 header lines; TMY3: metadata + column names
    try:
        if kind == "EPW":
            data, meta = pvlib.iotools.read_epw(path)
        else:
            data, meta = pvlib.iotools.read_tmy3(path, map_variables=True)
    except (ValueError, KeyError, IndexError, TypeError, pd.errors.ParserError) as err:
        raise InputError(path, f"not a readable {kind} file ({type(err).__name__}: {err})") from None
    if len(data) != HOURS:
        raise InputError(
            path, f"{len(data)} hourly rows; a typical year has {HOURS}", row=first_data_line + min(len(data), HOURS)
        )
    for name, value in (("latitude", meta["latitude"]), ("longitude", meta["longitude"])):
        site_value = latitude if name == "latitude" else longitude
        if abs(value - site_value) > MAX_SITE_DISTANCE_DEG:
            raise InputError(
                path,
                f"the file's {name} {value} is more than {MAX_SITE_DISTANCE_DEG}° from the scenario's [site] "
                f"{name} {site_value}: set [site] to the weather station's location",
                row=1,
                field=name,
            )
    values = {}
    for field, ((lo, hi), unit) in FIELDS.items():
        if field not in data.columns:
            raise InputError(
                path, f"no column {field!r} after reading with pvlib", row=first_data_line - 1, field=field
            )
        column = pd.to_numeric(data[field], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(column) | (column < lo) | (column > hi))
        if bad.size:
            r = int(bad[0])
            raise InputError(
                path,
                f"{field} = {data[field].iloc[r]!r} is not a number in [{lo:g}, {hi:g}] {unit} (missing-value codes "
                "such as 9999 are not filled in by lec-opt)",
                row=first_data_line + r,
                field=field,
            )
        values[field] = column
    index = data.index
    if kind == "TMY3":
        index = index - pd.Timedelta(hours=1)  # hour-ending labels -> start of the hour
    # move every row into the site's standard clock, keeping the typical year's hours in a ring
    shift = int(round((utc_offset_hours - float(meta["TZ"])) * 60))
    if shift % 60:
        raise InputError(path, "the file's time zone and [site] utc_offset_hours differ by a fraction of an hour")
    start = index.tz_localize(None) + pd.Timedelta(minutes=shift)
    day_of_year = [
        (dt.date(2023, m, min(d, 28) if m == 2 else d) - dt.date(2023, 1, 1)).days
        for m, d in zip(start.month, start.day)
    ]
    hour_of_year = np.asarray(day_of_year, dtype=int) * 24 + np.asarray(start.hour, dtype=int)
    if np.unique(hour_of_year).size != HOURS:
        r = int(np.flatnonzero(pd.Series(hour_of_year).duplicated().to_numpy())[0])
        raise InputError(
            path, f"the hour of {index[r]} appears twice in the typical year", row=first_data_line + r, field="time"
        )
    order = np.empty(HOURS, dtype=int)
    order[hour_of_year] = np.arange(HOURS)
    days = [dt.date(2023, 1, 1) + dt.timedelta(days=d) for d in range(365)]
    tables = {field: {} for field in FIELDS}
    for field, column in values.items():
        by_hour = column[order].reshape(365, 24)
        for d, date in enumerate(days):
            tables[field][(date.month, date.day)] = by_hour[d]
    return WeatherYear(path, kind, float(meta["latitude"]), float(meta["longitude"]), float(meta["TZ"]), **tables)
