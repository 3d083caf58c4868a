"""What the community draws at its connection points, interval by interval (models/FORMULATION.md §11).

Each interval's bus injections are mean powers over the interval: every peer's household load
minus its PV at its bus, on its phase (single-phase customers) or spread over three phases; the
CES's charge minus discharge at the CES bus and each EV charger's demand at its bus, both
balanced over three phases. P2P trades do not appear: they move money, not electrons (a peer's
bus sees load - PV whoever it trades with).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lec_opt.network.feeder import BALANCED, PHASES, Feeder


@dataclass(frozen=True)
class BusPowers:
    """Per-phase powers over a run of intervals, kW and kvar (consumption positive).

    Rows are the community's connection points: the peers (peer order), the CES, then each EV
    charger (``connection_rows``).
    """

    p_kw: np.ndarray  # [interval, row, phase]
    q_kvar: np.ndarray  # [interval, row, phase]

    @property
    def n_intervals(self) -> int:
        """Number of intervals."""
        return self.p_kw.shape[0]

    def total_kw(self) -> np.ndarray:
        """What the community draws in each interval, kW (all rows, all phases)."""
        return self.p_kw.sum(axis=(1, 2))

    def interval(self, t: int) -> BusPowers:
        """One interval as a run of one."""
        return BusPowers(self.p_kw[t : t + 1], self.q_kvar[t : t + 1])


def connection_rows(feeder: Feeder) -> list[tuple[str, int, str]]:
    """(name, bus index, phase) of every row of ``BusPowers``: peer_1…, ces, ev_1…."""
    rows = [(f"peer_{k}", ld.bus, ld.phase) for k, ld in enumerate(feeder.peer_loads, 1)]
    rows.append(("ces", feeder.ces_bus, BALANCED))
    rows += [(f"ev_{k}", bus, BALANCED) for k, bus in enumerate(feeder.ev_buses, 1)]
    return rows


def _spread(feeder: Feeder, per_row: np.ndarray) -> np.ndarray:
    """[interval, row] totals spread over each row's phases: [interval, row, phase]."""
    out = np.zeros((*per_row.shape, len(PHASES)))
    for r, (_, _, phase) in enumerate(connection_rows(feeder)):
        on = range(len(PHASES)) if phase == BALANCED else (PHASES.index(phase),)
        for ph in on:
            out[:, r, ph] = per_row[:, r] / len(on)
    return out


def bus_powers(
    feeder: Feeder,
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    ces_charge_kwh: np.ndarray,
    ces_discharge_kwh: np.ndarray,
    ev_kwh: np.ndarray,
    hours: float,
    power_factor: float,
) -> BusPowers:
    """Energies per interval (kWh; [interval, peer], [interval], [interval, charger]) as mean powers
    on each connection's phases. Household load has the lagging ``power_factor``; PV, the CES and
    the EV chargers run at unity."""
    load = np.atleast_2d(np.asarray(load_kwh, float))
    ev = np.asarray(ev_kwh, float).reshape(load.shape[0], -1)
    if ev.shape[1] != len(feeder.ev_buses):
        raise ValueError(f"{ev.shape[1]} EV chargers but the feeder places {len(feeder.ev_buses)}")
    ces = np.atleast_1d(np.asarray(ces_charge_kwh, float) - np.asarray(ces_discharge_kwh, float))
    p = np.column_stack([load - np.atleast_2d(np.asarray(pv_kwh, float)), ces, ev]) / hours
    tan_phi = math.tan(math.acos(power_factor))
    q = np.column_stack([load * tan_phi, np.zeros_like(ces), np.zeros_like(ev)]) / hours
    return BusPowers(_spread(feeder, p), _spread(feeder, q))
