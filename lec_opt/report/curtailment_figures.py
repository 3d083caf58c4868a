"""Figure 16 of a feeder day that kept the network's limits: who gave up what, along the feeder.

Each prosumer's PV curtailed over the day and the revenue the limits cost it (settlement.csv's
``curtailed_kwh`` and ``limits_cost_usd``), against its cable distance from the transformer (or the
feeder's source): under ``least`` the curtailment falls on the far end, under ``equal_share`` it
follows the PV (models/FORMULATION.md §13).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lec_opt.io.results import Results
from lec_opt.report.drawing import as_results, new_figure, out_path, save


def distance_from_source_m(day) -> np.ndarray:
    """Each peer's cable metres from the feeder's transformer LV bus (or its source's bus)."""
    from lec_opt.network.feeder import cable_distances_m, load_feeder

    n_chargers = day.ev_charger_kwh.shape[1] if day.ev_charger_kwh is not None else 1
    feeder = load_feeder(day.scenario, day.n_peers, n_chargers)
    net = feeder.net
    source = int(net.trafo.lv_bus.iloc[0]) if len(net.trafo) else int(net.ext_grid.bus.iloc[0])
    return cable_distances_m(net, np.array([source, *feeder.peer_bus]))[0, 1:]


def fig_curtailment(results: Results | str | Path, out_dir: str | Path | None = None) -> Path | None:
    """16. Each prosumer's curtailed kWh and limits cost against its distance from the transformer;
    None for a day without the limits enforced."""
    res = as_results(results)
    settlement = res.settlement
    if settlement is None or "curtailed_kwh" not in settlement.columns:
        return None
    metres = distance_from_source_m(res.day)
    prosumer = (settlement.role == "prosumer").to_numpy()
    fig = new_figure("curtailment")
    energy, money = fig.subplots(2, 1, sharex=True)
    energy.bar(metres[prosumer], settlement.curtailed_kwh[prosumer], width=3.0, color="tab:orange")
    energy.set_ylabel("PV curtailed, kWh")
    rule = res.summary.get("network_limits", {}).get("curtailment", "")
    total = float(settlement.curtailed_kwh.sum())
    energy.set_title(f"Who gave up what to keep the network's limits ({rule}): {total:.1f} kWh curtailed")
    money.bar(metres[prosumer], settlement.limits_cost_usd[prosumer], width=3.0, color="tab:red")
    money.axhline(0.0, color="k", linewidth=0.6)
    money.set_ylabel("revenue the limits cost, $")
    money.set_xlabel("cable distance of the prosumer's bus from the transformer, m")
    return save(fig, out_path(res, out_dir, "16_curtailment.png"))
