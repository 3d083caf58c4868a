"""Importer for the IEEE European LV Test Feeder load profiles (the data the paper used).

Users download the feeder themselves; we read a folder of ``Load_profile_<n>.csv`` files, each
with header ``time,mult`` and 1440 one-minute rows of kW labelled at the END of each minute
(``00:01:00`` ... ``23:59:00``, ``00:00:00``). Nothing is downloaded here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.errors import InputError
from lec_opt.io import profiles as fmt
from lec_opt.io.atomic import write_json, write_text

_NAME = re.compile(r"^Load_profile_(\d+)\.csv$")


def find_profiles(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(folder, "folder not found")
    found = sorted((int(m[1]), p) for p in folder.iterdir() if (m := _NAME.match(p.name)))
    if not found:
        raise InputError(folder, "no Load_profile_<n>.csv files in this folder")
    return [p for _, p in found]


def read_ieee_profile(path: Path) -> np.ndarray:
    """One household's 1440 one-minute kW values, re-labelled to the START of each minute."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV file ({err})") from None
    frame.columns = [c.strip() for c in frame.columns]
    if list(frame.columns) != ["time", "mult"]:
        raise InputError(path, f"header must be 'time,mult', found {','.join(frame.columns)!r}", row=1)
    if len(frame) != fmt.MINUTES_PER_DAY:
        raise InputError(path, f"{len(frame)} rows; a one-minute day needs {fmt.MINUTES_PER_DAY}", field="time")
    for r, text in enumerate(frame["time"]):
        expected = (r + 1) % fmt.MINUTES_PER_DAY
        if fmt.parse_time(text) != expected:
            raise InputError(
                path,
                f"time {text!r} where {fmt.format_minute(expected)}:00 was expected (minute-end labels)",
                row=r + 2,
                field="time",
            )
    values = pd.to_numeric(frame["mult"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        r = bad[0]
        raise InputError(
            path, f"load must be a finite number >= 0, found {frame['mult'].iloc[r]!r}", row=r + 2, field="mult"
        )
    return values  # row r ends at minute r+1, i.e. it is the minute that starts at r


def import_ieee_lv(source: str | Path, out: str | Path, pv_ev_from: str | Path, n_peers: int | None = None) -> Path:
    """Write a data folder with the feeder's loads and PV/EV/bids taken from ``pv_ev_from``.

    PV per kWp and bids are per peer: peer k takes column ((k-1) mod m) + 1 of the donor's m peers.
    """
    files = find_profiles(Path(source))
    if n_peers is not None:
        if not 1 <= n_peers <= len(files):
            raise InputError(source, f"asked for {n_peers} peers but the folder has {len(files)} profiles")
        files = files[:n_peers]
    load = np.column_stack([read_ieee_profile(p) for p in files])
    donor = fmt.read_profiles(pv_ev_from)
    n = load.shape[1]
    take = np.arange(n) % donor.n_peers
    pv = donor.pv_kw_per_kwp.values[:, take]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fmt.write_series(out / fmt.LOAD_FILE, "peer_", load)
    fmt.write_series(out / fmt.PV_FILE, "peer_", pv)
    write_text(out / fmt.EV_FILE, donor.ev_kw.path.read_text(encoding="utf-8"))
    fmt.write_bids(out / fmt.BIDS_FILE, donor.ask[take], donor.bid[take])
    write_json(
        out / fmt.MANIFEST_FILE,
        {
            "format": "lec-opt community day, version 1",
            "source": "IEEE European LV Test Feeder load profiles",
            "load_profiles": [p.name for p in files],
            "pv_ev_bids_from": str(Path(pv_ev_from).resolve()),
        },
    )
    return out
