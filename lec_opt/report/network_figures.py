"""Figures 12 to 15 of a feeder day with power flows: the voltage band, the feeder map, every
peer's voltage, the most loaded cables.

12: the lowest and highest phase voltage of every interval (p.u.) against EN 50160's ±10 % band,
with the largest line loading on a second axis (network.csv). 13: the feeder drawn from its bus
coordinates in the interval furthest from 1 p.u., buses coloured by their lowest phase voltage, the
CES and EV buses marked, and that interval's trades (the aggregator's choice) drawn from the
seller's bus to the buyer's with width proportional to kWh. 14: every peer's voltage over the day
as a heat map (voltages.parquet). 15: the feeder's cables coloured by their highest loading of the
day, the most loaded named (lines.csv).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection

from lec_opt.io.results import Results
from lec_opt.network.tables import EN50160_BAND_PU, worst_interval
from lec_opt.report.drawing import as_results, new_figure, out_path, save, time_axis
from lec_opt.report.period_figures import mark_band, voltage_scale


def feeder_has_coordinates(res: Results) -> bool:
    """Whether the folder's feeder has bus coordinates to draw figures 13 and 15 with."""
    from lec_opt.network.feeder import bus_coordinates, read_network

    scenario = res.day.scenario
    return bool(bus_coordinates(read_network(scenario.network, scenario.source)))


def fig_voltage_band(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """12. Lowest and highest phase voltage per interval against EN 50160, and the largest line loading."""
    res = as_results(results)
    net = res.network
    fig = new_figure("voltage_band")
    ax = fig.add_subplot()
    t = res.edges[:-1] + res.hours / 2
    ok = net.converged.astype(bool).to_numpy()
    low = np.where(ok, net.v_min_pu, np.nan)
    high = np.where(ok, net.v_max_pu, np.nan)
    ax.fill_between(t, low, high, color="#1f77b4", alpha=0.3, step="mid", label="phase voltages of all buses")
    ax.plot(t, low, color="#1f77b4", lw=1, drawstyle="steps-mid", label="lowest phase voltage")
    ax.plot(t, high, color="#d62728", lw=1, drawstyle="steps-mid", label="highest phase voltage")
    for v in EN50160_BAND_PU:
        ax.axhline(v, color="k", ls="--", lw=0.8)
    ax.axhline(1.0, color="grey", lw=0.5)
    if (~ok).any():
        ax.plot(t[~ok], np.full((~ok).sum(), 1.0), "kx", label="power flow did not converge")
    ax.set_ylabel("voltage, p.u. (dashed: EN 50160 ±10 %)")
    span = np.nanmax(np.abs(np.r_[low, high] - 1.0)) if ok.any() else 0.1
    ax.set_ylim(1.0 - max(0.11, span * 1.2), 1.0 + max(0.11, span * 1.2))
    time_axis(ax, res)
    ax2 = ax.twinx()
    ax2.plot(
        t, np.where(ok, net.line_loading_max_percent, np.nan), color="#2ca02c", lw=0.8, label="largest line loading"
    )
    ax2.set_ylabel("largest line loading, %")
    ax2.set_ylim(0, max(100.0, float(np.nanmax(net.line_loading_max_percent)) * 1.1 if ok.any() else 100.0))
    lines = ax.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    ax.set_title("Voltage band of the feeder over the day (unbalanced three-phase power flow)")
    return save(fig, out_path(res, out_dir, "12_voltage_band.png"))


def fig_feeder_map(
    results: Results | str | Path, interval: int | None = None, out_dir: str | Path | None = None
) -> Path | None:
    """13. The feeder map of the interval furthest from 1 p.u., with its trades; None without coordinates."""
    from lec_opt.network.engine import open_flow
    from lec_opt.network.feeder import bus_coordinates, load_feeder
    from lec_opt.network.powerflow import curtailment_of, day_powers

    res = as_results(results)
    t = worst_interval(res.network) if interval is None else int(interval)
    if t is None:
        return None
    day = res.day
    n_chargers = day.ev_charger_kwh.shape[1] if day.ev_charger_kwh is not None else 1
    feeder = load_feeder(day.scenario, day.n_peers, n_chargers)
    xy = bus_coordinates(feeder.net)
    if not xy:
        return None
    iv = res.intervals
    powers = day_powers(
        feeder,
        day,
        iv.ces_charge_kwh.to_numpy(float),
        iv.ces_discharge_kwh.to_numpy(float),
        day.scenario.network.load_power_factor,
        curtailment_of(res.dir, day.n_intervals, day.n_peers),
    )
    flow = open_flow(feeder, day.scenario.network.engine)  # the interval again, for every bus's voltage
    lowest = flow.solve(powers.interval(t)).v_pu[0].min(axis=1)
    fig = new_figure("feeder_map")
    ax = fig.add_subplot()
    segments = [
        (xy[int(a)], xy[int(b)])
        for a, b in zip(feeder.net.line.from_bus, feeder.net.line.to_bus)
        if a in xy and b in xy
    ]
    ax.add_collection(LineCollection(segments, colors="#bbbbbb", linewidths=0.8, zorder=1))
    drawn = [k for k, b in enumerate(flow.buses) if int(b) in xy]
    pts = np.array([xy[int(flow.buses[k])] for k in drawn])
    sc = ax.scatter(pts[:, 0], pts[:, 1], c=lowest[drawn], s=4, cmap="coolwarm_r", zorder=2)
    fig.colorbar(sc, ax=ax, label="lowest phase voltage, p.u.")
    peer_xy = np.array([xy.get(int(b), (np.nan, np.nan)) for b in feeder.peer_bus])
    net_kwh = day.net_kwh[t]
    ax.scatter(
        peer_xy[:, 0],
        peer_xy[:, 1],
        s=30,
        c=np.where(net_kwh > 0, "#2ca02c", "#d62728"),
        zorder=4,
        edgecolors="k",
        linewidths=0.4,
    )
    for k, (x, y) in enumerate(peer_xy, start=1):
        ax.annotate(str(k), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    trades = res.trades[(res.trades.interval == t) & res.trades.chosen.astype(bool)]
    if len(trades):
        width = 4.0 * trades.kwh.to_numpy() / trades.kwh.max()
        for (_, tr), w in zip(trades.iterrows(), width):
            a, b = peer_xy[int(tr.seller) - 1], peer_xy[int(tr.buyer) - 1]
            ax.annotate(
                "", xy=b, xytext=a, arrowprops={"arrowstyle": "->", "color": "#3b5ba5", "lw": max(w, 0.5)}, zorder=3
            )
    cx, cy = xy.get(int(feeder.ces_bus), (np.nan, np.nan))
    ax.scatter([cx], [cy], marker="s", s=120, c="gold", edgecolors="k", zorder=5, label="CES")
    ev_xy = np.array([xy.get(int(b), (np.nan, np.nan)) for b in feeder.ev_buses]).reshape(-1, 2)
    if len(ev_xy):
        ax.scatter(
            ev_xy[:, 0],
            ev_xy[:, 1],
            marker="^",
            s=40,
            facecolors="none",
            edgecolors="purple",
            zorder=5,
            label="EV chargers",
        )
    ax.scatter([], [], c="#2ca02c", s=30, label="peer with surplus")
    ax.scatter([], [], c="#d62728", s=30, label="peer with deficit")
    ax.plot([], [], color="#3b5ba5", label="P2P trade (width ∝ kWh)")
    ax.set_aspect("equal")
    ax.autoscale()
    ax.set_xlabel("x, m")
    ax.set_ylabel("y, m")
    ax.legend(loc="best", fontsize=8)
    chosen = str(iv.at[t, "chosen"])
    ax.set_title(
        f"Feeder at {iv.at[t, 'time']} (interval {t}, furthest from 1 p.u.): priority {chosen}, "
        f"{len(trades)} trades, {trades.kwh.sum():.2f} kWh"
    )
    return save(fig, out_path(res, out_dir, f"13_feeder_map_t{t:03d}.png"))


def fig_peer_voltages(results: Results | str | Path, out_dir: str | Path | None = None) -> Path | None:
    """14. Every peer's voltage over the day (voltages.parquet) as a heat map; None without the file."""
    res = as_results(results)
    if res.voltages is None:
        return None
    table = res.voltages.pivot(index="peer", columns="interval", values="v_pu").sort_index()
    fig = new_figure("peer_voltages")
    ax = fig.add_subplot()
    lo, hi = EN50160_BAND_PU
    low, high = voltage_scale(table.to_numpy())
    image = ax.imshow(
        table.to_numpy(),
        aspect="auto",
        cmap="viridis",
        vmin=low,
        vmax=high,
        extent=(res.edges[0], res.edges[-1], table.index[-1] + 0.5, table.index[0] - 0.5),
        interpolation="nearest",
    )
    bar = fig.colorbar(image, ax=ax, label=f"voltage at the peer's bus and phase, p.u. (EN 50160: {lo:g}–{hi:g})")
    mark_band(bar, low, high)
    ax.set_ylabel("peer")
    time_axis(ax, res)
    outside = int(((table < lo) | (table > hi)).to_numpy().sum())
    ax.set_title(f"Every peer's voltage over the day: {outside} peer-intervals outside EN 50160")
    return save(fig, out_path(res, out_dir, "14_peer_voltages.png"))


TOP_CABLES = 5


def fig_feeder_cables(results: Results | str | Path, out_dir: str | Path | None = None) -> Path | None:
    """15. The feeder's cables coloured by their highest loading of the day (lines.csv), the most
    loaded named; None without the file or bus coordinates."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from lec_opt.network.feeder import bus_coordinates, load_feeder

    res = as_results(results)
    if res.lines is None:
        return None
    day = res.day
    n_chargers = day.ev_charger_kwh.shape[1] if day.ev_charger_kwh is not None else 1
    net = load_feeder(day.scenario, day.n_peers, n_chargers).net
    xy = bus_coordinates(net)
    if not xy:
        return None
    peak = res.lines.set_index("line").loading_max_percent
    names = net.line.name.astype(str)
    cables = [
        (n, xy[int(a)], xy[int(b)]) for n, a, b in zip(names, net.line.from_bus, net.line.to_bus) if a in xy and b in xy
    ]
    loading = np.array([peak.get(n, np.nan) for n, _, _ in cables])
    norm = Normalize(0.0, max(100.0, float(np.nanmax(loading))) if np.isfinite(loading).any() else 100.0)
    fig = new_figure("feeder_cables")
    ax = fig.add_subplot()
    colours = ScalarMappable(norm, "viridis")
    ax.add_collection(
        LineCollection(
            [(a, b) for _, a, b in cables],
            colors=colours.to_rgba(np.nan_to_num(loading)),
            linewidths=0.6 + 3 * np.nan_to_num(loading) / norm.vmax,
        )
    )
    for _, row in res.lines.head(TOP_CABLES).iterrows():
        ends = [(a, b) for n, a, b in cables if n == str(row.line)]
        if ends and np.isfinite(row.loading_max_percent):
            (x0, y0), (x1, y1) = ends[0]
            ax.annotate(
                f"{row.line}: {row.loading_max_percent:.0f} % at {row.time}", ((x0 + x1) / 2, (y0 + y1) / 2), fontsize=7
            )
    fig.colorbar(colours, ax=ax, label="highest loading of the day, % of rated current")
    ax.set_aspect("equal")
    ax.autoscale()
    ax.set_xlabel("x, m")
    ax.set_ylabel("y, m")
    ax.set_title(f"Cables by their highest loading of the day: the {TOP_CABLES} most loaded named")
    return save(fig, out_path(res, out_dir, "15_feeder_cables.png"))
