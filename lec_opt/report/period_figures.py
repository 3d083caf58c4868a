"""The figures of a period (``figures/period_*.png``), drawn from its days table and SoC matrix.

``period_monthly.png``: energy per month (P2P, grid import and export, CES in and out) and the
community's saving against grid-only per month; ``period_soc.png``: the CES state of charge as a
day × time-of-day heat map; ``period_cycles.png``: CES full-cycle equivalents per day and
cumulated over the period. With power flows: ``period_peer_voltages.png``, each peer's highest
voltage per day (peers × days), and ``period_minutes_outside.png``, each peer's minutes outside
EN 50160's band over the period.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.io.atomic import atomic_open

DPI = 100


def _figure(width: float, height: float):
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # never switch the backend under an interactive session
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


def fig_monthly(days: pd.DataFrame, path: Path) -> Path:
    """Energy per month (bars per flow) and the community's saving per month."""
    months = days.groupby("month", sort=True)
    flows = {
        "P2P": "p2p_energy_kwh",
        "grid import": "grid_import_kwh",
        "grid export": "grid_export_kwh",
        "CES in": "ces_charge_kwh",
        "CES out": "ces_discharge_kwh",
    }
    labels = list(months.groups)
    x = np.arange(len(labels))
    fig = _figure(max(7.0, 0.7 * len(labels) + 3.0), 6.5)
    energy, money = fig.subplots(2, 1, sharex=True)
    width = 0.8 / len(flows)
    for k, (name, column) in enumerate(flows.items()):
        energy.bar(x + (k - (len(flows) - 1) / 2) * width, months[column].sum().to_numpy() / 1000.0, width, label=name)
    energy.set_ylabel("MWh per month")
    energy.legend(fontsize=8, ncols=3)
    energy.grid(True, axis="y", alpha=0.3)
    saving = months["community_saving_usd"].sum().to_numpy()
    money.bar(x, saving, 0.6, color=np.where(saving >= 0, "#2ca02c", "#d62728"))
    money.set_ylabel("community saving, $ per month")
    money.grid(True, axis="y", alpha=0.3)
    counts = months.size().to_numpy()
    ticks = [f"{label}\n({n} d)" for label, n in zip(labels, counts)]
    money.set_xticks(x, ticks, rotation=30 if len(labels) > 6 else 0, fontsize=8)
    fig.suptitle("Energy and the community's saving against grid-only, by month")
    return _save(fig, path)


def fig_soc(days: pd.DataFrame, soc: np.ndarray, interval_minutes: int, path: Path) -> Path:
    """The SoC at the end of each interval: days down, time of day across."""
    fig = _figure(9.0, max(3.5, min(10.0, 1.5 + 0.025 * len(days))))
    ax = fig.subplots()
    hours = soc.shape[1] * interval_minutes / 60.0
    image = ax.imshow(
        soc, aspect="auto", interpolation="nearest", cmap="viridis", extent=(0.0, hours, len(days) - 0.5, -0.5)
    )
    ax.set_xticks(np.arange(0, 25, 3))
    ax.set_xlabel("time of day (site standard time), h")
    ticks = np.unique(np.linspace(0, len(days) - 1, min(len(days), 12)).round().astype(int))
    ax.set_yticks(ticks, [days["date"].iloc[t] for t in ticks], fontsize=8)
    fig.colorbar(image, ax=ax, label="state of charge (fraction of capacity)")
    ax.set_title("CES state of charge, day × time of day (carried over midnight)")
    return _save(fig, path)


def fig_cycles(days: pd.DataFrame, path: Path) -> Path:
    """CES full-cycle equivalents per day and cumulated."""
    fig = _figure(9.0, 4.0)
    ax = fig.subplots()
    x = np.arange(len(days))
    ax.bar(x, days["ces_full_cycles"], color="#1f77b4", label="per day")
    ax.set_ylabel("full cycles per day")
    total = ax.twinx()
    total.plot(x, days["ces_full_cycles"].cumsum(), color="#d62728", label="cumulated")
    total.set_ylabel("cumulated full cycles")
    ticks = np.unique(np.linspace(0, len(days) - 1, min(len(days), 12)).round().astype(int))
    ax.set_xticks(ticks, [days["date"].iloc[t] for t in ticks], rotation=30, fontsize=8)
    ax.set_title(f"CES full-cycle equivalents (energy out / capacity): {days['ces_full_cycles'].sum():.1f} in all")
    return _save(fig, path)


def write_period_figures(days: pd.DataFrame, soc: np.ndarray, interval_minutes: int, folder: str | Path) -> list[Path]:
    """Draw the three period figures into ``folder``; returns the paths."""
    folder = Path(folder)
    return [
        fig_monthly(days, folder / "period_monthly.png"),
        fig_soc(days, soc, interval_minutes, folder / "period_soc.png"),
        fig_cycles(days, folder / "period_cycles.png"),
    ]


def voltage_scale(values: np.ndarray) -> tuple[float, float]:
    """The colour scale of a voltage heat map: the values' range, at least 0.02 p.u. wide."""
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    middle, half = (low + high) / 2, max((high - low) / 2, 0.01)
    return middle - half, middle + half


def mark_band(bar, low: float, high: float) -> None:
    """EN 50160's limits drawn on a voltage colour bar, where they fall within its scale."""
    for limit in (0.90, 1.10):
        if low <= limit <= high:
            bar.ax.axhline(limit, color="k", lw=1.5)


def fig_peer_voltage_days(days: pd.DataFrame, v_max: np.ndarray, path: Path) -> Path:
    """Each peer's highest voltage of each day: days across, peers down."""
    fig = _figure(max(7.0, min(14.0, 4.0 + 0.03 * len(days))), 6.0)
    ax = fig.subplots()
    low, high = voltage_scale(v_max)
    image = ax.imshow(
        v_max.T, aspect="auto", interpolation="nearest", cmap="viridis", vmin=low, vmax=high,
        extent=(-0.5, len(days) - 0.5, v_max.shape[1] + 0.5, 0.5),
    )  # fmt: skip
    ticks = np.unique(np.linspace(0, len(days) - 1, min(len(days), 12)).round().astype(int))
    ax.set_xticks(ticks, [days["date"].iloc[t] for t in ticks], rotation=30, fontsize=8)
    ax.set_ylabel("peer")
    bar = fig.colorbar(image, ax=ax, label="highest voltage of the day at the peer's bus and phase, p.u.")
    mark_band(bar, low, high)
    over = int((v_max > 1.10).sum())
    ax.set_title(f"Each peer's highest voltage per day: {over} peer-days above EN 50160's 1.10 p.u.")
    return _save(fig, path)


def fig_minutes_outside(minutes: np.ndarray, days: int, path: Path) -> Path:
    """Each peer's minutes outside EN 50160's band over the period."""
    fig = _figure(max(7.0, 0.15 * len(minutes) + 3.0), 4.0)
    ax = fig.subplots()
    peers = np.arange(1, len(minutes) + 1)
    ax.bar(peers, minutes, color=np.where(minutes > 0, "#d62728", "#2ca02c"))
    ax.set_xlim(0.5, len(minutes) + 0.5)
    ax.set_ylim(0, max(1.0, float(minutes.max()) * 1.1))
    if not minutes.any():
        ax.text(0.5, 0.5, "no peer outside the band at any time", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel("peer")
    ax.set_ylabel("minutes outside 0.90–1.10 p.u.")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(f"Minutes outside EN 50160 per peer over {days} days: {int(minutes.sum())} peer-minutes in all")
    return _save(fig, path)


def write_period_network_figures(days: pd.DataFrame, v_max: np.ndarray, minutes: np.ndarray, folder) -> list[Path]:
    """Draw the two network figures of a period with power flows into ``folder``; returns the paths."""
    folder = Path(folder)
    return [
        fig_peer_voltage_days(days, v_max, folder / "period_peer_voltages.png"),
        fig_minutes_outside(minutes, len(days), folder / "period_minutes_outside.png"),
    ]
