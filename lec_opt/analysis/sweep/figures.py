"""The figures of a sweep, drawn from its sweep.csv table alone.

``sweep_<group>_<field>.png``: each metric group against each swept field, one panel per metric
and one line per combination of the other fields' values. Text (and true/false) fields get evenly
spaced ticks in grid order; a numeric field whose values are geometrically spaced (three or more,
all positive, e.g. a ``start:stop:num:log`` range) gets a log x axis.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.analysis.sizing import NET_BENEFIT
from lec_opt.analysis.sweep.spec import format_value
from lec_opt.io.atomic import atomic_open
from lec_opt.io.schema import swept_columns

# One figure per (group, field): the metrics of a group share a figure, one panel each.
FIGURE_GROUPS: dict[str, tuple[str, ...]] = {
    "energy": (
        "p2p_energy_kwh",
        "grid_import_kwh",
        "grid_export_kwh",
        "ces_charge_kwh",
        "ces_discharge_kwh",
        "grid_to_ces_kwh",
    ),
    "soc": ("ces_soc_min", "ces_soc_max", "ces_soc_end"),
    "money": (
        "prosumer_revenue_p2p_usd",
        "prosumer_revenue_grid_only_usd",
        "consumer_bill_p2p_usd",
        "consumer_bill_grid_only_usd",
        "community_saving_usd",
        "score",
    ),
    "ratios": ("prosumer_revenue_ratio", "consumer_bill_ratio"),
    "counts": ("priority_A", "priority_B", "priority_C", "transactions", "fallbacks"),
    "time": ("solve_seconds",),
    # a sweep over the CES (sizing): what the community saves, what the store costs (with [ces.cost]),
    # how hard it works and what for (the EV chargers it feeds, the grid charging they cause)
    "sizing": (
        "community_saving_usd",
        "community_saving_per_year_usd",
        "ces_annualised_cost_usd",
        NET_BENEFIT,
        "ces_full_cycles",
        "grid_to_ces_kwh",
        "ev_from_ces_kwh",
        "ev_share_of_ces_discharge",
    ),
}
# a group drawn only when the sweep has one of these metrics (a period's cycles, or a CES with a cost)
GROUP_NEEDS = {"sizing": ("ces_full_cycles", NET_BENEFIT)}
# panel titles in words (a metric without one is titled by its column name)
METRIC_LABELS = {
    "p2p_energy_kwh": "P2P energy, kWh",
    "grid_import_kwh": "grid import, kWh",
    "grid_export_kwh": "grid export, kWh",
    "ces_charge_kwh": "CES charge, kWh",
    "ces_discharge_kwh": "CES discharge (to peers and EVs), kWh",
    "grid_to_ces_kwh": "CES charged from the grid, kWh",
    "ev_from_ces_kwh": "EV chargers fed by the CES, kWh",
    "community_saving_usd": "community saving over the period, $",
    "community_saving_per_year_usd": "community saving per year, $",
    "ces_annualised_cost_usd": "CES annualised cost, $/year",
    NET_BENEFIT: "net benefit per year (saving − cost), $",
    "ces_full_cycles": "CES full cycles over the period",
    "ev_share_of_ces_discharge": "EVs' share of the CES discharge",
}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _log_spaced(values: pd.Series) -> bool:
    """Three or more distinct positive values with one common ratio."""
    distinct = np.unique(values.astype(float))
    if len(distinct) < 3 or distinct[0] <= 0:
        return False
    ratios = distinct[1:] / distinct[:-1]
    return bool(np.allclose(ratios, ratios[0], rtol=1e-6, atol=0.0))


def _span(ok: pd.DataFrame) -> str:
    """The period the points cover, and the scaling of money to a year when the sweep prices the CES."""
    if not {"start", "end", "days"} <= set(ok.columns) or ok.empty:
        return ", one day" if not ok.empty else ""
    row = ok.iloc[0]
    text = f", {row['start']} to {row['end']} ({int(row['days'])} days"
    if "year_scale" in ok.columns:
        text += f"; money per year = the period's × {row['year_scale']:.3g}"
    return text + ")"


def write_sweep_figures(frame: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Draw ``folder/sweep_<group>_<field>.png`` for a sweep.csv table; returns the paths written.

    Only the rows with ``status`` ok are drawn (every row if the table has no ``status``). A
    group none of whose metrics has a value is skipped.
    """
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # never switch the backend under an interactive session
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    folder = Path(folder)
    fields = swept_columns(frame)
    ok = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    written = []
    for field in fields:
        others = [f for f in fields if f != field]
        series = [", ".join(f"{p}={format_value(row[p])}" for p in others) for _, row in ok.iterrows()]
        groups = list(ok.groupby(pd.Series(series, index=ok.index, dtype=object), sort=False)) if others else [("", ok)]
        column = frame[field]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        order = {v: n for n, v in enumerate(dict.fromkeys(format_value(v) for v in column))}
        log = numeric and len(ok) > 0 and _log_spaced(ok[field])
        for group, metrics in FIGURE_GROUPS.items():
            shown = [m for m in metrics if m in ok.columns and ok[m].notna().any()]
            if not shown or not set(GROUP_NEEDS.get(group, shown[:1])) & set(shown):
                continue
            ncols = min(3, len(shown))
            nrows = math.ceil(len(shown) / ncols)
            fig = Figure(figsize=(4.2 * ncols + 1.0, 3.4 * nrows + 0.8), dpi=100, layout="constrained")
            panels = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
            for ax, metric in zip(panels, shown):
                for label, part in groups:
                    if numeric:
                        part = part.sort_values(field)
                        x = part[field].astype(float)
                    else:
                        part = part.assign(_x=[order.get(format_value(v), -1) for v in part[field]]).sort_values("_x")
                        x = part["_x"]
                    ax.plot(x, part[metric], marker="o", ms=4, lw=1.3, label=label or None)
                    if metric == NET_BENEFIT and numeric and part[metric].notna().any():
                        best = part[metric].idxmax()
                        ax.plot(x[best], part.at[best, metric], marker="*", ms=14, color="black", zorder=5)
                        ax.annotate(
                            f"best {format_value(part.at[best, field])}",
                            (x[best], part.at[best, metric]),
                            textcoords="offset points",
                            xytext=(0, 8),
                            ha="center",
                            fontsize=8,
                        )
                if not numeric:
                    ax.set_xticks(range(len(order)), list(order), rotation=20, fontsize=8)
                elif log:
                    ax.set_xscale("log")
                ax.set_xlabel(field)
                ax.set_title(METRIC_LABELS.get(metric, metric), fontsize=10)
                ax.grid(True, alpha=0.3)
                if others and 1 < len(groups) <= 10:
                    ax.legend(fontsize=7)
            for ax in panels[len(shown) :]:
                ax.axis("off")
            fig.suptitle(
                f"{group} against {field}" + (f" (one line per {', '.join(others)})" if others else "") + _span(ok)
            )
            path = folder / f"sweep_{group}_{_safe(field)}.png"
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", metadata={"Software": None})
            with atomic_open(path, "wb") as handle:
                handle.write(buffer.getvalue())
            written.append(path)
    return written
