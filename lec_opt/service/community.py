"""The community the service runs: the scenario's day (prices, EV, asks and bids, who is a prosumer)
with the meters' readings put in place of the scenario's load and PV, and its interval grid."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from lec_opt.day.run import METHODS
from lec_opt.errors import LecOptError
from lec_opt.io.profiles import parse_time
from lec_opt.market.snapshot import DayInputs, build_day
from lec_opt.scenario.schema import Scenario
from lec_opt.service.errors import Invalid


@dataclass(frozen=True)
class Community:
    """A scenario, the clearing method (milp or greedy) and the day cut into its trading intervals."""

    scenario: Scenario
    method: str

    def __post_init__(self) -> None:
        """Refuse a method lec-opt does not have, the foresight policy (it needs the whole day) and enforced
        network limits (their rounds of power flows are solve-day's)."""
        if self.method not in METHODS:
            raise LecOptError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.scenario.ces.policy != "myopic":
            raise LecOptError("the service clears each interval as it comes: it needs ces.policy = 'myopic'")
        network = self.scenario.network
        if network is not None and getattr(network, "limits", "off") == "enforced":
            raise LecOptError("the service does not keep network.limits = 'enforced' (solve-day's power-flow rounds)")

    @cached_property
    def day(self) -> DayInputs:
        """The scenario's day as ``solve-day`` builds it (its load and PV are replaced by readings)."""
        return build_day(self.scenario)

    @property
    def n_peers(self) -> int:
        """Number of peers."""
        return self.day.n_peers

    @property
    def n_intervals(self) -> int:
        """Number of trading intervals in the day."""
        return self.day.n_intervals

    @cached_property
    def fingerprint(self) -> str:
        """The scenario's sha256 (its resolved JSON): a database serves one community only."""
        return hashlib.sha256(self.scenario.model_dump_json().encode()).hexdigest()

    def interval(self, time: str) -> int:
        """The index of the interval starting at ``time`` (``HH:MM``), or Invalid when it is off the grid."""
        minute = parse_time(time) if isinstance(time, str) and len(time) == 5 else None
        step = self.day.interval_minutes
        if minute is None or minute % step or not 0 <= minute // step < self.n_intervals:
            raise Invalid(
                f"time {time!r} is not the start of a trading interval: HH:MM on the {step}-minute grid, "
                f"00:00 to {self.day.start(self.n_intervals - 1)}"
            )
        return minute // step

    def check_peer(self, peer: int) -> None:
        """Invalid unless ``peer`` is a peer number of the community."""
        if not 1 <= peer <= self.n_peers:
            raise Invalid(f"peer {peer} is not a peer of the community (1..{self.n_peers})")

    def role(self, peer: int) -> str:
        """prosumer or consumer."""
        return "prosumer" if self.day.prosumer[peer - 1] else "consumer"

    def day_with(self, rows: dict[int, tuple[np.ndarray, np.ndarray]]) -> DayInputs:
        """The day with the given intervals' load and PV (kWh per peer) put in place of the scenario's."""
        load, pv = self.day.load_kwh.copy(), self.day.pv_kwh.copy()
        for t, (load_t, pv_t) in rows.items():
            load[t], pv[t] = load_t, pv_t
        return replace(self.day, load_kwh=load, pv_kwh=pv)
