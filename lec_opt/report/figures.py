"""Every figure a results folder supports, in order: the day's 1–8, 9 (core violation), 10 (the chosen
priority by period), 11 (SoC with foresight, when solved so), 12–15 (power flows of a feeder day),
then the sweeps. The ring (7) is drawn for a ring community only."""

from __future__ import annotations

from pathlib import Path

from lec_opt.errors import LecOptError
from lec_opt.io.results import Results
from lec_opt.report.day_figures import (
    fig_ces,
    fig_demand_pv,
    fig_ev,
    fig_p2p_priorities,
    fig_surplus_deficit,
    fig_transactions,
)
from lec_opt.report.drawing import as_results
from lec_opt.report.peer_figures import fig_settlement, fig_stability
from lec_opt.report.policy_figures import fig_foresight, fig_selection
from lec_opt.report.ring import fig_ring
from lec_opt.report.sweep_figures import fig_sweeps


def render_figures(
    results_dir: Results | str | Path, interval: int | None = None, out_dir: str | Path | None = None
) -> list[Path]:
    """Draw every figure the folder supports into ``results_dir/figures`` (or ``out_dir``); returns the paths.

    ``interval``: the ring graph's interval (default: the most P2P energy under the chosen priority).
    """
    res = as_results(results_dir)
    if res.has_day and interval is not None and not 0 <= interval < res.n_intervals:
        raise LecOptError(f"interval {interval} outside 0..{res.n_intervals - 1}")
    paths: list[Path] = []
    if res.has_day:
        paths += [
            fig_demand_pv(res, out_dir),
            fig_ev(res, out_dir),
            fig_surplus_deficit(res, out_dir),
            fig_ces(res, out_dir),
            fig_p2p_priorities(res, out_dir),
            fig_transactions(res, out_dir),
        ]
        if res.day.scenario.community.topology != "feeder":  # a feeder community is drawn on its feeder (13)
            paths.append(fig_ring(res, interval, out_dir=out_dir))
        paths += [fig_settlement(res, out_dir)]
        if res.stability is not None:
            paths.append(fig_stability(res, out_dir))
        paths.append(fig_selection(res, out_dir))
        if "soc_end_myopic" in res.intervals.columns:
            paths.append(fig_foresight(res, out_dir))
        if res.network is not None:
            paths += render_network_figures(res, out_dir)
        if res.settlement is not None and "curtailed_kwh" in res.settlement.columns:
            from lec_opt.report.curtailment_figures import fig_curtailment  # pandapower: feeder days only

            paths.append(fig_curtailment(res, out_dir))
    if res.sweep is not None:
        paths += fig_sweeps(res, out_dir)
    return paths


def render_network_figures(results_dir: Results | str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Figures 12 (voltage band), 13 (feeder map of the worst interval), 14 (every peer's voltage) and
    15 (the most loaded cables) of a folder with network.csv."""
    from lec_opt.report.network_figures import (  # pandapower: feeder days only
        fig_feeder_cables,
        fig_feeder_map,
        fig_peer_voltages,
        fig_voltage_band,
    )

    res = as_results(results_dir)
    if res.network is None:
        raise LecOptError(f"{res.dir}: no network.csv (run lec-opt power-flow on the folder first)")
    paths = [fig_voltage_band(res, out_dir)]
    drawn = [fig_feeder_map(res, out_dir=out_dir), fig_peer_voltages(res, out_dir), fig_feeder_cables(res, out_dir)]
    return paths + [path for path in drawn if path is not None]
