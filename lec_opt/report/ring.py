"""Figure 7: the trades of one interval on the ring (the paper's trade-pairing figures).

Peers sit on a circle in ring order (peer 1 at the top, clockwise), coloured as sellers, buyers
or balanced in that interval; each trade is an edge whose width is proportional to the kWh it
carries. By default the interval with the most P2P energy under the aggregator's choice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath

from lec_opt.errors import LecOptError
from lec_opt.io.results import Results
from lec_opt.report.drawing import as_results, new_figure, out_path, save

SELLER, BUYER, IDLE = "#2ca02c", "#d62728", "#c7c7c7"
EDGE = "#3b5ba5"


def default_ring_interval(results: Results | str | Path) -> int:
    """The interval with the most P2P energy under the aggregator's chosen priority (first on ties)."""
    res = as_results(results)
    return int(np.argmax(res.chosen_p2p_kwh()))


def _ring_xy(peers, n: int, radius: float = 1.0) -> np.ndarray:
    theta = np.pi / 2 - 2 * np.pi * (np.asarray(peers, dtype=float) - 1) / n  # peer 1 at the top, clockwise
    return np.column_stack([radius * np.cos(theta), radius * np.sin(theta)])


def fig_ring(
    results: Results | str | Path,
    interval: int | None = None,
    priority: str | None = None,
    out_dir: str | Path | None = None,
) -> Path:
    """7. Ring trade graph of one interval: peers on a circle, edge width proportional to kWh traded."""
    res = as_results(results)
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
    fig = new_figure("ring")
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
        ax.add_patch(
            PathPatch(path, facecolor="none", edgecolor=EDGE, alpha=0.55, lw=width(kwh), capstyle="round", zorder=1)
        )
    xy = _ring_xy(np.arange(1, n + 1), n)
    colour = np.where(net > 1e-12, SELLER, np.where(net < -1e-12, BUYER, IDLE))
    size = 70 if n <= 40 else 40
    for mask, marker in ((day.prosumer, "s"), (~day.prosumer, "o")):
        ax.scatter(
            xy[mask, 0],
            xy[mask, 1],
            s=size,
            marker=marker,
            c=colour[mask],
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
        )
    every = 1 if n <= 30 else 5
    for p in range(1, n + 1):
        if p == 1 or p % every == 0:
            ((lx, ly),) = _ring_xy([p], n, 1.09)
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
        Line2D(
            [],
            [],
            marker="s",
            ls="",
            markerfacecolor="white",
            markeredgecolor="black",
            markersize=8,
            label="prosumer (PV)",
        ),
        Line2D(
            [], [], marker="o", ls="", markerfacecolor="white", markeredgecolor="black", markersize=8, label="consumer"
        ),
        Patch(facecolor=SELLER, edgecolor="black", label="seller this interval (surplus)"),
        Patch(facecolor=BUYER, edgecolor="black", label="buyer this interval (deficit)"),
        Patch(facecolor=IDLE, edgecolor="black", label="balanced"),
    ]
    if kmax > 0:
        for frac in (1.0, 0.5, 0.1):
            handles.append(
                Line2D([], [], color=EDGE, alpha=0.55, lw=width(frac * kmax), label=f"{frac * kmax:.3g} kWh traded")
            )
    else:
        handles.append(Line2D([], [], color="none", label="no P2P trades in this interval"))
    fig.legend(
        handles=handles,
        loc="outside right upper",
        frameon=False,
        fontsize=9,
        title="peers (ring order, clockwise)\nand trades (edge width = kWh)",
        title_fontsize=9,
    )
    return save(fig, out_path(res, out_dir, f"07_ring_t{t:03d}_{priority}.png"))
