"""The scenario schema: one pydantic model per section (types, units, defaults, descriptions).

Unknown keys are errors; every field carries its unit in its description. Reading files, ``base``
chains and error locations are ``lec_opt.scenario.load``'s job.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, Strict, field_validator, model_validator

from lec_opt.errors import InputError
from lec_opt.scenario.cost import CesCost
from lec_opt.scenario.network import Network
from lec_opt.scenario.section import Section

MINUTES_PER_DAY = 1440

Price = Annotated[float, Field(ge=0.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Int = Annotated[int, Strict()]  # no true -> 1, no 5.0 -> 5
Peer = Annotated[int, Strict()]  # range-checked against the community by check_peers


class Community(Section):
    """Who is in the community: peers on a ring or on a feeder, some of them prosumers with rooftop PV."""

    n_peers: Int | None = Field(None, ge=1, description="number of peers; omitted = as many as the data has")
    prosumers: Literal["odd", "even", "all", "none"] | list[Peer] = Field(
        "odd", description="which peers have PV: 'odd' (paper: prosumer 1 = peer 1), 'even', 'all', 'none' or a list"
    )
    pv_kwp: Annotated[float, Field(ge=0.0)] | dict[int, Annotated[float, Field(ge=0.0)]] = Field(
        5.0, description="PV size in kWp: one number for every prosumer, or a table {peer = kWp}"
    )
    topology: Literal["ring", "feeder"] = Field(
        "ring", description="'ring' (the paper: priority B counts hops) or 'feeder' (cable metres; needs [network])"
    )

    @field_validator("prosumers")
    @classmethod
    def _peer_numbers(cls, value: Any) -> Any:
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("a peer is listed twice")
        return value

    def prosumer_peers(self, n_peers: int) -> list[int]:
        """Prosumer peer numbers (1-based) for a community of ``n_peers``."""
        if isinstance(self.prosumers, list):
            return sorted(self.prosumers)
        return {
            "odd": list(range(1, n_peers + 1, 2)),
            "even": list(range(2, n_peers + 1, 2)),
            "all": list(range(1, n_peers + 1)),
            "none": [],
        }[self.prosumers]

    def kwp(self, peer: int) -> float:
        """PV size of one peer in kWp (0 when the map does not name it)."""
        if isinstance(self.pv_kwp, dict):
            return self.pv_kwp.get(peer, 0.0)
        return self.pv_kwp


class Tariffs(Section):
    """Grid tariffs in $/kWh (paper: California structure, buy 0.20, sell 0.09)."""

    buy: Price = Field(0.20, description="price to import from the grid, $/kWh")
    sell: Price = Field(0.09, description="price paid for export to the grid, $/kWh")
    file: str | None = Field(
        None, description="optional CSV time,buy,sell ($/kWh) replacing the flat prices; relative to the scenario"
    )

    @model_validator(mode="after")
    def _sell_below_buy(self) -> Tariffs:
        if self.sell >= self.buy:
            raise ValueError(f"sell price ({self.sell}) must be below buy price ({self.buy})")
        return self


class CES(Section):
    """Community energy storage run by the aggregator (paper §3.2, eq. 2-3)."""

    capacity_kwh: float = Field(gt=0.0, description="usable energy capacity, kWh")
    soc_initial: Fraction = Field(0.5, description="state of charge at 00:00, fraction of capacity")
    soc_min: Fraction = Field(0.1, description="lowest allowed state of charge")
    soc_max: Fraction = Field(0.9, description="highest allowed state of charge")
    charge_power_kw: float = Field(gt=0.0, description="largest charging power, kW")
    discharge_power_kw: float = Field(gt=0.0, description="largest discharging power, kW")
    charge_efficiency: float = Field(
        0.95, gt=0.0, le=1.0, description="η_c: share of the energy taken in that is stored"
    )
    discharge_efficiency: float = Field(0.95, gt=0.0, le=1.0, description="η_d: share of the stored energy given out")
    grid_recharge_threshold: Fraction = Field(0.30, description="the grid may charge the CES only at SoC <= this")
    k: Fraction = Field(description="utility scaling factor k of U01/U02, $/kWh")
    S: float = Field(gt=0.0, description="satisfaction factor S of U01/U02, 1/kWh")
    degradation: Price = Field(description="degradation cost d, $/kWh charged or discharged")
    charge_price: Price | None = Field(None, description="Pc: CES pays prosumers, $/kWh; omitted = mid-market")
    discharge_price: Price | None = Field(None, description="Pd: consumers pay the CES, $/kWh; omitted = mid-market")
    ev_price: Price | None = Field(None, description="EVs pay the CES, $/kWh; omitted = mid-market")
    policy: Literal["myopic", "foresight"] = Field(
        "myopic",
        description="'myopic': each interval from the current SoC (the paper); 'foresight': the day's CES "
        "schedule solved at once given the chosen matchings (models/FORMULATION.md §10)",
    )
    cost: CesCost | None = Field(
        None, description="the CES's capital and running cost, for sizing sweeps (omitted = not priced)"
    )

    @model_validator(mode="after")
    def _soc_window(self) -> CES:
        if self.soc_min >= self.soc_max:
            raise ValueError(f"soc_min ({self.soc_min}) must be below soc_max ({self.soc_max})")
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise ValueError(f"soc_initial ({self.soc_initial}) must lie in [soc_min, soc_max]")
        return self


class Willingness(Section):
    """Who trades P2P (paper: willingness factors Wp, Wc)."""

    opt_out: list[Peer] = Field(default_factory=list, description="peers that never trade P2P (W fixed to 0)")
    min_trade_kwh: float = Field(0.0, ge=0.0, description="smallest P2P trade, kWh; 0 = no minimum")


class Bids(Section):
    """Priority C inputs: per-peer asks/bids and the trading-price factor mu (paper §4.3)."""

    file: str = Field("bids_asks.csv", description="CSV peer,ask,bid ($/kWh) in the data folder")
    mu: Literal["community", "pair"] = Field(
        "community", description="mu = community surplus/demand ('community') or s_i/r_j per pair ('pair')"
    )
    price_margin: float = Field(
        0.001, ge=0.0, description="epsilon: priority-C prices are clipped to [sell + eps, buy - eps]"
    )


METRICS = (
    "community_saving",
    "consumer_savings",
    "prosumer_revenue",
    "p2p_energy",
    "transactions",
    "kwh_per_transaction",
    "fairness",
)


class Selection(Section):
    """How the aggregator picks the priority of an interval (models/FORMULATION.md §7)."""

    criterion: str | list[str] = Field(
        "community_saving",
        description="'paper' (the reading of §5.5 that reproduces Fig. 12), one metric, or a list of metrics "
        "compared lexicographically (e.g. ['p2p_energy', 'transactions'])",
    )

    @field_validator("criterion")
    @classmethod
    def _known_metrics(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("an empty list names no metric")
        allowed = (*METRICS, "paper") if isinstance(value, str) else METRICS
        for name in [value] if isinstance(value, str) else value:
            if name not in allowed:
                raise ValueError(f"unknown criterion {name!r}; known: {', '.join(allowed)}")
        return value

    network_fee: Price = Field(
        0.0, description="$/kWh per ring hop (ring) or per km of cable (feeder), subtracted from the saving"
    )
    transaction_cost: Price = Field(0.0, description="$ per transaction, subtracted from the saving")


class Solver(Section):
    """HiGHS options and model switches."""

    level_time_limit_s: float = Field(
        60.0, gt=0.0, description="wall-clock safety net of levels 1-3 (solved to optimality; never binds by design)"
    )
    level4_time_limit_s: float = Field(
        60.0, gt=0.0, description="wall-clock safety net of level 4's node-limited search (never binds by design)"
    )
    level4_node_limit: Int = Field(
        0, ge=0, description="branch-and-bound nodes level 4 may search beyond its incumbent; 0 = no search"
    )
    mip_gap: float = Field(1e-6, ge=0.0, le=1.0, description="relative gap of MILP levels 1-3 (with a minimum trade)")
    level4_mip_gap: float = Field(0.01, ge=0.0, le=1.0, description="relative gap of level 4 (fewest transactions)")
    lexicographic_tolerance: float = Field(1e-6, ge=0.0, lt=1.0, description="relative slack kept between levels")
    utility_breakpoints: Int = Field(16, ge=2, le=1000, description="tangent points of the U01/U02 hypographs")
    ces_objective: Literal["dispatch", "welfare"] = Field(
        "dispatch",
        description="'dispatch': U01/U02 with the prices Pc, Pd; 'welfare': Pc, Pd left out (transfers inside the community)",
    )
    candidate_pairs: Literal["dense", "nearest"] = Field(
        "dense", description="'dense': every seller-buyer pair may trade; 'nearest': each seller's nearest_k buyers"
    )
    nearest_k: Int = Field(10, ge=1, description="buyers per seller kept with candidate_pairs = 'nearest'")
    threads: Int | None = Field(None, ge=1, description="HiGHS threads; omitted = HiGHS's default")


class Site(Section):
    """Where the community is and its clock: solar geometry, PV weather and lighting hours of generated data.

    Clock time is the site's standard time all year (a fixed offset from UTC, no daylight saving).
    """

    latitude: float = Field(53.4, ge=-90.0, le=90.0, description="degrees north (default: Manchester, UK)")
    longitude: float = Field(-2.3, ge=-180.0, le=180.0, description="degrees east")
    utc_offset_hours: float = Field(
        0.0, ge=-12.0, le=14.0, description="standard clock time minus UTC, hours (fixed all year, no daylight saving)"
    )
    altitude_m: float = Field(100.0, ge=-500.0, le=9000.0, description="height above sea level, m")
    monthly_clearness: list[Annotated[float, Field(gt=0.0, lt=1.0)]] | None = Field(
        None,
        description="mean daily clearness index (GHI / extraterrestrial) of January..December; omitted = the "
        "shipped Manchester table (lec_opt/datagen/climate.py), valid near the default site only",
    )

    @field_validator("utc_offset_hours")
    @classmethod
    def _whole_minutes(cls, value: float) -> float:
        if abs(value * 60 - round(value * 60)) > 1e-9:
            raise ValueError(f"{value} h is not a whole number of minutes")
        return value

    @field_validator("monthly_clearness")
    @classmethod
    def _twelve_months(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and len(value) != 12:
            raise ValueError(f"{len(value)} values; one per month (12) expected")
        return value


class Period(Section):
    """The dates a multi-day run covers (``lec-opt solve-period``): a day is a period of one."""

    start: datetime.date | None = Field(
        None,
        description="first date, YYYY-MM-DD; omitted = the data folder's first date (a one-day folder needs it "
        "given, or --start)",
    )
    days: Int | None = Field(
        None,
        ge=1,
        le=36600,
        description="number of consecutive days, from start; omitted = to the data folder's last date "
        "(1 with a one-day folder)",
    )

    @field_validator("start", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a date YYYY-MM-DD") from None
        return value


class Data(Section):
    """``[data]``: where the community's profiles are."""

    dir: str = Field(description="data folder (load, PV, EV, bids); relative to the scenario file")


class Scenario(Section):
    """A whole study: community, interval, tariffs, CES, market rules, solver options, data."""

    name: str = Field(
        description="the scenario's name (results folders are named after it); not inherited from base; a file without one is named after itself",
    )
    description: str = Field("", description="one line on what the scenario is; not inherited from base")
    base: str | None = Field(
        None,
        description="scenario file this one overrides: a path relative to this file, or a shipped scenario by name",
    )
    seed: Int = Field(42, ge=0, description="random seed of every stochastic step")
    interval_minutes: Int = Field(5, ge=1, le=MINUTES_PER_DAY, description="trading interval; must divide a day")
    community: Community = Community()
    tariffs: Tariffs = Tariffs()
    ces: CES
    willingness: Willingness = Willingness()
    bids: Bids = Bids()
    selection: Selection = Selection()
    solver: Solver = Solver()
    network: Network | None = Field(None, description="the feeder of a topology = 'feeder' community")
    site: Site = Site()
    data: Data
    period: Period = Period()
    _source: str = PrivateAttr("scenario")
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> str:
        """The file this scenario was read from (for error messages)."""
        return self._source

    def origin(self, field: str) -> str:
        """The file that set ``field`` (a base file, or this one)."""
        parts = field.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in self._origins:
                return self._origins[".".join(parts[:n])]
        return self._source

    @model_validator(mode="after")
    def _feeder_has_network(self) -> Scenario:
        if self.community.topology == "feeder" and self.network is None:
            raise ValueError("community.topology = 'feeder' needs a [network] section (source or file)")
        if self.community.topology == "ring" and self.network is not None:
            raise ValueError("a [network] section needs community.topology = 'feeder'")
        if self.network is not None and self.network.limits == "enforced" and self.ces.policy == "foresight":
            raise ValueError(
                "network.limits = 'enforced' needs ces.policy = 'myopic': the limits are kept interval by "
                "interval, the foresight schedule plans the whole day at once"
            )
        return self

    @field_validator("interval_minutes")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if MINUTES_PER_DAY % value:
            raise ValueError(f"{value} min does not divide a day of {MINUTES_PER_DAY} min")
        return value

    # --- derived paths, resolved against the file each was written in (see load_scenario) ---
    @property
    def data_dir(self) -> Path:
        """The data folder as a path."""
        return Path(self.data.dir)

    @property
    def intervals_per_day(self) -> int:
        """Number of trading intervals in a day."""
        return MINUTES_PER_DAY // self.interval_minutes

    @property
    def interval_hours(self) -> float:
        """Interval length in hours."""
        return self.interval_minutes / 60.0

    def with_data_dir(self, data_dir: str | Path) -> Scenario:
        """The same scenario reading its profiles from another folder (CLI ``--data``).

        The number of peers is then taken from that folder.
        """
        community = self.community.model_copy(update={"n_peers": None})
        return self.model_copy(update={"data": Data(dir=str(Path(data_dir).resolve())), "community": community})


def check_peers(scenario: Scenario, n_peers: int) -> None:
    """Every peer a scenario names (prosumers, PV table, opt-outs) must exist among 1..n_peers."""
    community = scenario.community
    named = {
        "community.prosumers": community.prosumers if isinstance(community.prosumers, list) else [],
        "community.pv_kwp": list(community.pv_kwp) if isinstance(community.pv_kwp, dict) else [],
        "willingness.opt_out": scenario.willingness.opt_out,
    }
    for field, peers in named.items():
        bad = [p for p in peers if not 1 <= p <= n_peers]
        if bad:
            raise InputError(scenario.origin(field), f"names peers {bad} outside 1..{n_peers}", field=field)
