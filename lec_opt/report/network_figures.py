"""Figures 12 and 13 of a feeder day with power flows (network.csv): the voltage band, the feeder map.

10: the lowest and highest phase voltage of every interval (p.u.) against EN 50160's ±10 % band,
with the largest line loading on a second axis. 11: the feeder drawn from its bus coordinates in
the interval furthest from 1 p.u., buses coloured by their lowest phase voltage, the CES and EV
buses marked, and that interval's trades (the aggregator's choice) drawn from the seller's bus to
the buyer's with width proportional to kWh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection

from lec_opt.io.results import Results
from lec_opt.network.powerflow import EN50160_BAND_PU, worst_interval
from lec_opt.report.drawing import as_results, new_figure, out_path, save, time_axis


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
    from lec_opt.network.feeder import bus_coordinates, load_feeder
    from lec_opt.network.powerflow import FeederFlow, injections

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
    flow = FeederFlow(feeder)  # the interval again, for every bus's voltage
    iv = res.intervals
    ev = day.ev_charger_kwh if day.ev_charger_kwh is not None else day.ev_kwh[:, None]
    inj = injections(
        day.load_kwh[t],
        day.pv_kwh[t],
        float(iv.at[t, "ces_charge_kwh"]),
        float(iv.at[t, "ces_discharge_kwh"]),
        ev[t],
        day.hours,
        day.scenario.network.load_power_factor,
    )
    flow.run(inj, day.hours)
    vm = flow.net.res_bus_3ph[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].min(axis=1)
    fig = new_figure("feeder_map")
    ax = fig.add_subplot()
    segments = [
        (xy[int(a)], xy[int(b)])
        for a, b in zip(feeder.net.line.from_bus, feeder.net.line.to_bus)
        if a in xy and b in xy
    ]
    ax.add_collection(LineCollection(segments, colors="#bbbbbb", linewidths=0.8, zorder=1))
    buses = [b for b in flow.buses if int(b) in xy]
    pts = np.array([xy[int(b)] for b in buses])
    sc = ax.scatter(pts[:, 0], pts[:, 1], c=vm.reindex(buses), s=4, cmap="coolwarm_r", zorder=2)
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
