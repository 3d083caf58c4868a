"""The data summary behind ``lec-opt data info``: Table 1 beside the paper, daily totals, windows."""

from __future__ import annotations

import numpy as np

from lec_opt.io.profiles import parse_time
from lec_opt.market.snapshot import DayInputs
from lec_opt.paper import TABLE1


def _first_last(mask: np.ndarray) -> tuple[int | None, int | None]:
    idx = np.flatnonzero(mask)
    return (int(idx[0]), int(idx[-1])) if idx.size else (None, None)


def _zero_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs [first, last] of True in a boolean series."""
    runs, start = [], None
    for t, on in enumerate(mask):
        if on and start is None:
            start = t
        if not on and start is not None:
            runs.append((start, t - 1))
            start = None
    if start is not None:
        runs.append((start, len(mask) - 1))
    return runs


def data_info(day: DayInputs) -> dict:
    """Everything ``data info`` prints, as plain JSON-ready data."""
    deficit = day.community_deficit_kw()
    surplus = day.community_surplus_kw()
    table1 = []
    for row in TABLE1:
        t = day.interval_at(parse_time(row.time))
        table1.append(
            {
                "time": row.time,
                "interval": t,
                "consumer_deficit_kw": round(float(deficit[t]), 3),
                "prosumer_surplus_kw": round(float(surplus[t]), 3),
                "paper_consumer_deficit_kw": row.consumer_deficit_kw,
                "paper_prosumer_surplus_kw": row.prosumer_surplus_kw,
                "sellers": int((day.net_kwh[t] > 0).sum()),
                "buyers": int((day.net_kwh[t] < 0).sum()),
            }
        )
    load_kw = day.load_kwh.sum(axis=1) / day.hours
    ev_on = day.ev_kwh > 1e-9
    ev_first, ev_last = _first_last(ev_on)
    runs = _zero_runs(~ev_on)
    longest_idle = max(runs, key=lambda r: r[1] - r[0]) if runs else None
    pv_first, pv_last = _first_last(surplus > 0)
    return {
        "scenario": day.scenario.name,
        "data_dir": str(day.data_dir),
        "interval_minutes": day.interval_minutes,
        "intervals": day.n_intervals,
        "n_peers": day.n_peers,
        "prosumers": int(day.prosumer.sum()),
        "table1": table1,
        "daily_load_kwh": round(float(day.load_kwh.sum()), 3),
        "daily_pv_kwh": round(float(day.pv_kwh.sum()), 3),
        "peak_load_kw": round(float(load_kw.max()), 3),
        "peak_load_time": day.start(int(load_kw.argmax())),
        "peak_load_kw_native": round(day.load_peak_kw_native, 3),
        "ev_kwh": round(float(day.ev_kwh.sum()), 3),
        "ev_first_interval": ev_first,
        "ev_last_interval": ev_last,
        "ev_longest_idle_intervals": list(longest_idle) if longest_idle else None,
        "pv_surplus_first_interval": pv_first,
        "pv_surplus_last_interval": pv_last,
    }
