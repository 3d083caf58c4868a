"""Is a feeder ready for the unbalanced power flow? Checked before any work (models/FORMULATION.md §11).

A user's pandapower network may lack what pandapower's three-phase flow needs: the source's
short-circuit levels, the lines' zero-sequence data, the transformer's zero-sequence data and
vector group. Each missing item is named with how to add it (a bus of the community that no
source supplies is named when the feeder is placed). Then one trial flow, with a light load,
must converge (0.1 kW at every peer); a network where it does not stops the run with the likely causes.
"""

from __future__ import annotations

import math

from lec_opt.errors import InputError, LecOptError

# what runpp_3ph reads per element: (table, column, what it is)
UNBALANCED_DATA = (
    ("ext_grid", "s_sc_max_mva", "the source's short-circuit power, MVA"),
    ("ext_grid", "rx_max", "the source's R/X ratio"),
    ("ext_grid", "x0x_max", "the source's X0/X ratio"),
    ("ext_grid", "r0x0_max", "the source's R0/X0 ratio"),
    ("line", "r0_ohm_per_km", "the line's zero-sequence resistance"),
    ("line", "x0_ohm_per_km", "the line's zero-sequence reactance"),
    ("line", "c0_nf_per_km", "the line's zero-sequence capacitance"),
    ("trafo", "vector_group", "the transformer's vector group, e.g. 'Dyn'"),
    ("trafo", "vk0_percent", "the transformer's zero-sequence short-circuit voltage"),
    ("trafo", "vkr0_percent", "its real part"),
    ("trafo", "mag0_percent", "the zero-sequence magnetising impedance"),
    ("trafo", "mag0_rx", "its R/X ratio"),
    ("trafo", "si0_hv_partial", "the HV side's share of the zero-sequence impedance"),
)
HOW_TO_ADD = (
    "add them to the net before pandapower.to_json (for example net.ext_grid['s_sc_max_mva'] = 1000.0, "
    "net.line['r0_ohm_per_km'] = ..., or a standard type that has them)"
)


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def missing_unbalanced_data(net) -> list[str]:
    """Each in-service element that lacks a value the unbalanced flow reads: "table 'name': column (what)"."""
    missing = []
    for table, column, what in UNBALANCED_DATA:
        frame = net[table] if table in net else None
        if frame is None or not len(frame):
            continue
        rows = frame[frame["in_service"].astype(bool)] if "in_service" in frame else frame
        for index, row in rows.iterrows():
            if column not in rows.columns or _blank(row[column]):
                name = row.get("name") if not _blank(row.get("name")) else index
                missing.append(f"{table} {name!r}: {column} ({what})")
    return missing


def unsupplied_buses(net, buses) -> list[int]:
    """Those of ``buses`` that no in-service source reaches (an island, or an open switch)."""
    import pandapower.topology as top

    cut_off = top.unsupplied_buses(net)
    return sorted(int(b) for b in set(int(b) for b in buses) & set(int(b) for b in cut_off))


def check_feeder_for_flows(feeder, where: str) -> None:
    """InputError naming every datum the unbalanced flow needs and the network lacks, before any work
    (the community's buses are checked for a source when the feeder is placed: ``load_feeder``)."""
    missing = missing_unbalanced_data(feeder.net)
    if missing:
        shown = "; ".join(missing[:8]) + (f"; and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise InputError(
            where, f"the unbalanced power flow needs data this network lacks: {shown}. {HOW_TO_ADD}", field="network"
        )


TRIAL_KW = 0.1  # every peer's load in the trial flow (a flow with no load at all converges on any network)


def trial_flow(feeder, engine) -> None:
    """One flow with a light load (``TRIAL_KW`` at every peer) by ``engine`` before the run;
    LecOptError with the likely causes when it does not converge."""
    import numpy as np

    from lec_opt.network.bus_powers import bus_powers
    from lec_opt.network.engine import open_flow

    n, chargers = feeder.n_peers, len(feeder.ev_buses)
    light = bus_powers(feeder, np.full((1, n), TRIAL_KW), np.zeros((1, n)), 0.0, 0.0, np.zeros((1, chargers)), 1.0, 1.0)
    if open_flow(feeder, engine).solve(light).converged.all():
        return
    groups = ", ".join(
        f"{row['name'] or index}: {row['vector_group']} with shift {row['shift_degree']:g}°"
        for index, row in feeder.net.trafo.iterrows()
    )
    raise LecOptError(
        f"{feeder.name}: the unbalanced power flow does not converge on this network even at {TRIAL_KW} kW a peer. "
        f"Likely causes: a transformer's vector group and phase shift that do not agree ({groups or 'no transformer'}; "
        "a 'Dyn' group with the 30° shift is what the IEEE European LV feeder uses), a source without short-circuit "
        "data, or lines whose impedances are in the wrong units"
    )
