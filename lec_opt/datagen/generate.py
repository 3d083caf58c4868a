"""Generate one community day and calibrate it to published community totals.

Every stochastic part (roofs, clouds, households, EV sessions, bids) has its own random stream
spawned from one seed, so the same seed gives the same files bit for bit. Two smooth
multipliers are then fitted, one pair per calibration time: the households' activity level and
the cloud attenuation. Each is flat over the calibration interval (plus a margin for the roofs'
cloud lags) and linear in between, so the fit at one time does not move another; at each time
the pair (activity, cloud) is found by alternating bisection until the community deficit and
surplus equal their targets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lec_opt.datagen.ev import generate_ev
from lec_opt.datagen.household import HouseholdLoads, generate_households
from lec_opt.datagen.pv import PVModel, Site, broken_clouds, draw_roofs
from lec_opt.errors import LecOptError
from lec_opt.io import profiles as fmt
from lec_opt.io.atomic import write_csv, write_json
from lec_opt.paper import (
    DAILY_LOAD_KWH,
    PEAK_LOAD_KW,
    PV_SURPLUS_FIRST_INTERVAL_5MIN,
    PV_SURPLUS_LAST_INTERVAL_5MIN,
    TABLE1,
    Table1Row,
)
from lec_opt.scenario.schema import Scenario

MINUTES = 1440
MAX_CLOUD_LAG = 3  # minutes between the first and the last roof under the same cloud
CLEARSKY_INDEX_MAX = 1.1  # short cloud-edge enhancement at most
ACTIVITY_RANGE = (0.6, 1.6)  # plausible scaling of household activity at a calibration time
ACTIVITY_RAMP = 60  # minutes over which an activity correction fades back to 1
CLOUD_RANGE = (0.3, 1.0)  # haze/thin-cloud attenuation of the broken-cloud clear-sky index
MAX_ATTEMPTS = 200


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator's settings and its calibration targets (the paper's Table 1 and day figures)."""

    seed: int = 2022
    n_peers: int = 100
    prosumers: tuple[int, ...] = tuple(range(1, 101, 2))  # 1-based peer numbers
    pv_kwp: float | tuple[float, ...] = 5.0  # one value, or one per peer
    ev_chargers: int = 15
    ev_daily_kwh: float = 167.0
    ev_away: tuple[int, int] = (450, 805)  # minutes: 5-min intervals 90..160 have no EV demand
    buy: float = 0.20
    sell: float = 0.09
    site: Site = field(default_factory=Site)
    targets: tuple[Table1Row, ...] = TABLE1
    calibration_interval_minutes: int = 5
    # day-level figures a draw must also meet (None = no condition)
    daily_load_kwh: tuple[float, float] | None = DAILY_LOAD_KWH
    peak_load_kw: tuple[float, float] | None = PEAK_LOAD_KW
    surplus_first_interval: tuple[int, int] | None = PV_SURPLUS_FIRST_INTERVAL_5MIN
    surplus_last_interval: tuple[int, int] | None = PV_SURPLUS_LAST_INTERVAL_5MIN

    @classmethod
    def from_scenario(cls, scenario: Scenario, seed: int, n_peers: int = 100) -> GeneratorConfig:
        """The community of a scenario (peers, prosumers, PV sizes, tariffs) with a seed."""
        n = scenario.community.n_peers or n_peers
        kwp = scenario.community.pv_kwp
        return cls(
            seed=seed,
            n_peers=n,
            prosumers=tuple(scenario.community.prosumer_peers(n)),
            pv_kwp=kwp if isinstance(kwp, float) else tuple(scenario.community.kwp(p) for p in range(1, n + 1)),
            buy=scenario.tariffs.buy,
            sell=scenario.tariffs.sell,
        )

    def kwp_per_peer(self) -> np.ndarray:
        """Each peer's PV size in kWp (0 for consumers)."""
        kwp = np.zeros(self.n_peers)
        values = np.broadcast_to(np.asarray(self.pv_kwp, dtype=float), (self.n_peers,))
        idx = np.asarray(self.prosumers, dtype=int) - 1
        kwp[idx] = values[idx]
        return kwp


@dataclass(frozen=True)
class GeneratedDay:
    """Generated one-minute profiles plus how they were calibrated."""

    config: GeneratorConfig
    load_kw: np.ndarray
    pv_kw_per_kwp: np.ndarray
    ev_kw: np.ndarray
    ask: np.ndarray
    bid: np.ndarray
    roofs_table: object
    calibration: list[dict]
    attempt: int  # which redraw of households and clouds met the targets


def _plateau_curve(times: Sequence[int], values: Sequence[float], width: int, ramp: int | None = None) -> np.ndarray:
    """Periodic curve equal to ``values[k]`` on [t_k - margin, t_k + width + margin).

    With ``ramp`` the curve returns linearly to 1 within ``ramp`` minutes of each plateau (a local
    correction); without it, it is linear from one plateau to the next (a slowly varying state).
    """
    xp, fp = [], []
    for t, v in zip(times, values, strict=True):
        lo, hi = t - MAX_CLOUD_LAG - 1, t + width + MAX_CLOUD_LAG
        if ramp:
            xp += [lo - ramp, lo, hi, hi + ramp]
            fp += [1.0, v, v, 1.0]
        else:
            xp += [lo, hi]
            fp += [v, v]
    return np.interp(np.arange(MINUTES), np.asarray(xp) % MINUTES, fp, period=MINUTES)


def _bisect(f, target: float, lo: float, hi: float) -> float:
    """Solve f(x) = target for a non-decreasing f on [lo, hi] (clamped to the ends)."""
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


class _Calibrator:
    """Deficit and surplus (kW) of one calibration interval as functions of the two multipliers."""

    def __init__(self, loads: HouseholdLoads, pv: PVModel, clouds: np.ndarray, kwp: np.ndarray, width: int):
        self.loads, self.pv, self.clouds, self.kwp, self.width = loads, pv, clouds, kwp, width

    def totals(self, start: int, activity: float, cloud: float) -> tuple[float, float]:
        window = np.arange(start, start + self.width) % MINUTES
        load = activity * (self.loads.standby[window] + self.loads.activity[window])
        kc = np.clip(cloud * self.clouds, 0.0, CLEARSKY_INDEX_MAX)
        gen = self.pv.per_kwp(kc, window) * self.kwp
        net = (gen - load).mean(axis=0)
        return float(-net[net < 0].sum()), float(net[net > 0].sum())

    def solve(self, row: Table1Row, start: int) -> dict | None:
        """Multipliers that hit ``row`` at the interval starting at ``start``; None if out of range."""
        activity, cloud = 1.0, 1.0
        fit_cloud = row.prosumer_surplus_kw > 0
        for _ in range(40):
            before = (activity, cloud)
            activity = _bisect(lambda a: self.totals(start, a, cloud)[0], row.consumer_deficit_kw, *ACTIVITY_RANGE)
            if fit_cloud:
                cloud = _bisect(lambda c: self.totals(start, activity, c)[1], row.prosumer_surplus_kw, *CLOUD_RANGE)
            if np.allclose(before, (activity, cloud), rtol=1e-9, atol=1e-12):
                break
        deficit, surplus = self.totals(start, activity, cloud)
        if abs(deficit - row.consumer_deficit_kw) > 1e-3 * max(row.consumer_deficit_kw, 1.0):
            return None
        if abs(surplus - row.prosumer_surplus_kw) > 1e-3 * max(row.prosumer_surplus_kw, 1.0):
            return None
        return {
            "time": row.time,
            "target_deficit_kw": row.consumer_deficit_kw,
            "target_surplus_kw": row.prosumer_surplus_kw,
            "deficit_kw": round(deficit, 4),
            "surplus_kw": round(surplus, 4),
            "activity_multiplier": round(activity, 6),
            "cloud_multiplier": round(cloud, 6) if fit_cloud else None,
        }


def _within(value: float, band: tuple[float, float] | None) -> bool:
    return band is None or band[0] <= value <= band[1]


def _day_figures_met(config: GeneratorConfig, load_kw: np.ndarray, pv_kw_per_kwp: np.ndarray) -> bool:
    """Daily energy, peak and PV-surplus window of a calibrated draw, at the calibration interval."""
    width = config.calibration_interval_minutes
    community = fmt.resample_mean(load_kw.sum(axis=1), 1, width)
    net = fmt.resample_mean(pv_kw_per_kwp * config.kwp_per_peer() - load_kw, 1, width)
    with_surplus = np.flatnonzero((net > 0).any(axis=1))
    if with_surplus.size == 0:
        return config.surplus_first_interval is None and config.surplus_last_interval is None
    return (
        _within(load_kw.sum() / 60.0, config.daily_load_kwh)
        and _within(community.max(), config.peak_load_kw)
        and _within(with_surplus[0], config.surplus_first_interval)
        and _within(with_surplus[-1], config.surplus_last_interval)
    )


def calibrate_draw(
    config: GeneratorConfig, starts: list[int], loads: HouseholdLoads, pv: PVModel, clouds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[dict], np.ndarray] | None:
    """One draw of households and sky calibrated to ``config.targets`` at ``starts`` (minutes):
    (load kW, PV kW per kWp, the fits, the clear-sky index), or None when a target cannot be met
    with plausible multipliers or the day-level figures miss."""
    width = config.calibration_interval_minutes
    calibrator = _Calibrator(loads, pv, clouds, config.kwp_per_peer(), width)
    fits = []
    for row, start in zip(config.targets, starts, strict=True):
        fit = calibrator.solve(row, start)
        if fit is None:
            return None
        fits.append(fit)
    activity_curve = _plateau_curve(starts, [f["activity_multiplier"] for f in fits], width, ACTIVITY_RAMP)
    knots = [(s, f["cloud_multiplier"]) for s, f in zip(starts, fits, strict=True) if f["cloud_multiplier"]]
    cloud_curve = _plateau_curve(*zip(*knots), width) if knots else np.ones(MINUTES)
    sky = np.clip(cloud_curve * clouds, 0.0, CLEARSKY_INDEX_MAX)
    load_kw = loads.total(activity_curve)
    pv_kw_per_kwp = pv.per_kwp(sky)
    return (load_kw, pv_kw_per_kwp, fits, sky) if _day_figures_met(config, load_kw, pv_kw_per_kwp) else None


def generate_community(config: GeneratorConfig = GeneratorConfig()) -> GeneratedDay:
    """Draw every component from ``config.seed`` and calibrate to ``config.targets``.

    Roofs, households and clouds are redrawn (from the next sub-stream of the same seed) when a
    calibration time needs a multiplier outside its plausible range, e.g. when a cloud shadow
    happens to cover the community at exactly that interval.
    """
    starts = [fmt.parse_time(row.time) for row in config.targets]
    if any(s is None for s in starts):
        raise LecOptError(f"calibration times must be HH:MM: {[r.time for r in config.targets]}")
    ev_rng, bid_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2))
    for attempt in range(MAX_ATTEMPTS):
        roofs_rng, cloud_rng, house_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence([config.seed, attempt]).spawn(3)
        )
        roofs = draw_roofs(roofs_rng, config.n_peers)
        pv = PVModel(config.site, roofs, roofs_rng.integers(0, MAX_CLOUD_LAG + 1, config.n_peers))
        clouds = broken_clouds(cloud_rng)
        loads = generate_households(house_rng, config.n_peers)
        day = calibrate_draw(config, starts, loads, pv, clouds)
        if day is not None:
            load_kw, pv_kw_per_kwp, fits, _ = day
            break
    else:
        raise LecOptError(
            f"no draw in {MAX_ATTEMPTS} attempts meets the calibration targets with multipliers in "
            f"activity {ACTIVITY_RANGE} and cloud {CLOUD_RANGE} and the day-level figures: are the targets "
            "possible for this community (number of prosumers, PV size, households)?"
        )
    ev_kw = generate_ev(ev_rng, config.ev_chargers, config.ev_daily_kwh, config.ev_away)
    mid = 0.5 * (config.buy + config.sell)
    ask = np.round(bid_rng.uniform(config.sell + 0.01, mid + 0.025, config.n_peers), 4)
    bid = np.round(bid_rng.uniform(mid - 0.025, config.buy - 0.01, config.n_peers), 4)
    return GeneratedDay(config, load_kw, pv_kw_per_kwp, ev_kw, ask, bid, roofs.frame(), fits, attempt)


def write_community(day: GeneratedDay, out: str | Path) -> Path:
    """Write the data folder (CSV files and ``manifest.json``), each file atomically."""
    import pvlib  # recorded in the manifest: the PV numbers depend on its version

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fmt.write_series(out / fmt.LOAD_FILE, "peer_", day.load_kw)
    fmt.write_series(out / fmt.PV_FILE, "peer_", day.pv_kw_per_kwp)
    fmt.write_series(out / fmt.EV_FILE, "ev_", day.ev_kw)
    fmt.write_bids(out / fmt.BIDS_FILE, day.ask, day.bid)
    write_csv(out / "roofs.csv", day.roofs_table)
    config = asdict(day.config)
    config["targets"] = [asdict(row) for row in day.config.targets]
    manifest = {
        "format": "lec-opt community day, version 1",
        "source": "synthetic: lec-opt data generate",
        "seed": day.config.seed,
        "pvlib_version": pvlib.__version__,
        "config": config,
        "calibration": day.calibration,
        "calibration_attempt": day.attempt,
        "clock": "GMT (UTC); solar noon near 12:10 at the site",
    }
    write_json(out / fmt.MANIFEST_FILE, json.loads(json.dumps(manifest)))
    return out
