"""Figure 9b: metrics against a swept parameter, one figure per parameter of ``sweep.csv``.

Kept apart from the day's figures: ``lec_opt.analysis.sweep`` draws its own sweep figures, and
the two are to become one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lec_opt.errors import InputError
from lec_opt.io.results import SWEEP_FILE, Results, sweep_groups
from lec_opt.report.drawing import (
    PRIORITY_COLOURS,
    as_results,
    new_figure,
    out_path,
    save,
)

MAX_SWEEP_METRICS = 9

_UNITS = (("_kwh", "", "kWh"), ("_kw", "", "kW"), ("_usd", "", "$"), ("_seconds", " time", "s"), ("_s", " time", "s"))


def _metric_label(column: str) -> str:
    """``p2p_energy_kwh`` -> ``p2p energy (kWh)``: the unit from the column's suffix, when it has one."""
    for suffix, extra, unit in _UNITS:
        if column.endswith(suffix) and len(column) > len(suffix):
            return f"{column[: -len(suffix)].replace('_', ' ')}{extra} ({unit})"
    return column.replace("_", " ")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_") or "parameter"


def fig_sweeps(results: Results | str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """9b. Metric vs parameter, one figure per swept parameter (from sweep.csv)."""
    res = as_results(results)
    path = res.dir / SWEEP_FILE
    if res.sweep is None:
        raise InputError(path, "file not found (written by the sweep command)")
    written = []
    for name, rows, x, metrics in sweep_groups(res.sweep, path):
        shown = metrics[:MAX_SWEEP_METRICS]
        ncols = min(3, len(shown))
        nrows = math.ceil(len(shown) / ncols)
        fig = new_figure("sweep")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        series_col = next((c for c in ("priority", "method", "series") if c in rows.columns), None)
        series = list(rows.groupby(series_col, sort=False)) if series_col else [(None, rows)]
        for ax, metric in zip(axes, shown):
            for key, part in series:
                part = part.sort_values(x)
                ax.plot(
                    part[x],
                    part[metric],
                    marker="o",
                    ms=4,
                    lw=1.4,
                    color=PRIORITY_COLOURS.get(str(key)) if key is not None else "#1f77b4",
                    label=None if key is None else f"{series_col} {key}",
                )
            ax.set_xlabel(name)
            ax.set_ylabel(_metric_label(metric))
            ax.set_title(metric, fontsize=10)
            ax.grid(True, alpha=0.3)
            if series_col:
                ax.legend(fontsize=8)
        for ax in axes[len(shown) :]:
            ax.axis("off")
        more = f" (first {MAX_SWEEP_METRICS} of {len(metrics)} metrics)" if len(metrics) > len(shown) else ""
        fig.suptitle(f"Sweep of {name}: metrics vs parameter{more}")
        written.append(save(fig, out_path(res, out_dir, f"09_sweep_{_safe(name)}.png")))
    return written
