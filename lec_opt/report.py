"""Figures and the HTML report of a results folder (``lec-opt report``, ``solve-day --report``).

Reads what ``solve-day`` wrote (intervals.csv, trades.csv, settlement.csv, summary.json,
scenario.toml; the day's gross load and PV come from the scenario's data folder) and writes
``figures/NN_name.png`` and one self-contained ``report.html`` (PNGs embedded as data URIs).
``stability.csv`` (cooperative game) and ``sweep.csv`` (parameter sweeps) are drawn when present;
a folder holding only ``sweep.csv`` gets the sweep figures alone.

Every figure has a fixed size (``FIGSIZE`` inches at ``DPI``), so its PNG is
``FIGSIZE[kind] * DPI`` pixels. Figures are plain ``matplotlib.figure.Figure`` objects drawn with
the Agg canvas: no display, no pyplot state. Files are written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # never switch the backend under an interactive session
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, PathPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

from lec_opt.atomic import atomic_open, write_text  # noqa: E402
from lec_opt.errors import InputError, LecOptError  # noqa: E402

DPI = 100
FIGSIZE: dict[str, tuple[float, float]] = {  # inches; pixels = inches * DPI
    "demand_pv": (11.0, 5.0),
    "ev": (11.0, 5.0),
    "surplus_deficit": (11.0, 5.0),
    "ces": (11.0, 7.0),
    "p2p": (11.0, 6.0),
    "transactions": (11.0, 6.0),
    "ring": (10.0, 8.0),
    "settlement": (12.0, 8.0),
    "stability": (11.0, 6.0),
    "sweep": (12.0, 8.0),
}
FIGURES_DIR = "figures"
REPORT_FILE = "report.html"
FORMATS = ("html", "png")

DAY_FILES = ("intervals.csv", "trades.csv", "settlement.csv", "summary.json", "scenario.toml")
INTERVAL_COLUMNS = (
    "interval", "time", "supply_kwh", "demand_kwh", "alpha_kwh", "ev_kwh", "chosen", "ces_charge_kwh",
    "ces_discharge_kwh", "grid_to_ces_kwh", "ces_to_ev_kwh", "soc_start", "soc_end",
)
TRADE_COLUMNS = ("interval", "priority", "chosen", "seller", "buyer", "kwh")
SETTLEMENT_COLUMNS = ("peer", "role", "revenue_usd", "revenue_grid_only_usd", "bill_usd", "bill_grid_only_usd")
STABILITY_COLUMNS = ("interval", "max_violation")
SWEEP_NON_METRICS = {"parameter", "value", "priority", "method", "series", "scenario", "seed", "run", "folder"}
MAX_SWEEP_METRICS = 9

PRIORITY_COLOURS = {"A": "#1f77b4", "B": "#ff7f0e", "C": "#2ca02c"}
PRIORITY_NAMES = {"A": "A: biggest surplus to biggest demand", "B": "B: nearest on the ring", "C": "C: lowest ask to highest bid"}
SELLER, BUYER, IDLE = "#2ca02c", "#d62728", "#c7c7c7"
EDGE = "#3b5ba5"


# --- reading a results folder ------------------------------------------------------------------


def _read_csv(path: Path, columns: tuple[str, ...], text: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV and check its columns are there, and numeric unless listed in ``text``."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV file ({err})") from None
    for col in columns:
        if col not in frame.columns:
            raise InputError(path, "missing column", field=col)
    _check_numeric(frame, path, [c for c in columns if c not in text])
    return frame


def _check_numeric(frame: pd.DataFrame, path: Path, columns) -> None:
    for col in columns:
        if not pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col]):
            bad = pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2 if bad.any() else None  # spreadsheet rows: header is row 1
            raise InputError(path, "expected numbers", row=row, field=col)


@dataclass
class Results:
    """One results folder, read and checked before anything is drawn."""

    dir: Path
    intervals: pd.DataFrame | None = None
    trades: pd.DataFrame | None = None
    settlement: pd.DataFrame | None = None
    summary: dict | None = None
    scenario_text: str | None = None
    stability: pd.DataFrame | None = None
    sweep: pd.DataFrame | None = None

    @property
    def has_day(self) -> bool:
        return self.intervals is not None

    @cached_property
    def day(self):
        """The scenario's day (gross load and PV per peer and interval, prosumer mask)."""
        from lec_opt.scenario import load_scenario
        from lec_opt.snapshot import build_day

        return build_day(load_scenario(self.dir / "scenario.toml"))

    @property
    def priorities(self) -> list[str]:
        return [p for p in "ABC" if f"p2p_kwh_{p}" in self.intervals.columns]

    @property
    def n_intervals(self) -> int:
        return len(self.intervals)

    @property
    def hours(self) -> float:
        """Length of one interval in hours."""
        return self.day.interval_minutes / 60.0

    @property
    def edges(self) -> np.ndarray:
        """Interval boundaries in hours after midnight."""
        return np.arange(self.n_intervals + 1) * self.hours

    def chosen_p2p_kwh(self) -> np.ndarray:
        iv = self.intervals
        return np.array([iv.at[i, f"p2p_kwh_{p}"] for i, p in zip(iv.index, iv["chosen"])], dtype=float)

    def label(self) -> str:
        if self.summary is None:
            return self.dir.name
        s = self.summary
        return f"{s.get('scenario', self.dir.name)}, {s.get('method', '?')}, priority {s.get('priority', '?')}"


def load_results(results_dir: str | Path) -> Results:
    """Read and check a results folder; raise InputError naming the first bad file."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise InputError(folder, "results folder not found" if not folder.exists() else "not a folder")
    res = Results(folder)
    sweep_file = folder / "sweep.csv"
    day_present = [name for name in DAY_FILES if (folder / name).is_file()]
    if day_present or not sweep_file.is_file():
        for name in DAY_FILES:
            if not (folder / name).is_file():
                raise InputError(folder / name, "file not found (write the folder with `lec-opt solve-day`)")
        res.intervals = _read_csv(folder / "intervals.csv", INTERVAL_COLUMNS, text=("time", "chosen"))
        if not res.priorities:
            raise InputError(folder / "intervals.csv", "missing column", field="p2p_kwh_A")
        for p in res.priorities:
            if f"transactions_{p}" not in res.intervals.columns:
                raise InputError(folder / "intervals.csv", "missing column", field=f"transactions_{p}")
            _check_numeric(res.intervals, folder / "intervals.csv", [f"p2p_kwh_{p}", f"transactions_{p}"])
        bad = sorted(set(res.intervals["chosen"].astype(str)) - set(res.priorities))
        if bad:
            raise InputError(folder / "intervals.csv", f"chosen priority {bad[0]!r} has no p2p_kwh column", field="chosen")
        if not np.array_equal(res.intervals["interval"].to_numpy(), np.arange(len(res.intervals))):
            raise InputError(folder / "intervals.csv", "intervals must run 0, 1, 2, ... in order", field="interval")
        res.trades = _read_csv(folder / "trades.csv", TRADE_COLUMNS, text=("priority", "chosen"))
        res.settlement = _read_csv(folder / "settlement.csv", SETTLEMENT_COLUMNS, text=("role",))
        try:
            res.summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(folder / "summary.json", f"not valid JSON ({err})") from None
        if not isinstance(res.summary, dict):
            raise InputError(folder / "summary.json", "expected a JSON object")
        res.scenario_text = (folder / "scenario.toml").read_text(encoding="utf-8")
        try:
            res.day  # noqa: B018 (the scenario and its data, needed for figures 1 and 7)
        except LecOptError as err:
            raise InputError(folder / "scenario.toml", f"cannot read the day this scenario describes: {err}") from None
        if res.day.n_intervals != res.n_intervals:
            raise InputError(
                folder / "intervals.csv",
                f"{res.n_intervals} intervals, but scenario.toml gives {res.day.n_intervals}; the folder and its scenario disagree",
            )
        if (folder / "stability.csv").is_file():
            res.stability = _read_csv(folder / "stability.csv", STABILITY_COLUMNS)
    if sweep_file.is_file():
        res.sweep = _read_csv(sweep_file, ())
        _sweep_groups(res.sweep, sweep_file)  # checked now, before drawing
    return res


def _as_results(results: Results | str | Path) -> Results:
    return results if isinstance(results, Results) else load_results(results)


# --- drawing helpers ---------------------------------------------------------------------------


def _figure(kind: str) -> Figure:
    return Figure(figsize=FIGSIZE[kind], dpi=DPI, layout="constrained")


def _save(fig: Figure, path: Path) -> Path:
    """Render to memory, then write the PNG atomically; the figure is cleared afterwards."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        fig.clear()
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


def _out(results: Results, out_dir: str | Path | None, name: str) -> Path:
    folder = Path(out_dir) if out_dir is not None else results.dir / FIGURES_DIR
    return folder / name


def _time_axis(ax, res: Results, label: bool = True) -> None:
    end = res.edges[-1]
    step = 3 if end > 6 else 1
    ticks = np.arange(0, end + 1e-9, step)
    ax.set_xlim(0, end)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{int(t):02d}:00" for t in ticks])
    if label:
        ax.set_xlabel(f"time of day ({res.day.interval_minutes}-min intervals)")
    ax.grid(True, alpha=0.3)


def _headroom(ax, top: float, bottom: float = 0.0, frac: float = 0.3) -> None:
    """Y range with room above the data for a legend in the upper corner."""
    top = top if top > 0 else 1.0
    ax.set_ylim(bottom, top + frac * (top - bottom))


def _kw(res: Results, kwh) -> np.ndarray:
    """Energy per interval (kWh) as the interval's mean power (kW)."""
    return np.asarray(kwh, dtype=float) / res.hours


def _priority_band(ax, res: Results) -> None:
    """The aggregator's chosen priority per interval as a coloured strip."""
    chosen = res.intervals["chosen"].astype(str).to_numpy()
    edges = res.edges
    start = 0
    for i in range(1, len(chosen) + 1):
        if i == len(chosen) or chosen[i] != chosen[start]:
            ax.axvspan(edges[start], edges[i], color=PRIORITY_COLOURS[chosen[start]], lw=0)
            start = i
    ax.set_yticks([])
    ax.set_ylabel("chosen", rotation=0, ha="right", va="center")
    counts = {p: int((chosen == p).sum()) for p in res.priorities}
    handles = [Patch(color=PRIORITY_COLOURS[p], label=f"{p} chosen in {counts[p]} intervals") for p in res.priorities]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.9), ncol=len(handles), frameon=False)


def _per_priority(res: Results, kind: str, column: str, ylabel: str, title: str, name: str, out_dir,
                  total: Callable[[str], str]) -> Path:
    fig = _figure(kind)
    ax, band = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [10, 1]})
    drawn: dict[str, np.ndarray] = {}
    styles = {"A": ("-", 3.4), "B": ("-", 1.8), "C": ("--", 1.3)}  # A widest underneath: identical lines stay visible
    for p in res.priorities:
        values = res.intervals[f"{column}_{p}"].to_numpy(dtype=float)
        same = [q for q, v in drawn.items() if np.allclose(v, values, rtol=0, atol=1e-9)]
        note = f"; same as {' and '.join(same)} in every interval" if same else ""
        ls, lw = styles[p]
        ax.stairs(values, res.edges, color=PRIORITY_COLOURS[p], lw=lw, ls=ls, alpha=0.55 if p == "A" else 1.0,
                  label=f"{PRIORITY_NAMES[p]} ({total(p)}{note})")
        drawn[p] = values
    ax.set_ylabel(ylabel)
    _headroom(ax, max(float(v.max()) for v in drawn.values()), frac=0.25)
    ax.set_title(title if len(res.priorities) > 1 else f"{title} (this run solved priority {res.priorities[0]} only)")
    ax.legend(loc="upper left", fontsize=9)
    _time_axis(ax, res, label=False)
    _time_axis(band, res)
    band.grid(False)
    _priority_band(band, res)
    return _save(fig, _out(res, out_dir, name))


# --- the figures -------------------------------------------------------------------------------


def fig_demand_pv(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """1. Demand of all peers vs PV generation over the day (paper Fig. 3), kW."""
    res = _as_results(results)
    day = res.day
    load = _kw(res, day.load_kwh.sum(axis=1))
    pv = _kw(res, day.pv_kwh.sum(axis=1))
    fig = _figure("demand_pv")
    ax = fig.subplots()
    edges = res.edges
    ax.stairs(pv, edges, fill=True, color="#fdd835", alpha=0.3, lw=0)
    ax.stairs(pv, edges, color="#e08a00", lw=1.8,
              label=f"PV generation of {int(day.prosumer.sum())} prosumers ({day.pv_kwh.sum():.0f} kWh/day)")
    ax.stairs(load, edges, color="#1f3f8f", lw=1.8, label=f"demand of all {day.n_peers} peers ({day.load_kwh.sum():.0f} kWh/day)")
    ax.set_ylabel("power (kW, mean over each interval)")
    _headroom(ax, max(load.max(), pv.max()))
    ax.set_title("Demand of all peers and PV generation (cf. paper Fig. 3)")
    ax.legend(loc="upper left")
    _time_axis(ax, res)
    return _save(fig, _out(res, out_dir, "01_demand_pv.png"))


def fig_ev(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """2. EV charging demand (paper Fig. 4), kW, split into what the CES and the grid supplied."""
    res = _as_results(results)
    iv = res.intervals
    ev = _kw(res, iv["ev_kwh"])
    from_ces = np.minimum(_kw(res, iv["ces_to_ev_kwh"]), ev)
    fig = _figure("ev")
    ax = fig.subplots()
    ax.stairs(from_ces, res.edges, fill=True, color="#6a3d9a", alpha=0.75, lw=0,
              label=f"supplied by the CES ({iv['ces_to_ev_kwh'].sum():.1f} kWh)")
    ax.stairs(ev, res.edges, baseline=from_ces, fill=True, color="#999999", alpha=0.6, lw=0,
              label=f"supplied by the grid ({max(iv['ev_kwh'].sum() - iv['ces_to_ev_kwh'].sum(), 0.0):.1f} kWh)")
    ax.stairs(ev, res.edges, color="black", lw=1.2, label=f"EV charging demand, all chargers ({iv['ev_kwh'].sum():.1f} kWh/day)")
    ax.set_ylabel("power (kW, mean over each interval)")
    ax.set_ylim(bottom=0)
    ax.set_title("EV charging demand (cf. paper Fig. 4)")
    ax.legend(loc="upper center")
    _time_axis(ax, res)
    return _save(fig, _out(res, out_dir, "02_ev_demand.png"))


def fig_surplus_deficit(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """3. Community surplus (sum over sellers) and deficit (sum over buyers) per interval (paper Fig. 5), kW."""
    res = _as_results(results)
    iv = res.intervals
    surplus, deficit, alpha = _kw(res, iv["supply_kwh"]), _kw(res, iv["demand_kwh"]), _kw(res, iv["alpha_kwh"])
    fig = _figure("surplus_deficit")
    ax = fig.subplots()
    ax.stairs(surplus, res.edges, fill=True, color="#2ca02c", alpha=0.6, lw=0,
              label=f"surplus of the sellers ({iv['supply_kwh'].sum():.0f} kWh/day)")
    ax.stairs(-deficit, res.edges, fill=True, color="#d62728", alpha=0.6, lw=0,
              label=f"deficit of the buyers, drawn negative ({iv['demand_kwh'].sum():.0f} kWh/day)")
    ax.stairs(alpha, res.edges, color="black", lw=1.3, label="balance α = surplus − deficit")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("power (kW, mean over each interval)")
    ax.set_title("Community surplus and deficit per interval (cf. paper Fig. 5)")
    ax.legend(loc="lower left")
    _time_axis(ax, res)
    return _save(fig, _out(res, out_dir, "03_surplus_deficit.png"))


def fig_ces(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """4. CES charge (+) and discharge (−) per interval, kW, and its state of charge (paper Fig. 6)."""
    res = _as_results(results)
    iv = res.intervals
    ces = res.day.scenario.ces
    charge, from_grid = _kw(res, iv["ces_charge_kwh"]), _kw(res, iv["grid_to_ces_kwh"])
    discharge, to_ev = _kw(res, iv["ces_discharge_kwh"]), _kw(res, iv["ces_to_ev_kwh"])
    from_peers = np.clip(charge - from_grid, 0.0, None)
    to_ev = np.minimum(to_ev, discharge)
    fig = _figure("ces")
    ax, ax_soc = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    e = res.edges
    ax.stairs(from_peers, e, fill=True, color="#2ca02c", alpha=0.7, lw=0,
              label=f"charge from peers' surplus ({iv['ces_charge_kwh'].sum() - iv['grid_to_ces_kwh'].sum():.1f} kWh)")
    ax.stairs(from_peers + from_grid, e, baseline=from_peers, fill=True, color="#7f7f7f", alpha=0.7, lw=0,
              label=f"charge from the grid ({iv['grid_to_ces_kwh'].sum():.1f} kWh)")
    ax.stairs(-(discharge - to_ev), e, fill=True, color="#d62728", alpha=0.7, lw=0,
              label=f"discharge to peers ({iv['ces_discharge_kwh'].sum() - iv['ces_to_ev_kwh'].sum():.1f} kWh)")
    ax.stairs(-discharge, e, baseline=-(discharge - to_ev), fill=True, color="#6a3d9a", alpha=0.7, lw=0,
              label=f"discharge to EV chargers ({iv['ces_to_ev_kwh'].sum():.1f} kWh)")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("CES power (kW)\n+ charge, − discharge")
    ax.set_title(f"Community energy storage ({ces.capacity_kwh:g} kWh): charge/discharge and state of charge (cf. paper Fig. 6)")
    ax.legend(loc="lower left", fontsize=9, ncol=2)
    _time_axis(ax, res, label=False)
    soc = np.append(iv["soc_start"].to_numpy(dtype=float), iv["soc_end"].to_numpy(dtype=float)[-1]) * 100
    ax_soc.axhspan(ces.soc_min * 100, ces.soc_max * 100, color="#1f77b4", alpha=0.07, lw=0)
    for level, what in ((ces.soc_min, "min"), (ces.soc_max, "max")):
        ax_soc.axhline(level * 100, color="#1f77b4", ls="--", lw=0.9)
        ax_soc.annotate(f"SoC {what} {level:.0%}", (e[-1], level * 100), xytext=(-4, 3 if what == "min" else -11),
                        textcoords="offset points", ha="right", fontsize=8, color="#1f77b4")
    paper_band = (res.summary or {}).get("paper", {}).get("ces_soc_band")
    if paper_band:
        ax_soc.axhspan(paper_band[0] * 100, paper_band[1] * 100, facecolor="none", edgecolor="#ff7f0e", hatch="//",
                       alpha=0.35, lw=0, label=f"paper's SoC range {paper_band[0]:.0%}–{paper_band[1]:.0%}")
    ax_soc.plot(e, soc, color="black", lw=1.6, label=f"SoC ({soc.min():.1f}–{soc.max():.1f} %)")
    ax_soc.set_ylabel("state of charge (%)")
    ax_soc.set_ylim(0, 100)
    ax_soc.legend(loc="lower left", fontsize=9)
    _time_axis(ax_soc, res)
    return _save(fig, _out(res, out_dir, "04_ces.png"))


def fig_p2p_priorities(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """5. P2P energy traded per interval under A, B and C (kWh per interval), and the chosen priority as a band."""
    res = _as_results(results)
    return _per_priority(res, "p2p", "p2p_kwh", f"P2P energy (kWh per {res.day.interval_minutes}-min interval)",
                         "P2P energy traded per interval under each priority, and the aggregator's choice",
                         "05_p2p_priorities.png", out_dir, lambda p: f"{res.intervals[f'p2p_kwh_{p}'].sum():.1f} kWh/day")


def fig_transactions(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """6. Number of P2P transactions per interval under each priority."""
    res = _as_results(results)
    return _per_priority(res, "transactions", "transactions", "transactions per interval (count)",
                         "P2P transactions per interval under each priority", "06_transactions.png", out_dir,
                         lambda p: f"{int(res.intervals[f'transactions_{p}'].sum()):,} in the day")


def default_ring_interval(results: Results | str | Path) -> int:
    """The interval with the most P2P energy under the aggregator's chosen priority (first on ties)."""
    res = _as_results(results)
    return int(np.argmax(res.chosen_p2p_kwh()))


def _ring_xy(peers, n: int, radius: float = 1.0) -> np.ndarray:
    theta = np.pi / 2 - 2 * np.pi * (np.asarray(peers, dtype=float) - 1) / n  # peer 1 at the top, clockwise
    return np.column_stack([radius * np.cos(theta), radius * np.sin(theta)])


def fig_ring(results: Results | str | Path, interval: int | None = None, priority: str | None = None,
             out_dir: str | Path | None = None) -> Path:
    """7. Ring trade graph of one interval: peers on a circle, edge width proportional to kWh traded."""
    res = _as_results(results)
    t = default_ring_interval(res) if interval is None else int(interval)
    if not 0 <= t < res.n_intervals:
        raise LecOptError(f"interval {t} outside 0..{res.n_intervals - 1}")
    chosen = str(res.intervals.at[t, "chosen"])
    priority = priority or chosen
    if priority not in res.priorities:
        raise LecOptError(f"priority {priority!r} was not solved in this run (have {', '.join(res.priorities)})")
    day = res.day
    n = day.n_peers
    trades = res.trades[(res.trades["interval"] == t) & (res.trades["priority"].astype(str) == priority)]
    net = day.net_kwh[t]
    fig = _figure("ring")
    ax = fig.subplots()
    ax.set_aspect("equal")
    ax.axis("off")
    ax.add_patch(PathPatch(MplPath.circle((0, 0), 1.0), facecolor="none", edgecolor="#dddddd", lw=1.0, zorder=0))
    kmax = float(trades["kwh"].max()) if len(trades) else 0.0
    width = lambda kwh: 0.5 + 6.5 * kwh / kmax  # noqa: E731
    for seller, buyer, kwh in trades[["seller", "buyer", "kwh"]].itertuples(index=False):
        (x0, y0), (x1, y1) = _ring_xy([seller, buyer], n)
        cx, cy = 0.35 * (x0 + x1), 0.35 * (y0 + y1)  # pulled in: neighbours' trades show as small arcs
        path = MplPath([(x0, y0), (cx, cy), (x1, y1)], [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3])
        ax.add_patch(PathPatch(path, facecolor="none", edgecolor=EDGE, alpha=0.55, lw=width(kwh), capstyle="round", zorder=1))
    xy = _ring_xy(np.arange(1, n + 1), n)
    colour = np.where(net > 1e-12, SELLER, np.where(net < -1e-12, BUYER, IDLE))
    size = 70 if n <= 40 else 40
    for mask, marker in ((day.prosumer, "s"), (~day.prosumer, "o")):
        ax.scatter(xy[mask, 0], xy[mask, 1], s=size, marker=marker, c=colour[mask], edgecolors="black", linewidths=0.6, zorder=3)
    every = 1 if n <= 30 else 5
    for p in range(1, n + 1):
        if p == 1 or p % every == 0:
            (lx, ly), = _ring_xy([p], n, 1.09)
            ax.text(lx, ly, str(p), ha="center", va="center", fontsize=8 if n > 30 else 10, color="#333333")
    ax.set_xlim(-1.18, 1.18)
    ax.set_ylim(-1.18, 1.18)
    sellers, buyers = int((net > 1e-12).sum()), int((net < -1e-12).sum())
    what = "aggregator's choice" if priority == chosen else f"not chosen; the aggregator chose {chosen}"
    ax.set_title(
        f"P2P trades at {res.intervals.at[t, 'time']} (interval {t}), priority {priority} ({what})\n"
        f"{len(trades)} trades, {trades['kwh'].sum():.2f} kWh; {sellers} sellers, {buyers} buyers of {n} peers",
        fontsize=12,
    )
    handles = [
        Line2D([], [], marker="s", ls="", markerfacecolor="white", markeredgecolor="black", markersize=8, label="prosumer (PV)"),
        Line2D([], [], marker="o", ls="", markerfacecolor="white", markeredgecolor="black", markersize=8, label="consumer"),
        Patch(facecolor=SELLER, edgecolor="black", label="seller this interval (surplus)"),
        Patch(facecolor=BUYER, edgecolor="black", label="buyer this interval (deficit)"),
        Patch(facecolor=IDLE, edgecolor="black", label="balanced"),
    ]
    if kmax > 0:
        for frac in (1.0, 0.5, 0.1):
            handles.append(Line2D([], [], color=EDGE, alpha=0.55, lw=width(frac * kmax), label=f"{frac * kmax:.3g} kWh traded"))
    else:
        handles.append(Line2D([], [], color="none", label="no P2P trades in this interval"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=9,
               title="peers (ring order, clockwise)\nand trades (edge width = kWh)", title_fontsize=9)
    return _save(fig, _out(res, out_dir, f"07_ring_t{t:03d}_{priority}.png"))


def fig_settlement(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """8. Per-peer revenue of prosumers and bill of consumers, P2P vs grid-only, $ per day (paper Figs. 13–15)."""
    res = _as_results(results)
    st = res.settlement
    paper = (res.summary or {}).get("paper", {})
    fig = _figure("settlement")
    axes = fig.subplots(2, 1)
    panels = (
        ("prosumer", "revenue_usd", "revenue_grid_only_usd", "revenue", "prosumer_revenue_ratio", "cf. paper Figs. 13–14"),
        ("consumer", "bill_usd", "bill_grid_only_usd", "bill", "consumer_bill_ratio", "cf. paper Fig. 15"),
    )
    for ax, (role, p2p_col, grid_col, word, ratio_key, ref) in zip(axes, panels):
        rows = st[st["role"] == role]
        x = np.arange(len(rows))
        ax.bar(x - 0.2, rows[grid_col], width=0.4, color="#9e9e9e", label=f"grid only (all {role}s: ${rows[grid_col].sum():.2f})")
        ax.bar(x + 0.2, rows[p2p_col], width=0.4, color="#1f77b4" if role == "prosumer" else "#ff7f0e",
               label=f"with P2P trading and CES (all {role}s: ${rows[p2p_col].sum():.2f})")
        ratio = rows[p2p_col].sum() / rows[grid_col].sum() if rows[grid_col].sum() else float("nan")
        paper_ratio = paper.get(ratio_key)
        title = f"{role.capitalize()}s' {word} per peer over the day: P2P / grid-only = {ratio:.2f}"
        if paper_ratio is not None:
            title += f" (paper {paper_ratio:.2f}; {ref})"
        ax.set_title(title, fontsize=11)
        ax.set_ylabel(f"{word} ($ per day)")
        step = max(1, math.ceil(len(rows) / 25))
        ax.set_xticks(x[::step])
        ax.set_xticklabels(rows["peer"].to_numpy()[::step])
        ax.set_xlabel(f"{role} (peer number)")
        ax.set_xlim(-0.7, max(len(rows), 1) - 0.3)
        ax.grid(True, axis="y", alpha=0.3)
        _headroom(ax, float(max(rows[grid_col].max(), rows[p2p_col].max())) if len(rows) else 1.0, frac=0.25)
        ax.legend(loc="upper right", fontsize=9, ncol=2)
        if not len(rows):
            ax.text(0.5, 0.5, f"no {role}s in this community", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, _out(res, out_dir, "08_settlement.png"))


def fig_stability(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """9a. Core violation per interval (cooperative game; from stability.csv)."""
    res = _as_results(results)
    if res.stability is None:
        raise InputError(res.dir / "stability.csv", "file not found (written by the game check)")
    st = res.stability.sort_values("interval")
    idx = st["interval"].to_numpy(dtype=int)
    if len(idx) and (idx.min() < 0 or idx.max() >= res.n_intervals):
        raise InputError(res.dir / "stability.csv", f"interval outside 0..{res.n_intervals - 1}", field="interval")
    viol = st["max_violation"].to_numpy(dtype=float)
    in_core = (st["in_core"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
               if "in_core" in st.columns else viol <= 1e-9)
    mid = (idx + 0.5) * res.hours
    fig = _figure("stability")
    ax = fig.subplots()
    ax.vlines(mid, 0, viol, color=np.where(in_core, "#2ca02c", "#d62728"), lw=1.2)
    ax.scatter(mid[in_core], viol[in_core], s=14, color="#2ca02c", zorder=3, label=f"in the core ({int(in_core.sum())} intervals)")
    ax.scatter(mid[~in_core], viol[~in_core], s=14, color="#d62728", zorder=3,
               label=f"not in the core ({int((~in_core).sum())} intervals)")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("largest core violation ($ per interval)")
    ax.set_title(f"Core stability of the chosen allocation: {len(st)} intervals checked")
    if "players" in st.columns:
        ax2 = ax.twinx()
        ax2.plot(mid, st["players"].to_numpy(dtype=float), color="#7f7f7f", lw=0.9, ls=":", label="players")
        ax2.set_ylabel("players in the game (count)", color="#7f7f7f")
        ax2.set_ylim(bottom=0)
        ax2.legend(loc="upper right", fontsize=9)
    ax.legend(loc="upper left", fontsize=9)
    _time_axis(ax, res)
    return _save(fig, _out(res, out_dir, "09_core_violation.png"))


def _sweep_groups(sweep: pd.DataFrame, path: Path) -> list[tuple[str, pd.DataFrame, str, list[str]]]:
    """(parameter name, its rows, x column, metric columns) per swept parameter.

    Long format: columns ``parameter`` (name) and ``value``; wide format: the first column is the
    parameter. Metrics are the other numeric columns; a ``priority``/``method``/``series`` column,
    if present, gives one line per value.
    """
    if not len(sweep):
        raise InputError(path, "no rows")
    if "parameter" in sweep.columns:
        if "value" not in sweep.columns:
            raise InputError(path, "missing column (long format: parameter, value, metrics...)", field="value")
        groups = [(str(name), rows, "value") for name, rows in sweep.groupby("parameter", sort=False)]
    else:
        groups = [(str(sweep.columns[0]), sweep, sweep.columns[0])]
    out = []
    for name, rows, x in groups:
        if not pd.api.types.is_numeric_dtype(rows[x]):
            try:
                rows = rows.assign(**{x: pd.to_numeric(rows[x])})
            except (ValueError, TypeError):
                raise InputError(path, f"parameter {name!r} has non-numeric values", field=str(x)) from None
        metrics = [c for c in rows.columns if c != x and c not in SWEEP_NON_METRICS and pd.api.types.is_numeric_dtype(rows[c])
                   and rows[c].notna().any()]
        if not metrics:
            raise InputError(path, f"no numeric metric columns for parameter {name!r}")
        out.append((name, rows, x, metrics))
    return out


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
    res = _as_results(results)
    path = res.dir / "sweep.csv"
    if res.sweep is None:
        raise InputError(path, "file not found (written by the sweep command)")
    written = []
    for name, rows, x, metrics in _sweep_groups(res.sweep, path):
        shown = metrics[:MAX_SWEEP_METRICS]
        ncols = min(3, len(shown))
        nrows = math.ceil(len(shown) / ncols)
        fig = _figure("sweep")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        series_col = next((c for c in ("priority", "method", "series") if c in rows.columns), None)
        series = list(rows.groupby(series_col, sort=False)) if series_col else [(None, rows)]
        for ax, metric in zip(axes, shown):
            for key, part in series:
                part = part.sort_values(x)
                ax.plot(part[x], part[metric], marker="o", ms=4, lw=1.4,
                        color=PRIORITY_COLOURS.get(str(key)) if key is not None else "#1f77b4",
                        label=None if key is None else f"{series_col} {key}")
            ax.set_xlabel(name)
            ax.set_ylabel(_metric_label(metric))
            ax.set_title(metric, fontsize=10)
            ax.grid(True, alpha=0.3)
            if series_col:
                ax.legend(fontsize=8)
        for ax in axes[len(shown):]:
            ax.axis("off")
        more = f" (first {MAX_SWEEP_METRICS} of {len(metrics)} metrics)" if len(metrics) > len(shown) else ""
        fig.suptitle(f"Sweep of {name}: metrics vs parameter{more}")
        written.append(_save(fig, _out(res, out_dir, f"09_sweep_{_safe(name)}.png")))
    return written


# --- all figures, the report -------------------------------------------------------------------

CAPTIONS = {
    "01": "Demand of all peers and PV generation over the day, kW (cf. paper Fig. 3).",
    "02": "EV charging demand, kW, and whether the CES or the grid supplied it (cf. paper Fig. 4).",
    "03": "Community surplus (sellers) and deficit (buyers) per interval, kW, and the balance α (cf. paper Fig. 5).",
    "04": "CES charge and discharge per interval, kW, and its state of charge (cf. paper Fig. 6).",
    "05": "P2P energy traded per interval under priorities A, B and C, kWh per interval; the band marks the aggregator's choice.",
    "06": "P2P transactions per interval under each priority.",
    "07": "Trades of one interval on the ring: edge width proportional to kWh traded (the paper's trade-pairing figures).",
    "08": "Per-peer revenue of prosumers and bill of consumers over the day, P2P vs grid-only (cf. paper Figs. 13–15).",
    "09_core": "Largest core violation per interval of the cooperative game (stability.csv).",
    "09_sweep": "Metrics against a swept parameter (sweep.csv).",
}


def _caption(name: str) -> str:
    keys = [k for k in CAPTIONS if name.startswith(k)]
    return CAPTIONS[max(keys, key=len)] if keys else ""


def render_figures(results_dir: str | Path, interval: int | None = None, out_dir: str | Path | None = None) -> list[Path]:
    """Draw every figure the folder supports into ``results_dir/figures`` (or ``out_dir``); returns the paths.

    ``interval``: the ring graph's interval (default: the most P2P energy under the chosen priority).
    """
    res = _as_results(results_dir)
    if res.has_day and interval is not None and not 0 <= interval < res.n_intervals:
        raise LecOptError(f"--interval {interval} outside 0..{res.n_intervals - 1}")
    paths: list[Path] = []
    if res.has_day:
        steps: list[Callable[[], Path]] = [
            lambda: fig_demand_pv(res, out_dir),
            lambda: fig_ev(res, out_dir),
            lambda: fig_surplus_deficit(res, out_dir),
            lambda: fig_ces(res, out_dir),
            lambda: fig_p2p_priorities(res, out_dir),
            lambda: fig_transactions(res, out_dir),
            lambda: fig_ring(res, interval, out_dir=out_dir),
            lambda: fig_settlement(res, out_dir),
        ]
        paths += [step() for step in steps]
        if res.stability is not None:
            paths.append(fig_stability(res, out_dir))
    if res.sweep is not None:
        paths += fig_sweeps(res, out_dir)
    return paths


def write_report(results_dir: str | Path, fmt: str = "html", interval: int | None = None) -> Path:
    """Write ``figures/*.png`` and, for ``fmt="html"``, a self-contained ``report.html``.

    Returns the report's path (html) or the figures folder (png).
    """
    if fmt not in FORMATS:
        raise LecOptError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    res = load_results(results_dir)
    paths = render_figures(res, interval)
    if fmt == "png":
        return res.dir / FIGURES_DIR
    target = res.dir / REPORT_FILE
    write_text(target, report_html(res, paths))
    return target


# --- HTML --------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
.note { color: #666; font-size: 0.9em; }
"""


def _fmt(value, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    return format(value, spec)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def _summary_rows(s: dict) -> list[list[str]]:
    paper = s.get("paper", {})
    band = paper.get("ces_soc_band") or [None, None]
    counts = s.get("priority_counts", {})
    g = s.get
    return [
        ["prosumer revenue, P2P / grid-only", _fmt(g("prosumer_revenue_ratio")), _fmt(paper.get("prosumer_revenue_ratio"), ".2f")],
        ["consumer bill, P2P / grid-only", _fmt(g("consumer_bill_ratio")), _fmt(paper.get("consumer_bill_ratio"), ".2f")],
        ["CES state of charge, min – max", f"{_fmt(g('ces_soc_min'), '.2f')} – {_fmt(g('ces_soc_max'), '.2f')}",
         f"{_fmt(band[0], '.2f')} – {_fmt(band[1], '.2f')}" if band[0] is not None else ""],
        ["prosumer revenue P2P / grid-only, $", f"{_fmt(g('prosumer_revenue_p2p'), '.2f')} / {_fmt(g('prosumer_revenue_grid_only'), '.2f')}", ""],
        ["consumer bill P2P / grid-only, $", f"{_fmt(g('consumer_bill_p2p'), '.2f')} / {_fmt(g('consumer_bill_grid_only'), '.2f')}", ""],
        ["P2P energy, kWh", _fmt(g("p2p_energy_kwh"), ".1f"), ""],
        ["grid import / export, kWh", f"{_fmt(g('grid_import_kwh'), '.1f')} / {_fmt(g('grid_export_kwh'), '.1f')}", ""],
        ["CES charge / discharge, kWh", f"{_fmt(g('ces_charge_kwh'), '.1f')} / {_fmt(g('ces_discharge_kwh'), '.1f')}", ""],
        ["grid into CES, kWh", _fmt(g("grid_to_ces_kwh"), ".1f"), "0"],
        ["EV demand / from CES / from grid, kWh",
         f"{_fmt(g('ev_kwh'), '.1f')} / {_fmt(g('ev_from_ces_kwh'), '.1f')} / {_fmt(g('ev_from_grid_kwh'), '.1f')}", ""],
        ["priority chosen A / B / C (intervals)", " / ".join(str(counts.get(p, 0)) for p in "ABC"), ""],
        ["transactions", _fmt(g("transactions"), "d") if isinstance(g("transactions"), int) else _fmt(g("transactions")), ""],
        ["intervals that fell back to greedy", str(g("fallbacks", "")), ""],
        ["community saving, $", _fmt(g("community_saving"), ".2f"), ""],
        ["aggregator score, $", _fmt(g("score"), ".2f"), ""],
        ["solve time, s", _fmt(g("solve_seconds"), ".1f"), ""],
    ]


def _priority_rows(s: dict) -> tuple[list[str], list[list[str]]]:
    single = s.get("single_priority_totals") or {}
    keys = [
        ("aggregator score, $", "score", ".2f"), ("P2P energy, kWh", "p2p_energy_kwh", ".1f"),
        ("transactions", "transactions", "d"), ("grid import, kWh", "grid_import_kwh", ".1f"),
        ("grid export, kWh", "grid_export_kwh", ".1f"), ("prosumer revenue ratio", "prosumer_revenue_ratio", ".3f"),
        ("consumer bill ratio", "consumer_bill_ratio", ".3f"), ("CES SoC min", "ces_soc_min", ".2f"),
        ("CES SoC max", "ces_soc_max", ".2f"),
    ]
    header = ["", f"this run ({s.get('priority', '?')})"] + [f"{p} all day" for p in single]
    rows = []
    for label, key, spec in keys:
        row = [label, _fmt(s.get(key), spec) if s.get(key) is not None else ""]
        row += [_fmt(t.get(key), spec) if t.get(key) is not None else "" for t in single.values()]
        rows.append(row)
    return header, rows


def _settlement_rows(st: pd.DataFrame) -> list[list[str]]:
    rows = []
    for role in ("prosumer", "consumer"):
        part = st[st["role"] == role]
        if not len(part):
            continue
        row = [f"{role}s ({len(part)})"]
        for col, spec in (("sold_p2p_kwh", ".1f"), ("bought_p2p_kwh", ".1f"), ("revenue_usd", ".2f"),
                          ("revenue_grid_only_usd", ".2f"), ("bill_usd", ".2f"), ("bill_grid_only_usd", ".2f"), ("saving_usd", ".2f")):
            row.append(_fmt(float(part[col].sum()), spec) if col in part.columns else "")
        rows.append(row)
    return rows


def _img(path: Path, base: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name
    caption = _caption(path.name)
    return (f'<figure id="{html.escape(path.stem)}">\n<img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(path.stem)}" data-file="{html.escape(rel)}">\n'
            f"<figcaption>{html.escape(rel)}: {html.escape(caption)}</figcaption>\n</figure>\n")


def report_html(res: Results, figures: list[Path]) -> str:
    """The self-contained report: summary tables, every figure embedded, the scenario text."""
    title = f"lec-opt report: {res.label()}"
    parts = [f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
             f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n"]
    parts.append(f'<p class="note">Results folder <code>{html.escape(str(res.dir))}</code>. Peer-to-peer energy trading '
                 "in a local energy community after Malik et al., IJEPES 137 (2022) 107865.</p>\n")
    if res.summary is not None:
        s = res.summary
        parts.append(f"<p>{html.escape(str(s.get('intervals', res.n_intervals)))} intervals of "
                     f"{html.escape(str(s.get('interval_minutes', '?')))} minutes, method {html.escape(str(s.get('method', '?')))}, "
                     f"priority {html.escape(str(s.get('priority', '?')))}.</p>\n")
        parts.append("<h2>Summary: lec-opt beside the paper</h2>\n")
        parts.append(_table(["", "lec-opt", "paper"], _summary_rows(s)))
        header, rows = _priority_rows(s)
        parts.append("<h2>Each priority all day</h2>\n")
        parts.append(_table(header, rows))
    if res.settlement is not None:
        parts.append("<h2>Settlement by role (day totals)</h2>\n")
        parts.append(_table(["", "sold P2P, kWh", "bought P2P, kWh", "revenue, $", "revenue grid-only, $", "bill, $",
                             "bill grid-only, $", "saving, $"], _settlement_rows(res.settlement)))
    if res.stability is not None:
        st = res.stability
        in_core = (st["in_core"].astype(str).str.lower().isin(["true", "1"])
                   if "in_core" in st.columns else st["max_violation"] <= 1e-9)
        parts.append("<h2>Cooperative game</h2>\n")
        parts.append(_table(["", "value"], [
            ["intervals checked", str(len(st))], ["in the core", str(int(in_core.sum()))],
            ["largest core violation, $", _fmt(float(st["max_violation"].max()), ".4g")],
        ]))
    parts.append("<h2>Figures</h2>\n")
    parts += [_img(p, res.dir) for p in figures]
    if res.scenario_text is not None:
        parts.append("<h2>Scenario used (scenario.toml)</h2>\n")
        parts.append(f"<pre>{html.escape(res.scenario_text)}</pre>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)
