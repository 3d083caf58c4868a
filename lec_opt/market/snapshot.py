"""From scenario and profiles to trading intervals: the day's inputs and one snapshot per interval.

``DayInputs`` resamples every profile to the scenario's interval (energy-conserving) and holds
the day as kWh per interval. ``IntervalSnapshot`` is what the model and the greedy matching of
one interval see: who sells (surplus) and who buys (deficit), paper step 1, and the community
balance alpha = sum of surplus - sum of deficit (step 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lec_opt.io.profiles import Profiles, format_minute, read_profiles, read_tariffs
from lec_opt.scenario.schema import Scenario, check_peers


@dataclass(frozen=True)
class IntervalSnapshot:
    """One trading interval. Peers are numbered 1..n_peers (around the ring, or mapped to feeder loads); kWh."""

    index: int
    start: str  # HH:MM
    hours: float  # interval length
    n_peers: int
    load_kwh: np.ndarray  # every peer
    pv_kwh: np.ndarray  # every peer
    sellers: np.ndarray  # peer numbers with surplus (net > 0)
    surplus_kwh: np.ndarray  # s_i, aligned with sellers
    buyers: np.ndarray  # peer numbers with deficit (net < 0)
    deficit_kwh: np.ndarray  # r_j, aligned with buyers
    willing_seller: np.ndarray  # Wp allowed (False = opted out), aligned with sellers
    willing_buyer: np.ndarray  # Wc allowed, aligned with buyers
    ask: np.ndarray  # $/kWh, aligned with sellers
    bid: np.ndarray  # $/kWh, aligned with buyers
    ev_kwh: float
    buy_price: float  # $/kWh from the grid
    sell_price: float  # $/kWh to the grid
    distance_m: np.ndarray | None = None  # feeder: cable metres [peer - 1, peer - 1]; None on the ring

    @property
    def net_kwh(self) -> np.ndarray:
        """PV minus load per peer, kWh (positive: surplus)."""
        return self.pv_kwh - self.load_kwh

    @property
    def total_surplus_kwh(self) -> float:
        """Σ surplus of the sellers, kWh."""
        return float(self.surplus_kwh.sum())

    @property
    def total_deficit_kwh(self) -> float:
        """Σ deficit of the buyers, kWh."""
        return float(self.deficit_kwh.sum())

    @property
    def alpha_kwh(self) -> float:
        """alpha = sum of surplus - sum of deficit (paper step 1): > 0 CES may charge, < 0 discharge."""
        return self.total_surplus_kwh - self.total_deficit_kwh


@dataclass(frozen=True)
class DayInputs:
    """A scenario's day at its trading interval: arrays indexed [interval, peer - 1]."""

    scenario: Scenario
    data_dir: Path
    interval_minutes: int
    prosumer: np.ndarray  # bool per peer
    pv_kwp: np.ndarray  # per peer (0 for consumers)
    willing: np.ndarray  # bool per peer
    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    ev_kwh: np.ndarray  # per interval, all chargers
    buy_price: np.ndarray  # per interval
    sell_price: np.ndarray  # per interval
    ask: np.ndarray  # per peer
    bid: np.ndarray  # per peer
    load_peak_kw_native: float  # community peak at the data's own resolution
    ev_charger_kwh: np.ndarray | None = None  # [interval, charger]: ev_kwh split by charger
    distance_m: np.ndarray | None = None  # feeder: cable metres between peers; None on the ring

    @property
    def n_peers(self) -> int:
        """Number of peers."""
        return self.load_kwh.shape[1]

    @property
    def n_intervals(self) -> int:
        """Number of trading intervals in the day."""
        return self.load_kwh.shape[0]

    @property
    def hours(self) -> float:
        """Interval length in hours."""
        return self.interval_minutes / 60.0

    @property
    def net_kwh(self) -> np.ndarray:
        """PV minus load, kWh, per interval and peer."""
        return self.pv_kwh - self.load_kwh

    def start(self, t: int) -> str:
        """Start time of interval ``t`` as ``HH:MM``."""
        return format_minute(t * self.interval_minutes)

    def interval_at(self, hhmm_minutes: int) -> int:
        """Index of the interval that contains a time of day (minutes after midnight)."""
        return hhmm_minutes // self.interval_minutes

    def snapshot(self, t: int) -> IntervalSnapshot:
        """The snapshot of interval ``t``: sellers, buyers, their surplus and deficit, prices and EV demand."""
        if not 0 <= t < self.n_intervals:
            raise IndexError(f"interval {t} outside 0..{self.n_intervals - 1}")
        net = self.pv_kwh[t] - self.load_kwh[t]  # this interval's row only
        sellers = np.flatnonzero(net > 0)
        buyers = np.flatnonzero(net < 0)
        return IntervalSnapshot(
            index=t,
            start=self.start(t),
            hours=self.hours,
            n_peers=self.n_peers,
            load_kwh=self.load_kwh[t].copy(),
            pv_kwh=self.pv_kwh[t].copy(),
            sellers=sellers + 1,
            surplus_kwh=net[sellers],
            buyers=buyers + 1,
            deficit_kwh=-net[buyers],
            willing_seller=self.willing[sellers],
            willing_buyer=self.willing[buyers],
            ask=self.ask[sellers],
            bid=self.bid[buyers],
            ev_kwh=float(self.ev_kwh[t]),
            buy_price=float(self.buy_price[t]),
            sell_price=float(self.sell_price[t]),
            distance_m=self.distance_m,
        )

    def snapshots(self) -> Iterator[IntervalSnapshot]:
        """Every interval's snapshot in order."""
        for t in range(self.n_intervals):
            yield self.snapshot(t)

    def community_deficit_kw(self) -> np.ndarray:
        """Sum of deficits per interval, as mean kW (Table 1's 'energy demand')."""
        return np.clip(-self.net_kwh, 0.0, None).sum(axis=1) / self.hours

    def community_surplus_kw(self) -> np.ndarray:
        """Sum of surpluses per interval, as mean kW (Table 1's 'PV generation')."""
        return np.clip(self.net_kwh, 0.0, None).sum(axis=1) / self.hours


def build_day(scenario: Scenario, profiles: Profiles | None = None) -> DayInputs:
    """Read (or take) the scenario's profiles and cut them into its trading intervals."""
    profiles = profiles or read_profiles(scenario.data_dir, scenario.community.n_peers, scenario.bids.file)
    n = profiles.n_peers
    check_peers(scenario, n)
    interval = scenario.interval_minutes
    hours = interval / 60.0
    prosumer = np.zeros(n, dtype=bool)
    prosumer[np.asarray(scenario.community.prosumer_peers(n), dtype=int) - 1] = True
    pv_kwp = np.array([scenario.community.kwp(p) if prosumer[p - 1] else 0.0 for p in range(1, n + 1)])
    willing = np.ones(n, dtype=bool)
    willing[np.asarray(scenario.willingness.opt_out, dtype=int) - 1] = False
    load_kwh = profiles.load_kw.to_interval_mean(interval) * hours
    pv_kwh = profiles.pv_kw_per_kwp.to_interval_mean(interval) * pv_kwp * hours
    ev_charger_kw = profiles.ev_kw.to_interval_mean(interval)
    ev_kwh = ev_charger_kw.sum(axis=1) * hours
    ev_charger_kwh = ev_charger_kw * hours
    distance_m = None
    if scenario.community.topology == "feeder":
        from lec_opt.network.feeder import load_feeder  # pandapower only for a feeder

        distance_m = load_feeder(scenario, n, ev_charger_kw.shape[1]).distance_m
    n_intervals = load_kwh.shape[0]
    if scenario.tariffs.file:
        prices = read_tariffs(Path(scenario.tariffs.file)).to_interval_mean(interval)
        buy, sell = prices[:, 0], prices[:, 1]
    else:
        buy = np.full(n_intervals, scenario.tariffs.buy)
        sell = np.full(n_intervals, scenario.tariffs.sell)
    return DayInputs(
        scenario=scenario,
        data_dir=profiles.folder,
        interval_minutes=interval,
        prosumer=prosumer,
        pv_kwp=pv_kwp,
        willing=willing,
        load_kwh=load_kwh,
        pv_kwh=pv_kwh,
        ev_kwh=ev_kwh,
        buy_price=buy,
        sell_price=sell,
        ask=profiles.ask,
        bid=profiles.bid,
        load_peak_kw_native=float(profiles.load_kw.values.sum(axis=1).max()),
        ev_charger_kwh=ev_charger_kwh,
        distance_m=distance_m,
    )
