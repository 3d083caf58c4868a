"""Figures and the HTML report of a results folder (``lec-opt report``, ``solve-day --report``).

Reads what ``solve-day`` wrote (through ``lec_opt.io.results``) and writes ``figures/NN_name.png``
(a sweep's ``figures/sweep_<group>_<field>.png``) and one self-contained ``report.html``.
``stability.csv`` (cooperative game) and ``sweep.csv`` (parameter sweeps) are drawn when present.

- ``drawing``: fixed figure sizes, the Agg canvas, atomic PNGs, shared axes and colours
- ``day_figures``: figures 1–6 of the day (energy)
- ``peer_figures``: figure 8 the settlement per peer, 9 the core violation per interval
- ``ring``: figure 7, the trades of one interval on the ring
- ``sweep_figures``: figure 9, a sweep's metrics against each swept field (``lec_opt.analysis.sweep``'s figures)
- ``figures``: every figure a folder supports, in order
- ``summary``: the summary tables as rows of text (the CLI prints the same rows)
- ``html``: the page itself and ``write_report``
"""

from lec_opt.report.day_figures import (
    fig_ces,
    fig_demand_pv,
    fig_ev,
    fig_p2p_priorities,
    fig_surplus_deficit,
    fig_transactions,
)
from lec_opt.report.drawing import DPI, FIGSIZE, FIGURES_DIR
from lec_opt.report.figures import render_figures
from lec_opt.report.html import FORMATS, REPORT_FILE, report_html, write_report
from lec_opt.report.peer_figures import fig_settlement, fig_stability
from lec_opt.report.ring import default_ring_interval, fig_ring
from lec_opt.report.summary import day_summary_rows, priority_rows
from lec_opt.report.sweep_figures import fig_sweeps

__all__ = [
    "DPI",
    "FIGSIZE",
    "FIGURES_DIR",
    "FORMATS",
    "REPORT_FILE",
    "day_summary_rows",
    "default_ring_interval",
    "fig_ces",
    "fig_demand_pv",
    "fig_ev",
    "fig_p2p_priorities",
    "fig_ring",
    "fig_settlement",
    "fig_stability",
    "fig_surplus_deficit",
    "fig_sweeps",
    "fig_transactions",
    "priority_rows",
    "render_figures",
    "report_html",
    "write_report",
]
