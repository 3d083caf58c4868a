"""Results of one interval as plain data: trades, lexicographic level records, matchings, results."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property

import numpy as np

from lec_opt.market.snapshot import IntervalSnapshot
from lec_opt.market.topology import positions


def _position(peers: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position of each peer number of ``wanted`` in ``peers`` (a snapshot's sellers or buyers)."""
    if len(wanted) == 0:
        return np.zeros(0, dtype=np.int64)
    found = np.searchsorted(peers, wanted)  # a snapshot lists its peers in ascending order
    if found.max() < len(peers) and np.array_equal(peers[found], wanted):
        return found
    where = positions(peers)  # any other order
    return np.array([where[int(p)] for p in wanted], dtype=np.int64)


@dataclass(frozen=True)
class Trade:
    """One P2P trade: seller and buyer peer numbers, kWh and the price it settles at ($/kWh)."""

    seller: int  # peer number
    buyer: int
    kwh: float
    price_usd_per_kwh: float


class LevelStatus(Enum):
    """How a level ended: HiGHS's model status, or how lec-opt answered it without HiGHS's word.

    The value is the head of the status text that output files carry (``Status.text``).
    """

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    INFEASIBLE_OR_UNBOUNDED = "infeasibleOrUnbounded"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "maxTimeLimit"
    ITERATION_LIMIT = "maxIterations"
    NODE_LIMIT = "maxNodes"  # HiGHS's mip_max_nodes reached
    OBJECTIVE_LIMIT = "objectiveLimit"
    UNKNOWN = "unknown"
    ERROR = "error"
    CLOSED_FORM = "optimal: closed form"  # optimal without a solver (models/FORMULATION.md §4)
    WITHIN_GAP = "proven within"  # a point proven within the accepted gap (``Status.proven``), not mip_gap
    OUTSIDE_GAP = "from the bound"  # a point whose proven gap (``Status.proven``) is above the accepted one
    INCUMBENT = "incumbent from"  # a candidate point whose gap the record's bound and gap state
    NO_INCUMBENT = "no incumbent"
    TRIVIAL = "trivial"  # no willing seller-buyer pair: nothing to decide
    GREEDY = "greedy"  # the greedy matching's levels
    MILP = "milp"  # levels recomputed from a MILP's flows (a results folder read back)
    EXACT_DISPATCH = "exact dispatch"  # level 2 by ``lec_opt.market.ces.dispatch``
    FORESIGHT = "foresight schedule (day MILP)"  # level 2 from the day's foresight schedule

    @property
    def optimal(self) -> bool:
        """Proven optimal (by HiGHS, or in closed form)."""
        return self in (LevelStatus.OPTIMAL, LevelStatus.CLOSED_FORM)


@dataclass(frozen=True)
class Status:
    """A level's status as data: its ``state``, and the free text lec-opt adds (``detail``).

    ``detail`` continues the head word for word, its own separator first (``": the relaxation meets
    the minimum trade"``, ``" (after infeasible with presolve; retried without)"``), so ``text`` is the
    status exactly as output files carry it; ``proven``: the gap that a ``WITHIN_GAP`` or
    ``OUTSIDE_GAP`` head states.
    """

    state: LevelStatus
    detail: str = ""
    proven: float | None = None

    @property
    def text(self) -> str:
        """The status as output files carry it: the head, then the detail."""
        if self.state is LevelStatus.WITHIN_GAP:
            return f"proven within {self.proven:.0%}{self.detail}"
        if self.state is LevelStatus.OUTSIDE_GAP:
            return f"{self.proven:.1%} from the bound{self.detail}"
        return f"{self.state.value}{self.detail}"

    def then(self, more: str) -> Status:
        """This status with ``more`` appended to its detail (the state stays)."""
        return replace(self, detail=self.detail + more)

    def __str__(self) -> str:
        """The text (in f-strings, as before the statuses were data)."""
        return self.text


@dataclass(frozen=True)
class LevelRecord:
    """One lexicographic level as solved: its status (``how``), objective, bound, gap, wall time."""

    level: int
    name: str
    how: Status
    objective: float | None
    bound: float | None = None
    gap: float | None = None
    seconds: float = 0.0  # wall time of the level: Pyomo update + HiGHS
    highs_seconds: float | None = None  # HiGHS's own run time

    @property
    def state(self) -> LevelStatus:
        """How the level ended, as an enum (compare this, never the text)."""
        return self.how.state

    @property
    def status(self) -> str:
        """The status text as output files carry it (``Status.text``)."""
        return self.how.text

    def then(self, more: str) -> LevelRecord:
        """This record with ``more`` appended to its status's detail."""
        return replace(self, how=self.how.then(more))


@dataclass(frozen=True)
class Matching:
    """One priority's P2P matching of one interval, before the CES: what the greedy or the MILP decides."""

    priority: str
    flows: tuple[tuple[int, int, float], ...]  # (seller position, buyer position, kWh)
    levels: tuple[LevelRecord, ...]  # levels 1, 3, 4
    method: str  # "milp" or "greedy"
    fallback: bool = False
    fallback_reason: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class IntervalResult:
    """Who traded with whom, the CES and grid flows, and how the answer was found."""

    snapshot: IntervalSnapshot
    priority: str
    method: str  # "milp" or "greedy"
    trades: tuple[Trade, ...]
    seller_to_ces_kwh: np.ndarray  # c_i, aligned with snapshot.sellers
    seller_export_kwh: np.ndarray  # e_i
    ces_to_buyer_kwh: np.ndarray  # d_j, aligned with snapshot.buyers
    grid_to_buyer_kwh: np.ndarray  # g_j
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
        """Total P2P energy of the interval, kWh."""
        return float(sum(t.kwh for t in self.trades))

    @property
    def transactions(self) -> int:
        """Number of P2P transactions (trading pairs)."""
        return len(self.trades)

    @property
    def ces_charge_kwh(self) -> float:
        """E_ch = Σc + Eg: everything the CES takes in."""
        return float(self.seller_to_ces_kwh.sum() + self.grid_to_ces_kwh)

    @property
    def ces_discharge_kwh(self) -> float:
        """E_dis = Σd + Ev: everything the CES gives out."""
        return float(self.ces_to_buyer_kwh.sum() + self.ces_to_ev_kwh)

    @property
    def grid_import_kwh(self) -> float:
        """Everything the community takes from the grid: Σg + Eg + Evg."""
        return float(self.grid_to_buyer_kwh.sum() + self.grid_to_ces_kwh + self.grid_to_ev_kwh)

    @property
    def grid_export_kwh(self) -> float:
        """Everything the community gives the grid: Σe."""
        return float(self.seller_export_kwh.sum())

    def flows(self) -> list[tuple[int, int, float]]:
        """The trades as (seller position, buyer position, kWh) in the snapshot."""
        i, j, kwh = self._flow_arrays
        return list(zip(i.tolist(), j.tolist(), kwh.tolist()))

    @cached_property
    def trade_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Seller positions, buyer positions, kWh and $/kWh of the trades, in trade order (computed once)."""
        n = len(self.trades)
        table = np.array([(t.seller, t.buyer, t.kwh, t.price_usd_per_kwh) for t in self.trades], dtype=float)
        table = table.reshape(n, 4)
        peers_i, peers_j = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
        return (
            _position(self.snapshot.sellers, peers_i),
            _position(self.snapshot.buyers, peers_j),
            table[:, 2],
            table[:, 3],
        )

    @property
    def _flow_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        i, j, kwh, _ = self.trade_arrays
        return i, j, kwh

    def sold_kwh(self) -> np.ndarray:
        """P2P energy sold by each seller (aligned with snapshot.sellers)."""
        i, _, kwh = self._flow_arrays
        return np.bincount(i, kwh, minlength=len(self.snapshot.sellers))

    def bought_kwh(self) -> np.ndarray:
        """P2P energy bought by each buyer (aligned with snapshot.buyers)."""
        _, j, kwh = self._flow_arrays
        return np.bincount(j, kwh, minlength=len(self.snapshot.buyers))

    def balance_residual_kwh(self) -> float:
        """Largest energy imbalance of any seller, buyer or the EVs (0 up to rounding)."""
        snap = self.snapshot
        seller = self.sold_kwh() + self.seller_to_ces_kwh + self.seller_export_kwh - snap.surplus_kwh
        buyer = self.bought_kwh() + self.ces_to_buyer_kwh + self.grid_to_buyer_kwh - snap.deficit_kwh
        ev = self.ces_to_ev_kwh + self.grid_to_ev_kwh - snap.ev_kwh
        return float(max(np.abs(seller).max(initial=0.0), np.abs(buyer).max(initial=0.0), abs(ev)))

    def to_json(self) -> dict:
        """The result as ``solve-interval --json`` prints it."""
        snap = self.snapshot
        return {
            "priority": self.priority,
            "method": self.method,
            "interval": snap.index,
            "start": snap.start,
            "p2p_kwh": self.p2p_kwh,
            "transactions": self.transactions,
            "ces_charge_kwh": self.ces_charge_kwh,
            "ces_discharge_kwh": self.ces_discharge_kwh,
            "grid_import_kwh": self.grid_import_kwh,
            "grid_export_kwh": self.grid_export_kwh,
            "sellers_to_ces_kwh": float(self.seller_to_ces_kwh.sum()),
            "grid_to_ces_kwh": self.grid_to_ces_kwh,
            "ces_to_buyers_kwh": float(self.ces_to_buyer_kwh.sum()),
            "ces_to_ev_kwh": self.ces_to_ev_kwh,
            "grid_to_ev_kwh": self.grid_to_ev_kwh,
            "soc_start": self.soc_start,
            "soc_end": self.soc_end,
            "objective_levels": [lv.objective for lv in self.levels],
            "statuses": [lv.status for lv in self.levels],
            # JSON has no infinity: an infinite gap (answer 0, bound not) is null, as an unknown one
            "level_gaps": [lv.gap if lv.gap is None or math.isfinite(lv.gap) else None for lv in self.levels],
            "level_seconds": [lv.seconds for lv in self.levels],
            "level_highs_seconds": [lv.highs_seconds for lv in self.levels],
            "solve_seconds": self.solve_seconds,
            "fallback": self.fallback,
            "fallback_reason": self.fallback_reason,
            "utility_error_bound": self.utility_error_bound,
            "build_seconds": self.build_seconds,
            "trades": [
                {"seller": t.seller, "buyer": t.buyer, "kwh": t.kwh, "price_usd_per_kwh": t.price_usd_per_kwh}
                for t in self.trades
            ],
            "n_peers": snap.n_peers,
            "sellers": [
                {"peer": int(p), "surplus_kwh": float(s), "ask_usd_per_kwh": float(a)}
                for p, s, a in zip(snap.sellers, snap.surplus_kwh, snap.ask, strict=True)
            ],
            "buyers": [
                {"peer": int(p), "deficit_kwh": float(r), "bid_usd_per_kwh": float(b)}
                for p, r, b in zip(snap.buyers, snap.deficit_kwh, snap.bid, strict=True)
            ],
            "ev_kwh": snap.ev_kwh,
            "buy_price_usd_per_kwh": snap.buy_price,
            "sell_price_usd_per_kwh": snap.sell_price,
        }
