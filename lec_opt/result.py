"""Results of one interval as plain data, and the P2P trading prices (MODEL.md §5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lec_opt.scenario import Scenario
from lec_opt.snapshot import IntervalSnapshot


@dataclass(frozen=True)
class Trade:
    seller: int  # peer number
    buyer: int
    kwh: float
    price: float  # $/kWh


@dataclass(frozen=True)
class LevelRecord:
    """One lexicographic level as solved: HiGHS status, objective, bound, gap, wall time."""

    level: int
    name: str
    status: str
    objective: float | None
    bound: float | None = None
    gap: float | None = None
    seconds: float = 0.0  # wall time of the level: Pyomo update + HiGHS
    highs_seconds: float | None = None  # HiGHS's own run time


@dataclass(frozen=True)
class IntervalResult:
    """Who traded with whom, the CES and grid flows, and how the answer was found."""

    snapshot: IntervalSnapshot
    priority: str
    method: str  # "milp" or "greedy"
    trades: tuple[Trade, ...]
    ces_charge_kwh: np.ndarray  # c_i, aligned with snapshot.sellers
    export_kwh: np.ndarray  # e_i
    ces_discharge_kwh: np.ndarray  # d_j, aligned with snapshot.buyers
    import_kwh: np.ndarray  # g_j
    grid_to_ces_kwh: float
    ces_to_ev_kwh: float
    grid_to_ev_kwh: float
    soc_start: float
    soc_end: float
    levels: tuple[LevelRecord, ...]
    solve_seconds: float
    fallback: bool = False
    fallback_reason: str | None = None
    utility_error_bound: float = 0.0
    build_seconds: float = 0.0  # building the Pyomo model (MILP only; shared by the priorities of an interval)

    @property
    def p2p_kwh(self) -> float:
        return float(sum(t.kwh for t in self.trades))

    @property
    def transactions(self) -> int:
        return len(self.trades)

    @property
    def ces_charge_total_kwh(self) -> float:
        """E_ch = Σc + Eg."""
        return float(self.ces_charge_kwh.sum() + self.grid_to_ces_kwh)

    @property
    def ces_discharge_total_kwh(self) -> float:
        """E_dis = Σd + Ev."""
        return float(self.ces_discharge_kwh.sum() + self.ces_to_ev_kwh)

    @property
    def grid_import_kwh(self) -> float:
        """Everything the community takes from the grid: Σg + Eg + Evg."""
        return float(self.import_kwh.sum() + self.grid_to_ces_kwh + self.grid_to_ev_kwh)

    @property
    def grid_export_kwh(self) -> float:
        return float(self.export_kwh.sum())

    def sold_kwh(self) -> np.ndarray:
        """P2P energy sold by each seller (aligned with snapshot.sellers)."""
        pos = {p: n for n, p in enumerate(self.snapshot.sellers.tolist())}
        out = np.zeros(len(self.snapshot.sellers))
        for t in self.trades:
            out[pos[t.seller]] += t.kwh
        return out

    def bought_kwh(self) -> np.ndarray:
        pos = {p: n for n, p in enumerate(self.snapshot.buyers.tolist())}
        out = np.zeros(len(self.snapshot.buyers))
        for t in self.trades:
            out[pos[t.buyer]] += t.kwh
        return out

    def balance_residual_kwh(self) -> float:
        """Largest energy imbalance of any seller, buyer or the EVs (0 up to rounding)."""
        snap = self.snapshot
        seller = self.sold_kwh() + self.ces_charge_kwh + self.export_kwh - snap.surplus_kwh
        buyer = self.bought_kwh() + self.ces_discharge_kwh + self.import_kwh - snap.deficit_kwh
        ev = self.ces_to_ev_kwh + self.grid_to_ev_kwh - snap.ev_kwh
        return float(max(np.abs(seller).max(initial=0.0), np.abs(buyer).max(initial=0.0), abs(ev)))

    def to_json(self) -> dict:
        snap = self.snapshot
        return {
            "priority": self.priority,
            "method": self.method,
            "interval": snap.index,
            "start": snap.start,
            "p2p_kwh": self.p2p_kwh,
            "transactions": self.transactions,
            "ces_charge_kwh": self.ces_charge_total_kwh,
            "ces_discharge_kwh": self.ces_discharge_total_kwh,
            "grid_import_kwh": self.grid_import_kwh,
            "grid_export_kwh": self.grid_export_kwh,
            "ces_from_peers_kwh": float(self.ces_charge_kwh.sum()),
            "grid_to_ces_kwh": self.grid_to_ces_kwh,
            "ces_to_peers_kwh": float(self.ces_discharge_kwh.sum()),
            "ces_to_ev_kwh": self.ces_to_ev_kwh,
            "grid_to_ev_kwh": self.grid_to_ev_kwh,
            "soc_start": self.soc_start,
            "soc_end": self.soc_end,
            "objective_levels": [lv.objective for lv in self.levels],
            "statuses": [lv.status for lv in self.levels],
            "level_gaps": [lv.gap for lv in self.levels],
            "level_seconds": [lv.seconds for lv in self.levels],
            "level_highs_seconds": [lv.highs_seconds for lv in self.levels],
            "solve_seconds": self.solve_seconds,
            "fallback": self.fallback,
            "fallback_reason": self.fallback_reason,
            "utility_error_bound": self.utility_error_bound,
            "build_seconds": self.build_seconds,
            "trades": [{"seller": t.seller, "buyer": t.buyer, "kwh": t.kwh, "price": t.price} for t in self.trades],
            "n_peers": snap.n_peers,
            "sellers": [
                {"peer": int(p), "surplus_kwh": float(s), "ask": float(a)}
                for p, s, a in zip(snap.sellers, snap.surplus_kwh, snap.ask, strict=True)
            ],
            "buyers": [
                {"peer": int(p), "deficit_kwh": float(r), "bid": float(b)}
                for p, r, b in zip(snap.buyers, snap.deficit_kwh, snap.bid, strict=True)
            ],
            "ev_kwh": snap.ev_kwh,
            "buy_price": snap.buy_price,
            "sell_price": snap.sell_price,
        }


def trade_prices(
    snap: IntervalSnapshot, scenario: Scenario, priority: str, seller_idx: np.ndarray, buyer_idx: np.ndarray
) -> np.ndarray:
    """$/kWh of each trade: mid-market for A and B; for C, TP = mu (bid + ask) / 2, clipped.

    mu is the community surplus/demand ratio of the interval (or s_i / r_j per pair); the clip
    to [sell + eps, buy - eps] keeps BP > TP > SP (paper §4.3).
    """
    mid = 0.5 * (snap.buy_price + snap.sell_price)
    if len(seller_idx) == 0:
        return np.zeros(0)
    if priority != "C":
        return np.full(len(seller_idx), mid)
    if scenario.bids.mu == "pair":
        mu = snap.surplus_kwh[seller_idx] / snap.deficit_kwh[buyer_idx]
    else:
        mu = np.full(len(seller_idx), snap.total_surplus_kwh / snap.total_deficit_kwh)
    price = mu * 0.5 * (snap.bid[buyer_idx] + snap.ask[seller_idx])
    eps = scenario.bids.price_margin
    return np.clip(price, snap.sell_price + eps, snap.buy_price - eps)
