"""Importer for the IEEE European LV Test Feeder load profiles (the data the paper used).

Users download the feeder themselves; we read a folder of ``Load_profile_<n>.csv`` files, each
with header ``time,mult`` and 1440 one-minute rows of kW labelled at the END of each minute:
``00:01:00`` ... ``23:59:00`` and then ``24:00:00`` (the files as distributed) or ``00:00:00``
(as some tools rewrite them). ``manifest.json`` records which label each file's last row used.
Nothing is downloaded here.
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
    """The ``Load_profile_<n>.csv`` files of a folder in the order of n; an error when there are none."""
    if not folder.is_dir():
        raise InputError(folder, "folder not found")
    found = sorted((int(m[1]), p) for p in folder.iterdir() if (m := _NAME.match(p.name)))
    if not found:
        raise InputError(folder, "no Load_profile_<n>.csv files in this folder")
    return [p for _, p in found]


MIDNIGHT_LABELS = ("24:00:00", "00:00:00")  # the last row's label: as distributed, or rewritten


def read_ieee_profile_labelled(path: Path) -> tuple[np.ndarray, str]:
    """One household's 1440 one-minute kW values (re-labelled to the START of each minute), and
    the label its last row used for midnight (one of ``MIDNIGHT_LABELS``)."""
    frame = fmt.read_table(path)
    if list(frame.columns) != ["time", "mult"]:
        raise InputError(path, f"header must be 'time,mult', found {','.join(frame.columns)!r}", row=1)
    if len(frame) != fmt.MINUTES_PER_DAY:
        raise InputError(path, f"{len(frame)} rows; a one-minute day needs {fmt.MINUTES_PER_DAY}", field="time")
    for r, text in enumerate(frame["time"]):
        expected = r + 1
        minute = fmt.parse_time(text, end_of_day=True)
        if expected == fmt.MINUTES_PER_DAY and minute == 0:
            continue  # 00:00:00 for the minute that ends at midnight
        if minute != expected:
            wanted = (
                "24:00:00 (or 00:00:00)" if expected == fmt.MINUTES_PER_DAY else f"{fmt.format_minute(expected)}:00"
            )
            raise InputError(
                path, f"time {text!r} where {wanted} was expected (minute-end labels)", row=r + 2, field="time"
            )
    values = pd.to_numeric(frame["mult"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        r = bad[0]
        raise InputError(
            path, f"load must be a finite number >= 0, found {frame['mult'].iloc[r]!r}", row=r + 2, field="mult"
        )
    midnight = "24:00:00" if fmt.parse_time(frame["time"].iloc[-1], end_of_day=True) else "00:00:00"
    return values, midnight  # row r ends at minute r+1, i.e. it is the minute that starts at r


def read_ieee_profile(path: Path) -> np.ndarray:
    """One household's 1440 one-minute kW values, re-labelled to the START of each minute."""
    return read_ieee_profile_labelled(path)[0]


def import_ieee_lv(source: str | Path, out: str | Path, pv_ev_from: str | Path, n_peers: int | None = None) -> Path:
    """Write a data folder with the feeder's loads and PV/EV/bids taken from ``pv_ev_from``.

    PV per kWp and bids are per peer: peer k takes column ((k-1) mod m) + 1 of the donor's m peers.
    """
    files = find_profiles(Path(source))
    if n_peers is not None:
        if not 1 <= n_peers <= len(files):
            raise InputError(source, f"asked for {n_peers} peers but the folder has {len(files)} profiles")
        files = files[:n_peers]
    read = [read_ieee_profile_labelled(p) for p in files]
    load = np.column_stack([values for values, _ in read])
    midnight = {label: [p.name for p, (_, used) in zip(files, read) if used == label] for label in MIDNIGHT_LABELS}
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
            "time_labels": "minute end: row k (1-based) is the minute from k-1 to k",
            "midnight_label": {label: names for label, names in midnight.items() if names},
            "pv_ev_bids_from": str(Path(pv_ev_from).resolve()),
        },
    )
    return out
