"""Generate a community over any run of dates: a multi-day data folder (season, weekday, weather).

The community (peers, prosumers, roofs, household traits, bids) is drawn once from the seed; each
date then draws its own sky, households and EV sessions from a stream keyed by the seed and the
date itself, so a date's data do not depend on where the period starts (only an EV session
running over midnight from the day before the period is not there). The sky of a date follows the
site's monthly clearness (``climate.py``) or a weather file (``weather.py``); PV is the one-day
model's pvlib chain on the date's solar geometry in the site's standard clock; households follow
the season and the weekday (``seasonal_household.py``), EV sessions the weekday (``ev.period_ev``).

Calibration: on every 21 June in the period (``calibration_day``), the date's draws are
calibrated exactly as the one-day generator calibrates its day (``generate._Calibrator``: the
household-activity and cloud multipliers at the Table 1 times, redrawing that date's households
and sky until the multipliers are plausible and the day-level figures hold), so that the paper's
day is a day of every generated year. Its sky is the one-day generator's (``pv.broken_clouds``:
the paper's day is a bright summer day with passing cumulus) rather than a draw of the climate
table. A weather-file sky is the user's and is not calibrated.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.datagen.climate import (
    daily_clear_sky_index,
    daily_temperature,
    manchester_clearness,
    minute_clear_sky_index,
    minute_temperature,
)
from lec_opt.datagen.ev import period_ev
from lec_opt.datagen.generate import (
    CLEARSKY_INDEX_MAX,
    MAX_ATTEMPTS,
    MAX_CLOUD_LAG,
    GeneratorConfig,
    calibrate_draw,
)
from lec_opt.datagen.pv import PVModel, Roofs, _pvlib, broken_clouds, draw_roofs
from lec_opt.datagen.seasonal_household import HEATING_BASE_C, HouseholdTraits, draw_traits, household_day
from lec_opt.datagen.weather import WeatherYear, read_weather
from lec_opt.errors import InputError, LecOptError
from lec_opt.io import profiles as fmt
from lec_opt.io.atomic import write_csv, write_json
from lec_opt.scenario.schema import Scenario

MINUTES = 1440
FORMATS = ("parquet", "csv")
DAILY_FILE = "daily_totals.csv"  # one row per date: sky, temperature, energies (not read by the solver)


@dataclass(frozen=True)
class PeriodConfig:
    """What to generate: the community (one-day config), the dates, the site and the output step."""

    community: GeneratorConfig
    start: dt.date
    days: int
    step_minutes: int = 5
    latitude: float = 53.4
    longitude: float = -2.3
    utc_offset_hours: float = 0.0
    altitude_m: float = 100.0
    monthly_clearness: tuple[float, ...] | None = None
    weather: Path | None = None
    calibration_day: tuple[int, int] | None = (6, 21)
    decimals: int = 4

    @classmethod
    def from_scenario(cls, scenario: Scenario, seed: int, start: dt.date, days: int, **kwargs) -> PeriodConfig:
        """The period of a scenario's community at its ``[site]``, from ``start`` for ``days`` days."""
        site = scenario.site
        clearness = tuple(site.monthly_clearness) if site.monthly_clearness else None
        return cls(
            community=GeneratorConfig.from_scenario(scenario, seed),
            start=start,
            days=days,
            latitude=site.latitude,
            longitude=site.longitude,
            utc_offset_hours=site.utc_offset_hours,
            altitude_m=site.altitude_m,
            monthly_clearness=clearness,
            **kwargs,
        )

    @property
    def dates(self) -> list[dt.date]:
        """Every date of the period, in order."""
        return [self.start + dt.timedelta(days=d) for d in range(self.days)]

    def check(self) -> None:
        """Refuse a period without days or a step that does not divide the day."""
        if self.days < 1:
            raise LecOptError(f"--days must be at least 1, not {self.days}")
        if self.step_minutes < 1 or MINUTES % self.step_minutes:
            raise LecOptError(f"--step-minutes {self.step_minutes} does not divide a day of {MINUTES} minutes")


def why_not_calibrated(scenario: Scenario) -> str | None:
    """Why the 21 June calibration does not apply to a scenario's community, or None when it does.

    Its targets (Table 1 at four times, the day's load, peak and PV window) are the totals of the
    paper's community: 100 peers, the odd ones 5 kWp prosumers, at the default site and clock.
    """
    community, site, default = scenario.community, scenario.site, type(scenario.site)()
    if community.n_peers != 100:
        return f"this community has {community.n_peers} peers"
    if community.prosumers != "odd" or community.pv_kwp != 5.0:
        return "its prosumers are not the paper's (the odd peers, 5 kWp each)"
    if (site.latitude, site.longitude, site.utc_offset_hours) != (
        default.latitude,
        default.longitude,
        default.utc_offset_hours,
    ):
        return "its [site] is not the default site and clock the targets were set at"
    return None


@dataclass(frozen=True)
class GeneratedPeriod:
    """Generated profiles of every step of a period, at the period's step."""

    config: PeriodConfig
    times: list[str]
    load_kw: np.ndarray  # (steps, peers), mean kW over each step
    pv_kw_per_kwp: np.ndarray
    ev_kw: np.ndarray
    ask: np.ndarray
    bid: np.ndarray
    roofs_table: pd.DataFrame
    calibration: list[dict]
    daily: pd.DataFrame  # one row per date: sky index, temperature, weekday, energies


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def _sky(config: PeriodConfig) -> dict[str, np.ndarray]:
    """Solar geometry and Ineichen clear sky of every minute of the period (minute midpoints)."""
    pvlib = _pvlib()
    local = pd.date_range(
        pd.Timestamp(config.start) + pd.Timedelta(seconds=30), periods=config.days * MINUTES, freq="1min"
    )
    # the same instants in UTC (the site's clock is a fixed offset from it)
    times = (local - pd.Timedelta(hours=config.utc_offset_hours)).tz_localize("UTC")
    loc = pvlib.location.Location(config.latitude, config.longitude, "UTC", config.altitude_m)
    solpos = loc.get_solarposition(times)
    clear = loc.get_clearsky(times, model="ineichen", solar_position=solpos)
    return {
        "zenith": solpos["apparent_zenith"].to_numpy(),
        "azimuth": solpos["azimuth"].to_numpy(),
        "elevation": solpos["apparent_elevation"].to_numpy(),
        "ghi_clear": clear["ghi"].to_numpy(),
        "dni_extra": pvlib.irradiance.get_extra_radiation(times).to_numpy(),
        "doy": local.dayofyear.to_numpy(),
    }


def _daily_sky_means(config: PeriodConfig, sky: dict[str, np.ndarray]) -> np.ndarray:
    """Expected daily clear-sky index of each date from the monthly clearness Kt.

    kc = Kt · H0 / H_clear of the date (extraterrestrial and clear-sky horizontal irradiation).
    """
    kt = np.asarray(config.monthly_clearness or manchester_clearness())
    cos_z = np.clip(np.cos(np.radians(sky["zenith"])), 0.0, None)
    h0 = (sky["dni_extra"] * cos_z).reshape(config.days, MINUTES).sum(axis=1)
    h_clear = sky["ghi_clear"].reshape(config.days, MINUTES).sum(axis=1)
    months = np.array([d.month for d in config.dates])
    return np.clip(kt[months - 1] * h0 / np.maximum(h_clear, 1e-9), 0.05, 0.95)


def _year_of_daily_index(config: PeriodConfig, means: np.ndarray) -> np.ndarray:
    """Each date's drawn daily clear-sky index, from one persistent series per calendar year."""
    out = np.empty(config.days)
    dates = config.dates
    for year in sorted({d.year for d in dates}):
        first = dt.date(year, 1, 1)
        n_year = (dt.date(year + 1, 1, 1) - first).days
        idx = [k for k, d in enumerate(dates) if d.year == year]
        # the year's latent series is drawn whole, so a date's sky does not depend on the period's start
        full_means = np.full(n_year, 0.5)
        positions = [(dates[k] - first).days for k in idx]
        full_means[positions] = means[idx]
        drawn = daily_clear_sky_index(_rng(config.community.seed, 1, year), full_means)
        out[idx] = drawn[positions]
    return out


def _weather_day(weather: WeatherYear, date: dt.date, ghi_clear: np.ndarray) -> tuple[np.ndarray, ...]:
    """A date's minute clear-sky index, air temperature and wind from the file's hourly means."""
    ghi, temp, wind = weather.day(date)
    clear_hourly = ghi_clear.reshape(24, 60).mean(axis=1)
    kc = np.where(clear_hourly > 1.0, ghi / np.maximum(clear_hourly, 1.0), 0.0)
    minute_hours = (np.arange(MINUTES) + 0.5) / 60.0
    temp_minute = np.interp(minute_hours, np.arange(24) + 0.5, temp)
    return np.repeat(np.clip(kc, 0.0, 1.5), 60), temp_minute, np.repeat(wind, 60)


def _calibrate_day(config, date, traits, roofs, lags, sky_day, temp, wind, weekend, heating, cloud_rng_for):
    """The one-day calibration on this date's draws (redrawing the date's households and sky)."""
    community = config.community
    starts = [fmt.parse_time(row.time) for row in community.targets]
    pv = PVModel.from_sky(roofs, lags, sky_day, temp, wind)
    for attempt in range(MAX_ATTEMPTS):
        house_rng, cloud_rng = cloud_rng_for(attempt)
        loads = household_day(house_rng, traits, sky_day["elevation"], heating, weekend)
        clouds = broken_clouds(cloud_rng)  # the paper's day: the one-day generator's summer cumulus
        day = calibrate_draw(community, starts, loads, pv, clouds)
        if day is not None:
            load_kw, pv_kw, fits, sky = day
            for f in fits:
                f["date"] = date.isoformat()
                f["attempt"] = attempt
            return load_kw, pv_kw, fits, float(np.mean(sky))
    raise LecOptError(
        f"{date}: no draw in {MAX_ATTEMPTS} attempts meets the paper's Table 1 and day figures at this site "
        "and clock; generate without calibration (--no-calibration) for another site"
    )


def generate_period(config: PeriodConfig, progress: Callable[[int], None] | None = None) -> GeneratedPeriod:
    """Generate every date of ``config`` (``progress(k)`` is called after date k)."""
    config.check()
    community = config.community
    seed = community.seed
    weather = (
        read_weather(config.weather, config.latitude, config.longitude, config.utc_offset_hours)
        if config.weather
        else None
    )
    roofs_rng = _rng(seed, 0, 0)
    roofs: Roofs = draw_roofs(roofs_rng, community.n_peers)
    lags = roofs_rng.integers(0, MAX_CLOUD_LAG + 1, community.n_peers)
    traits: HouseholdTraits = draw_traits(_rng(seed, 0, 1), community.n_peers)
    bid_rng = _rng(seed, 0, 2)
    mid = 0.5 * (community.buy + community.sell)
    ask = np.round(bid_rng.uniform(community.sell + 0.01, mid + 0.025, community.n_peers), 4)
    bid = np.round(bid_rng.uniform(mid - 0.025, community.buy - 0.01, community.n_peers), 4)

    sky = _sky(config)
    means = _daily_sky_means(config, sky)
    day_index = _year_of_daily_index(config, means)
    high, low = daily_temperature(config.dates)
    kwp = community.kwp_per_peer()
    step = config.step_minutes
    per_day = MINUTES // step
    load = np.empty((config.days * per_day, community.n_peers))
    pv_out = np.empty_like(load)
    calibration: list[dict] = []
    rows = []
    for k, date in enumerate(config.dates):
        cut = slice(k * MINUTES, (k + 1) * MINUTES)
        sky_day = {name: values[cut] for name, values in sky.items()}
        weekend = date.weekday() >= 5
        heating = max(HEATING_BASE_C - 0.5 * (high[k] + low[k]), 0.0)
        key = date.toordinal()

        def draws(attempt: int, key=key) -> tuple[np.random.Generator, np.random.Generator]:
            return _rng(seed, 2, key, attempt), _rng(seed, 3, key, attempt)

        if weather is not None:
            clouds, temp, wind = _weather_day(weather, date, sky_day["ghi_clear"])
            heating = max(HEATING_BASE_C - float(temp.mean()), 0.0)  # the file's day, not the climate table's
        else:
            temp, wind = minute_temperature(high[k], low[k]), 2.0
        calibrate = config.calibration_day == (date.month, date.day) and weather is None
        if calibrate:
            load_kw, pv_kw, fits, day_index[k] = _calibrate_day(
                config, date, traits, roofs, lags, sky_day, temp, wind, weekend, heating, draws
            )
            calibration += fits
        else:
            house_rng, cloud_rng = draws(0)
            loads = household_day(house_rng, traits, sky_day["elevation"], heating, weekend)
            if weather is None:
                clouds = minute_clear_sky_index(cloud_rng, day_index[k])
            load_kw = loads.total()
            pv = PVModel.from_sky(roofs, lags, sky_day, temp, wind)
            daylight = np.flatnonzero(sky_day["zenith"] < 90.0)
            pv_kw = np.zeros((MINUTES, community.n_peers))
            if daylight.size:
                pv_kw[daylight] = pv.per_kwp(np.clip(clouds, 0.0, CLEARSKY_INDEX_MAX), daylight)
        out = slice(k * per_day, (k + 1) * per_day)
        load[out] = fmt.resample_mean(load_kw, 1, step)
        pv_out[out] = fmt.resample_mean(pv_kw, 1, step)
        rows.append(
            {
                "date": date.isoformat(),
                "weekday": date.strftime("%a"),
                "sky_index": round(float(day_index[k]), 4) if weather is None else None,
                "temp_mean_c": round(float(temp.mean()), 2),
                "load_kwh": round(float(load_kw.sum() / 60.0), 3),
                "pv_kwh": round(float((pv_kw * kwp).sum() / 60.0), 3),
                "calibrated": calibrate,
            }
        )
        if progress:
            progress(k)
    ev_rngs = [_rng(seed, 4, d.toordinal()) for d in config.dates]
    ev_factor = 1.0 + 0.015 * np.clip(HEATING_BASE_C - 0.5 * (high + low), 0.0, None)
    ev_minute = period_ev(
        ev_rngs,
        community.ev_chargers,
        community.ev_daily_kwh,
        community.ev_away,
        [d.weekday() >= 5 for d in config.dates],
        ev_factor,
    )
    ev = ev_minute.reshape(config.days * per_day, step, -1).mean(axis=1)
    daily = pd.DataFrame(rows)
    daily["ev_kwh"] = np.round(ev_minute.reshape(config.days, MINUTES, -1).sum(axis=(1, 2)) / 60.0, 3)
    times = [f"{date.isoformat()}T{fmt.format_minute(m)}" for date in config.dates for m in range(0, MINUTES, step)]
    return GeneratedPeriod(config, times, load, pv_out, ev, ask, bid, roofs.frame(), calibration, daily)


def _write_table(path_stem: Path, storage: str, times: list[str], prefix: str, values: np.ndarray, decimals: int):
    frame = pd.DataFrame(np.round(values, decimals), columns=[f"{prefix}{k}" for k in range(1, values.shape[1] + 1)])
    frame.insert(0, "time", times)
    if storage == "csv":
        write_csv(path_stem.with_suffix(".csv"), frame, float_format=f"%.{decimals}f")
    else:
        from lec_opt.io.atomic import atomic_open

        with atomic_open(path_stem.with_suffix(".parquet"), "wb") as handle:
            frame.to_parquet(handle, engine="pyarrow", index=False, compression="zstd")


def write_period(period: GeneratedPeriod, out: str | Path, storage: str = "parquet") -> Path:
    """Write a multi-day data folder (the three profile tables as Parquet or CSV), each file atomically."""
    import pvlib

    if storage not in FORMATS:
        raise LecOptError(f"storage must be one of {FORMATS}, not {storage!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = period.config
    for name, prefix, values in (
        (fmt.LOAD_FILE, "peer_", period.load_kw),
        (fmt.PV_FILE, "peer_", period.pv_kw_per_kwp),
        (fmt.EV_FILE, "ev_", period.ev_kw),
    ):
        _write_table(out / Path(name).stem, storage, period.times, prefix, values, config.decimals)
    fmt.write_bids(out / fmt.BIDS_FILE, period.ask, period.bid)
    write_csv(out / "roofs.csv", period.roofs_table)
    write_csv(out / DAILY_FILE, period.daily)
    community = asdict(config.community)
    community["targets"] = [asdict(row) for row in config.community.targets]
    offset = config.utc_offset_hours
    manifest = {
        "format": "lec-opt community period, version 1",
        "source": "synthetic: lec-opt data generate --start",
        "start": config.start.isoformat(),
        "days": config.days,
        "step_minutes": config.step_minutes,
        "utc_offset_hours": offset,
        "latitude": config.latitude,
        "longitude": config.longitude,
        "altitude_m": config.altitude_m,
        "clock": f"site standard time, UTC{offset:+g} all year (no daylight saving)",
        "storage": storage,
        "seed": config.community.seed,
        "pvlib_version": pvlib.__version__,
        "sky": (
            f"weather file {config.weather.name} ({config.weather.suffix.lstrip('.').upper()})"
            if config.weather
            else "stochastic: monthly clearness "
            + (
                "[site] monthly_clearness"
                if config.monthly_clearness
                else "Manchester table (lec_opt/datagen/climate.py)"
            )
        ),
        "monthly_clearness": list(config.monthly_clearness) if config.monthly_clearness else None,
        "community": community,
        "calibration": period.calibration,
    }
    write_json(out / fmt.MANIFEST_FILE, json.loads(json.dumps(manifest, default=str)))
    return out


def parse_start(text: str) -> dt.date:
    """``YYYY-MM-DD`` as a date, or an error naming the option."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError("--start", f"{text!r} is not a date YYYY-MM-DD") from None
