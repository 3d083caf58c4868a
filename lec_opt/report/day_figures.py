"""The figures of a solved day's energy (``figures/01..06_*.png``), each after a figure of the paper.

1 demand and PV, 2 EV charging, 3 surplus and deficit, 4 the CES, 5 P2P energy and 6 transactions
under each priority with the aggregator's choice. The ring graph of one interval (figure 7) is
``lec_opt.report.ring``; the peers' money and the game (8, 9) are ``lec_opt.report.peer_figures``.
Each function takes a results folder (or its path) and returns the PNG it wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.patches import Patch

from lec_opt.io.results import Results
from lec_opt.io.schema import SummaryKey
from lec_opt.report.drawing import (
    PRIORITY_COLOURS,
    PRIORITY_NAMES,
    as_results,
    headroom,
    kw,
    new_figure,
    out_path,
    save,
    time_axis,
)


def paper_values(res: Results) -> dict:
    """The paper's values summary.json carries beside lec-opt's (empty without a summary)."""
    return (res.summary or {}).get(SummaryKey.PAPER) or {}


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


def _per_priority(
    res: Results, kind: str, column: str, ylabel: str, title: str, name: str, out_dir, total: Callable[[str], str]
) -> Path:
    fig = new_figure(kind)
    ax, band = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [10, 1]})
    drawn: dict[str, np.ndarray] = {}
    styles = {"A": ("-", 3.4), "B": ("-", 1.8), "C": ("--", 1.3)}  # A widest underneath: identical lines stay visible
    for p in res.priorities:
        values = res.intervals[f"{column}_{p}"].to_numpy(dtype=float)
        same = [q for q, v in drawn.items() if np.allclose(v, values, rtol=0, atol=1e-9)]
        note = f"; same as {' and '.join(same)} in every interval" if same else ""
        ls, lw = styles[p]
        ax.stairs(
            values,
            res.edges,
            color=PRIORITY_COLOURS[p],
            lw=lw,
            ls=ls,
            alpha=0.55 if p == "A" else 1.0,
            label=f"{PRIORITY_NAMES[p]} ({total(p)}{note})",
        )
        drawn[p] = values
    ax.set_ylabel(ylabel)
    headroom(ax, max(float(v.max()) for v in drawn.values()), frac=0.25)
    ax.set_title(title if len(res.priorities) > 1 else f"{title} (this run solved priority {res.priorities[0]} only)")
    ax.legend(loc="upper left", fontsize=9)
    time_axis(ax, res, label=False)
    time_axis(band, res)
    band.grid(False)
    _priority_band(band, res)
    return save(fig, out_path(res, out_dir, name))


def fig_demand_pv(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """1. Demand of all peers vs PV generation over the day (paper Fig. 3), kW."""
    res = as_results(results)
    day = res.day
    load = kw(res, day.load_kwh.sum(axis=1))
    pv = kw(res, day.pv_kwh.sum(axis=1))
    fig = new_figure("demand_pv")
    ax = fig.subplots()
    edges = res.edges
    ax.stairs(pv, edges, fill=True, color="#fdd835", alpha=0.3, lw=0)
    ax.stairs(
        pv,
        edges,
        color="#e08a00",
        lw=1.8,
        label=f"PV generation of {int(day.prosumer.sum())} prosumers ({day.pv_kwh.sum():.0f} kWh/day)",
    )
    ax.stairs(
        load,
        edges,
        color="#1f3f8f",
        lw=1.8,
        label=f"demand of all {day.n_peers} peers ({day.load_kwh.sum():.0f} kWh/day)",
    )
    ax.set_ylabel("power (kW, mean over each interval)")
    headroom(ax, max(load.max(), pv.max()))
    ax.set_title("Demand of all peers and PV generation (cf. paper Fig. 3)")
    ax.legend(loc="upper left")
    time_axis(ax, res)
    return save(fig, out_path(res, out_dir, "01_demand_pv.png"))


def fig_ev(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """2. EV charging demand (paper Fig. 4), kW, split into what the CES and the grid supplied."""
    res = as_results(results)
    iv = res.intervals
    ev = kw(res, iv["ev_kwh"])
    from_ces = np.minimum(kw(res, iv["ces_to_ev_kwh"]), ev)
    fig = new_figure("ev")
    ax = fig.subplots()
    ax.stairs(
        from_ces,
        res.edges,
        fill=True,
        color="#6a3d9a",
        alpha=0.75,
        lw=0,
        label=f"supplied by the CES ({iv['ces_to_ev_kwh'].sum():.1f} kWh)",
    )
    ax.stairs(
        ev,
        res.edges,
        baseline=from_ces,
        fill=True,
        color="#999999",
        alpha=0.6,
        lw=0,
        label=f"supplied by the grid ({max(iv['ev_kwh'].sum() - iv['ces_to_ev_kwh'].sum(), 0.0):.1f} kWh)",
    )
    ax.stairs(
        ev,
        res.edges,
        color="black",
        lw=1.2,
        label=f"EV charging demand, all chargers ({iv['ev_kwh'].sum():.1f} kWh/day)",
    )
    ax.set_ylabel("power (kW, mean over each interval)")
    ax.set_ylim(bottom=0)
    ax.set_title("EV charging demand (cf. paper Fig. 4)")
    ax.legend(loc="upper center")
    time_axis(ax, res)
    return save(fig, out_path(res, out_dir, "02_ev_demand.png"))


def fig_surplus_deficit(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """3. Community surplus (sum over sellers) and deficit (sum over buyers) per interval (paper Fig. 5), kW."""
    res = as_results(results)
    iv = res.intervals
    surplus, deficit, alpha = kw(res, iv["supply_kwh"]), kw(res, iv["demand_kwh"]), kw(res, iv["alpha_kwh"])
    fig = new_figure("surplus_deficit")
    ax = fig.subplots()
    ax.stairs(
        surplus,
        res.edges,
        fill=True,
        color="#2ca02c",
        alpha=0.6,
        lw=0,
        label=f"surplus of the sellers ({iv['supply_kwh'].sum():.0f} kWh/day)",
    )
    ax.stairs(
        -deficit,
        res.edges,
        fill=True,
        color="#d62728",
        alpha=0.6,
        lw=0,
        label=f"deficit of the buyers, drawn negative ({iv['demand_kwh'].sum():.0f} kWh/day)",
    )
    ax.stairs(alpha, res.edges, color="black", lw=1.3, label="balance α = surplus − deficit")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("power (kW, mean over each interval)")
    ax.set_title("Community surplus and deficit per interval (cf. paper Fig. 5)")
    ax.legend(loc="lower left")
    time_axis(ax, res)
    return save(fig, out_path(res, out_dir, "03_surplus_deficit.png"))


def fig_ces(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """4. CES charge (+) and discharge (−) per interval, kW, and its state of charge (paper Fig. 6)."""
    res = as_results(results)
    iv = res.intervals
    ces = res.day.scenario.ces
    charge, from_grid = kw(res, iv["ces_charge_kwh"]), kw(res, iv["grid_to_ces_kwh"])
    discharge, to_ev = kw(res, iv["ces_discharge_kwh"]), kw(res, iv["ces_to_ev_kwh"])
    from_peers = np.clip(charge - from_grid, 0.0, None)
    to_ev = np.minimum(to_ev, discharge)
    fig = new_figure("ces")
    ax, ax_soc = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    e = res.edges
    ax.stairs(
        from_peers,
        e,
        fill=True,
        color="#2ca02c",
        alpha=0.7,
        lw=0,
        label=f"charge from peers' surplus ({iv['ces_charge_kwh'].sum() - iv['grid_to_ces_kwh'].sum():.1f} kWh)",
    )
    ax.stairs(
        from_peers + from_grid,
        e,
        baseline=from_peers,
        fill=True,
        color="#7f7f7f",
        alpha=0.7,
        lw=0,
        label=f"charge from the grid ({iv['grid_to_ces_kwh'].sum():.1f} kWh)",
    )
    ax.stairs(
        -(discharge - to_ev),
        e,
        fill=True,
        color="#d62728",
        alpha=0.7,
        lw=0,
        label=f"discharge to peers ({iv['ces_discharge_kwh'].sum() - iv['ces_to_ev_kwh'].sum():.1f} kWh)",
    )
    ax.stairs(
        -discharge,
        e,
        baseline=-(discharge - to_ev),
        fill=True,
        color="#6a3d9a",
        alpha=0.7,
        lw=0,
        label=f"discharge to EV chargers ({iv['ces_to_ev_kwh'].sum():.1f} kWh)",
    )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("CES power (kW)\n+ charge, − discharge")
    ax.set_title(
        f"Community energy storage ({ces.capacity_kwh:g} kWh): charge/discharge and state of charge (cf. paper Fig. 6)"
    )
    ax.legend(loc="lower left", fontsize=9, ncol=2)
    time_axis(ax, res, label=False)
    soc = np.append(iv["soc_start"].to_numpy(dtype=float), iv["soc_end"].to_numpy(dtype=float)[-1]) * 100
    ax_soc.axhspan(ces.soc_min * 100, ces.soc_max * 100, color="#1f77b4", alpha=0.07, lw=0)
    for level, what in ((ces.soc_min, "min"), (ces.soc_max, "max")):
        ax_soc.axhline(level * 100, color="#1f77b4", ls="--", lw=0.9)
        ax_soc.annotate(
            f"SoC {what} {level:.0%}",
            (e[-1], level * 100),
            xytext=(-4, 3 if what == "min" else -11),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color="#1f77b4",
        )
    paper_band = paper_values(res).get(SummaryKey.CES_SOC_BAND)
    if paper_band:
        ax_soc.axhspan(
            paper_band[0] * 100,
            paper_band[1] * 100,
            facecolor="none",
            edgecolor="#ff7f0e",
            hatch="//",
            alpha=0.35,
            lw=0,
            label=f"paper's SoC range {paper_band[0]:.0%}–{paper_band[1]:.0%}",
        )
    ax_soc.plot(e, soc, color="black", lw=1.6, label=f"SoC ({soc.min():.1f}–{soc.max():.1f} %)")
    ax_soc.set_ylabel("state of charge (%)")
    ax_soc.set_ylim(0, 100)
    ax_soc.legend(loc="lower left", fontsize=9)
    time_axis(ax_soc, res)
    return save(fig, out_path(res, out_dir, "04_ces.png"))


def fig_p2p_priorities(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """5. P2P energy traded per interval under A, B and C (kWh per interval), and the chosen priority as a band."""
    res = as_results(results)
    return _per_priority(
        res,
        "p2p",
        "p2p_kwh",
        f"P2P energy (kWh per {res.day.interval_minutes}-min interval)",
        "P2P energy traded per interval under each priority, and the aggregator's choice",
        "05_p2p_priorities.png",
        out_dir,
        lambda p: f"{res.intervals[f'p2p_kwh_{p}'].sum():.1f} kWh/day",
    )


def fig_transactions(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """6. Number of P2P transactions per interval under each priority."""
    res = as_results(results)
    return _per_priority(
        res,
        "transactions",
        "transactions",
        "transactions per interval (count)",
        "P2P transactions per interval under each priority",
        "06_transactions.png",
        out_dir,
        lambda p: f"{int(res.intervals[f'transactions_{p}'].sum()):,} in the day",
    )
