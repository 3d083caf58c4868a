"""Files of a solved period: days.csv, intervals.parquet, trades.parquet, summary.json, figures;
with power flows also network.parquet, voltages.parquet and lines.parquet.

Each walked day arrives once (``PeriodOutputs.add``) and goes straight to disk: its row of
days.csv (the day layer's ``totals`` from the SoC the day started with, its chosen priorities and
fallbacks), its intervals (the day layer's ``interval_table`` with the date in front) and the
trades that happened (the followed priority's) as one Parquet row group each. ``finish`` writes
days.csv, summary.json (the period's and each month's totals) and the figures. Dates and times are
the site's standard clock time all year (no daylight saving). A day with power flows
(``lec_opt.network.period_flows``) adds its network columns to days.csv and its network.csv rows,
every peer's voltage and each line's peak of the day (all with the date in front) to the three
network tables. Nothing here depends on the wall
clock or on which executor matched the days: the same input gives the same bytes.
"""

from __future__ import annotations

import contextlib
import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.day.outputs import interval_table, totals, trade_table
from lec_opt.day.run import DayRun
from lec_opt.io.atomic import atomic_open, write_csv, write_json
from lec_opt.io.scenario_copy import write_scenario_file
from lec_opt.io.schema import (
    ADDITIVE,
    DAYS_FILE,
    FIGURES_DIR,
    PERIOD_INTERVALS_FILE,
    PERIOD_NETWORK_FILES,
    PERIOD_TRADES_FILE,
    SUMMARY_FILE,
)
from lec_opt.market.priorities import PRIORITIES
from lec_opt.scenario.schema import Scenario

CLOCK = "site standard time (fixed UTC offset, no daylight saving)"


def full_cycles(discharge_kwh: float, capacity_kwh: float) -> float:
    """CES full-cycle equivalents: energy given out (E_dis) over the capacity."""
    return discharge_kwh / capacity_kwh


def aggregate(days: pd.DataFrame) -> dict:
    """Totals of some rows of days.csv: sums, the SoC's min / max / end, the money ratios."""
    out = {"days": int(len(days))}
    for field in ADDITIVE:  # the schema's fields that add up over days
        value = days[field.name].sum()
        out[field.name] = int(value) if field.integer else float(value)
    out["ces_soc_min"] = float(days.ces_soc_min.min())
    out["ces_soc_max"] = float(days.ces_soc_max.max())
    out["ces_soc_end"] = float(days.ces_soc_end.iloc[-1])
    revenue, bill = out["prosumer_revenue_grid_only_usd"], out["consumer_bill_grid_only_usd"]
    out["prosumer_revenue_ratio"] = out["prosumer_revenue_p2p_usd"] / revenue if revenue else None
    out["consumer_bill_ratio"] = out["consumer_bill_p2p_usd"] / bill if bill else None
    out["priority_counts"] = {p: out.pop(f"chosen_{p}") for p in PRIORITIES}
    if "v_min_pu" in days.columns:
        from lec_opt.network.tables import aggregate_network

        out["network"] = aggregate_network(days)
    return out


class PeriodOutputs:
    """Receives the walked days in date order; with a ``folder`` writes the period's files into it."""

    def __init__(self, folder: str | Path | None, *, figures: bool = True):
        self.folder = Path(folder) if folder is not None else None
        self.figures = figures
        self._files = contextlib.ExitStack()
        self._writers: dict[str, object] = {}

    # --- the run ------------------------------------------------------------------------------

    def start(self, scenario: Scenario, method: str, priority: str, dates: tuple[datetime.date, ...]) -> None:
        """Open the period's tables for these dates."""
        self.scenario, self.method, self.priority, self.dates = scenario, method, priority, dates
        self.rows: list[dict] = []
        self.soc: list[np.ndarray] = []  # SoC at the end of each interval, one row per day
        self.interval_minutes = scenario.interval_minutes
        self.peer_v_max: list[np.ndarray] = []  # with power flows: each peer's highest voltage, one row per day
        self.peer_minutes_outside: list[np.ndarray] = []  # ... and its minutes outside EN 50160

    def add(self, date: datetime.date, run: DayRun, soc_start: float, network=None) -> None:
        """One walked day (from ``soc_start``): its row, its intervals and trades; ``network``: its
        flows (``DayNetwork``), when the period runs them."""
        row = {"date": date.isoformat(), "month": date.strftime("%Y-%m"), "weekday": date.strftime("%a")}
        row.update(totals(run.steps, soc_start))
        row["fallbacks"] = sum(any(r.fallback for r in s.results.values()) for s in run.steps)
        row["ces_soc_start"] = soc_start
        row["ces_full_cycles"] = full_cycles(row["ces_discharge_kwh"], self.scenario.ces.capacity_kwh)
        for p in PRIORITIES:
            row[f"chosen_{p}"] = sum(s.chosen == p for s in run.steps)
        if network is not None:
            self._add_network(row, network)
        self.rows.append(row)
        self.soc.append(np.array([s.result.soc_end for s in run.steps]))
        if self.folder is None:
            return
        tables = {
            PERIOD_INTERVALS_FILE: interval_table(run),
            PERIOD_TRADES_FILE: trade_table(run, chosen_only=True).drop(columns="chosen"),
        }
        if network is not None:
            tables.update({file: getattr(network, name) for name, file in PERIOD_NETWORK_FILES.items()})
        for file, table in tables.items():  # each a row group of its Parquet file, the date in front
            self._write(file, table.assign(date=row["date"])[["date", *table.columns]])

    def _add_network(self, row: dict, network) -> None:
        from lec_opt.network.tables import day_network_columns, peer_day_extremes

        row.update(day_network_columns(network.intervals, self.interval_minutes))
        v_max, outside = peer_day_extremes(network.voltages, self.interval_minutes)
        self.peer_v_max.append(v_max)
        self.peer_minutes_outside.append(outside)

    def _write(self, name: str, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = self._writers.get(name)
        if writer is None:
            handle = self._files.enter_context(atomic_open(self.folder / name, "wb"))
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = pq.ParquetWriter(handle, table.schema)
            self._files.callback(writer.close)
            self._writers[name] = writer
        else:
            table = pa.Table.from_pandas(frame, schema=writer.schema, preserve_index=False)
        writer.write_table(table)

    def close(self, error: BaseException | None = None) -> None:
        """Finish the Parquet files (or, after ``error``, drop them)."""
        if error is None:
            self._files.close()
        else:
            self._files.__exit__(type(error), error, error.__traceback__)

    # --- the end ------------------------------------------------------------------------------

    def days_table(self) -> pd.DataFrame:
        """days.csv: one row per date, the SoC columns first."""
        front = ["date", "month", "weekday", "ces_soc_start", "ces_soc_min", "ces_soc_max", "ces_soc_end"]
        frame = pd.DataFrame(self.rows)
        return frame[front + [c for c in frame.columns if c not in front]]

    def summary(self, days: pd.DataFrame) -> dict:
        """summary.json: the period's and each month's totals, with what was run."""
        ces = self.scenario.ces
        out = aggregate(days)
        out.update(
            scenario=self.scenario.name,
            method=self.method,
            priority=self.priority,
            start=self.dates[0].isoformat(),
            end=self.dates[-1].isoformat(),
            intervals=int(sum(len(s) for s in self.soc)),
            interval_minutes=self.interval_minutes,
            clock=CLOCK,
            ces_capacity_kwh=ces.capacity_kwh,
            ces_soc_initial=ces.soc_initial,
            months={month: aggregate(part) for month, part in days.groupby("month", sort=True)},
        )
        return out

    def finish(self) -> dict:
        """Close the Parquet files, write days.csv, summary.json, scenario.toml and the figures; the summary."""
        self.close()
        days = self.days_table()
        summary = self.summary(days)
        if self.folder is None:
            return summary
        write_csv(self.folder / DAYS_FILE, days, float_format="%.9g")
        write_json(self.folder / SUMMARY_FILE, summary)
        write_scenario_file(self.folder, self.scenario.model_dump(mode="json", exclude={"base"}))
        if self.figures:
            from lec_opt.report.period_figures import write_period_figures

            write_period_figures(days, np.vstack(self.soc), self.interval_minutes, self.folder / FIGURES_DIR)
            if self.peer_v_max:
                from lec_opt.report.period_figures import write_period_network_figures

                write_period_network_figures(
                    days,
                    np.vstack(self.peer_v_max),
                    np.sum(self.peer_minutes_outside, axis=0),
                    self.folder / FIGURES_DIR,
                )
        return summary
