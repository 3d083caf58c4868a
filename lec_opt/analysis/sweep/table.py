"""sweep.csv: one row per finished point, in grid order, in one wide format.

Columns: the swept fields first, named by their dotted paths (numeric ones first), then (with two
or more axes) a ``series`` column naming the other axes' values, the day's metrics (``SWEEP_METRICS``,
then any other scalar key of the day's summary), the timings, and ``status``/``error``/``hash``:
the layout the results schema (``lec_opt.io.schema``) names, with ``swept_columns``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from lec_opt.analysis.sweep.points import Point
from lec_opt.analysis.sweep.spec import Axis, format_value
from lec_opt.io.atomic import write_csv
from lec_opt.io.schema import SERIES, SWEEP_FILE, SWEEP_METRICS, TIMING, TRAILER


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
            if key not in SWEEP_METRICS and key not in TIMING and key not in extra:
                extra.append(key)
        row.update(metrics)
        row.update(status=record["status"], error=record.get("error"), hash=point.hash)
        rows.append(row)
    columns = (
        params + ([SERIES] if len(params) > 1 else []) + list(SWEEP_METRICS) + extra + list(TIMING) + list(TRAILER)
    )
    return pd.DataFrame(rows, columns=columns)


def write_table(folder: Path, frame: pd.DataFrame) -> None:
    """``folder/sweep.csv``, written atomically."""
    write_csv(folder / SWEEP_FILE, frame, float_format="%.10g")
