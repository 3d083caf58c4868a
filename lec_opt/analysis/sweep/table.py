"""sweep.csv: one row per finished point, in grid order, in one wide format.

Columns: the swept fields first, named by their dotted paths (numeric ones first), then (with two
or more axes) a ``series`` column naming the other axes' values, the day's metrics (``METRICS``,
then any other scalar key of the day's summary), the timings, and ``status``/``error``/``hash``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from lec_opt.analysis.sweep.points import Point
from lec_opt.analysis.sweep.spec import Axis, format_value
from lec_opt.io.atomic import write_csv

SWEEP_FILE = "sweep.csv"

# Metric columns of sweep.csv, in this order; any other scalar key of the day's summary follows them.
METRICS = (
    "p2p_energy_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "ces_charge_kwh",
    "ces_discharge_kwh",
    "ces_soc_min",
    "ces_soc_max",
    "prosumer_revenue_ratio",
    "consumer_bill_ratio",
    "ces_soc_end",
    "grid_to_ces_kwh",
    "ev_kwh",
    "ev_from_ces_kwh",
    "ev_from_grid_kwh",
    "prosumer_revenue_p2p_usd",
    "prosumer_revenue_grid_only_usd",
    "consumer_bill_p2p_usd",
    "consumer_bill_grid_only_usd",
    "ev_bill_usd",
    "ces_cash_usd",
    "ces_degradation_usd",
    "community_saving_usd",
    "score",
    "priority_A",
    "priority_B",
    "priority_C",
    "transactions",
    "fallbacks",
    "alone_A_score",
    "alone_B_score",
    "alone_C_score",
    "alone_A_p2p_energy_kwh",
    "alone_B_p2p_energy_kwh",
    "alone_C_p2p_energy_kwh",
)
TIMING = ("solve_seconds", "matching_seconds")  # vary run to run
TRAILER = ("status", "error", "hash")
SERIES = "series"


def _columns_first(axes: Sequence[Axis], points: Sequence[Point]) -> list[str]:
    """Axis columns, a numeric one first (the first column is the one a reader plots against)."""
    numeric = [
        a.path
        for a in axes
        if all(isinstance(p.params[a.path], int | float) and not isinstance(p.params[a.path], bool) for p in points)
    ]
    return numeric + [a.path for a in axes if a.path not in numeric]


def sweep_frame(points: Sequence[Point], records: Mapping[str, dict], axes: Sequence[Axis]) -> pd.DataFrame:
    """sweep.csv's rows: the finished points in grid order."""
    params = _columns_first(axes, points)
    rows, extra = [], []
    for point in points:
        record = records.get(point.hash)
        if record is None:
            continue
        row = {p: point.params[p] for p in params}
        if len(params) > 1:
            row[SERIES] = ", ".join(f"{p}={format_value(point.params[p])}" for p in params[1:])
        metrics = record.get("metrics") or {}
        for key in metrics:
            if key not in METRICS and key not in TIMING and key not in extra:
                extra.append(key)
        row.update(metrics)
        row.update(status=record["status"], error=record.get("error"), hash=point.hash)
        rows.append(row)
    columns = params + ([SERIES] if len(params) > 1 else []) + list(METRICS) + extra + list(TIMING) + list(TRAILER)
    return pd.DataFrame(rows, columns=columns)


def swept_columns(frame: pd.DataFrame) -> list[str]:
    """The swept fields of a sweep.csv table: its columns before ``series`` or the first metric."""
    known = {SERIES, *METRICS, *TIMING, *TRAILER}
    columns = []
    for column in frame.columns:
        if column in known:
            break
        columns.append(str(column))
    return columns


def write_table(folder: Path, frame: pd.DataFrame) -> None:
    """``folder/sweep.csv``, written atomically."""
    write_csv(folder / SWEEP_FILE, frame, float_format="%.10g")
