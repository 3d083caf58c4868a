"""Household load of any date: the one-day household model plus season, lighting, heating and weekday.

Each household keeps its traits all period (size, standby, fridge, habits, whether it has an
electric heater); each day adds what the date changes:

- **weekday or weekend**: the activity template of a weekday (``household.ACTIVITY_TEMPLATE_KW``) or
  of a weekend (``WEEKEND_TEMPLATE_KW``: a later, flatter morning, more use at midday);
- **lighting**: ``lighting_kw`` while the household is awake and the sun is below the horizon at the
  site (from the solar elevation of the date, so it follows sunrise and sunset);
- **heating appliances** in cold weather: a share of households own an electric heater (panel, fan
  or oil-filled), used in the morning and evening for a number of hours that grows with the day's
  heating degrees below 15.5 °C (the UK's base temperature), cycling on its thermostat;
- day-to-day variation of each household's activity (lognormal, σ = 0.15).

Appliance events and the noisy lighting/electronics share are drawn as in the one-day model,
vectorised over households.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lec_opt.datagen.household import ACTIVITY_TEMPLATE_KW, APPLIANCES, CONTINUOUS_SHARE, HouseholdLoads

MINUTES = 1440
# Expected load of an average household on Saturdays and Sundays (kW) at each full hour, 00:00 ... 23:00.
WEEKEND_TEMPLATE_KW = np.array(
    [
        0.085,
        0.062,
        0.052,
        0.050,
        0.050,
        0.066,
        0.140,
        0.300,
        0.450,
        0.520,
        0.500,
        0.560,
        0.700,
        0.560,
        0.460,
        0.420,
        0.470,
        0.620,
        0.740,
        0.620,
        0.530,
        0.440,
        0.310,
        0.160,
    ]
)
HEATED_SHARE = 0.30  # households with a plug-in or panel electric heater
HEATING_BASE_C = 15.5  # UK heating degree-day base temperature
HEATING_HOURS_PER_DEGREE = 0.30  # hours a heater runs per °C below the base (4 h at 2 °C)
HEATING_WINDOWS = ((6 * 60 + 30, 9 * 60), (16 * 60 + 30, 22 * 60 + 30))  # minutes of the day it is used
DAY_SIGMA = 0.15


def _per_minute(template: np.ndarray) -> np.ndarray:
    hours = np.arange(25)
    return np.interp(np.arange(MINUTES) / 60.0, hours, np.append(template, template[0]))


WEEKDAY = _per_minute(ACTIVITY_TEMPLATE_KW)
WEEKEND = _per_minute(WEEKEND_TEMPLATE_KW)


@dataclass(frozen=True)
class HouseholdTraits:
    """What each household keeps all period (arrays of length n)."""

    size: np.ndarray
    base_kw: np.ndarray
    cold_kw: np.ndarray
    cold_period: np.ndarray
    cold_duty: np.ndarray
    cold_phase: np.ndarray
    shift_min: np.ndarray
    at_home: np.ndarray
    has_shower: np.ndarray
    lighting_kw: np.ndarray
    heater_kw: np.ndarray  # 0 = no electric heater
    wake_min: np.ndarray
    sleep_min: np.ndarray

    @property
    def n(self) -> int:
        """The number of households."""
        return self.size.size


def draw_traits(rng: np.random.Generator, n: int) -> HouseholdTraits:
    """What each of ``n`` households keeps all period: size, heating, habits, appliances."""
    size = rng.lognormal(0.0, 0.42, n)
    size /= size.mean()
    heated = rng.random(n) < HEATED_SHARE
    return HouseholdTraits(
        size=size,
        base_kw=rng.uniform(0.02, 0.045, n) * np.sqrt(size),
        cold_kw=rng.uniform(0.05, 0.10, n),
        cold_period=rng.uniform(35.0, 60.0, n),
        cold_duty=rng.uniform(0.30, 0.45, n),
        cold_phase=rng.uniform(0.0, 60.0, n),
        shift_min=np.round(rng.normal(0.0, 30.0, n)).astype(int),
        at_home=rng.uniform(0.6, 1.5, n),
        has_shower=rng.random(n) < 0.15,
        lighting_kw=rng.uniform(0.08, 0.22, n) * np.sqrt(size),
        heater_kw=np.where(heated, rng.uniform(1.0, 2.5, n), 0.0),
        wake_min=np.round(rng.normal(6.5 * 60, 30.0, n)).astype(int),
        sleep_min=np.round(rng.normal(22.83 * 60, 30.0, n)).astype(int),  # lights off about 22:50
    )


def darkness(elevation_deg: np.ndarray) -> np.ndarray:
    """How much light a room needs (0 in daylight, 1 at night), from the sun's elevation in degrees."""
    return 1.0 / (1.0 + np.exp((np.asarray(elevation_deg) - 3.0) / 1.5))


def _awake(traits: HouseholdTraits, weekend: bool) -> np.ndarray:
    """1 while each household is up (30-minute ramps), shape (MINUTES, n)."""
    minute = np.arange(MINUTES)[:, None]
    wake = traits.wake_min[None, :] + (75 if weekend else 0)
    sleep = traits.sleep_min[None, :] + (30 if weekend else 0)
    up = np.clip((minute - wake) / 30.0 + 0.5, 0.0, 1.0)
    down = np.clip((sleep - minute) / 30.0 + 0.5, 0.0, 1.0)
    late = np.clip((sleep - MINUTES - minute) / 30.0 + 0.5, 0.0, 1.0)  # bedtime after midnight
    return np.maximum(np.minimum(up, down), late)


def _ar1(rng: np.random.Generator, sigma: float, minutes_corr: float, n: int) -> np.ndarray:
    from scipy.signal import lfilter

    phi = np.exp(-1.0 / minutes_corr)
    shocks = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), (MINUTES, n))
    start = rng.normal(0.0, sigma, n)
    return lfilter([1.0], [1.0, -phi], shocks, axis=0, zi=(phi * start)[None, :])[0]


def _events(rng: np.random.Generator, traits: HouseholdTraits, wanted: np.ndarray) -> np.ndarray:
    """Appliance events (kettle, cooking, laundry, ...) at the rate the expected activity asks for."""
    n = traits.n
    base_weights = np.array([a[5] for a in APPLIANCES])
    per_event = np.array([np.mean(p) * np.mean(d) + tp * td for _, p, d, tp, td, _ in APPLIANCES])  # kW·min
    diff = np.zeros((MINUTES + 1, n))
    for h in range(n):
        weights = base_weights.copy()
        if not traits.has_shower[h]:
            weights[-1] = 0.0
        weights /= weights.sum()
        rate = (1.0 - CONTINUOUS_SHARE) * wanted[:, h] / float(weights @ per_event)
        count = max(rng.poisson(rate.sum()), 3)
        starts = rng.choice(MINUTES, size=count, p=rate / rate.sum())
        kinds = rng.choice(len(APPLIANCES), size=count, p=weights)
        lo = np.array([APPLIANCES[k][1][0] for k in kinds])
        hi = np.array([APPLIANCES[k][1][1] for k in kinds])
        power = rng.uniform(lo, hi)
        dmin = np.array([APPLIANCES[k][2][0] for k in kinds])
        dmax = np.array([APPLIANCES[k][2][1] for k in kinds])
        heat = rng.integers(dmin, dmax + 1)
        tail_power = np.array([APPLIANCES[k][3] for k in kinds])
        tail = np.array([APPLIANCES[k][4] for k in kinds])
        blocks = [(starts, heat, power), (starts + heat, tail, tail_power)]
        for s, length, p in blocks:
            keep = length > 0
            s, length, p = s[keep] % MINUTES, length[keep], p[keep]
            end = s + length
            inside = np.minimum(end, MINUTES)
            np.add.at(diff[:, h], s, p)
            np.add.at(diff[:, h], inside, -p)
            wrap = end > MINUTES  # events past midnight wrap to the morning of the same day
            np.add.at(diff[:, h], np.zeros(wrap.sum(), dtype=int), p[wrap])
            np.add.at(diff[:, h], end[wrap] - MINUTES, -p[wrap])
    return np.cumsum(diff, axis=0)[:MINUTES]


def _heating(rng: np.random.Generator, traits: HouseholdTraits, heating_degrees: float) -> np.ndarray:
    """Electric heaters on their thermostats in the morning and evening windows, kW (MINUTES, n)."""
    hours = HEATING_HOURS_PER_DEGREE * max(heating_degrees, 0.0)
    load = np.zeros((MINUTES, traits.n))
    if hours <= 0 or not (traits.heater_kw > 0).any():
        return load
    window_minutes = sum(b - a for a, b in HEATING_WINDOWS)
    minute = np.arange(MINUTES)[:, None]
    in_window = np.zeros(MINUTES, dtype=bool)
    for a, b in HEATING_WINDOWS:
        in_window[a:b] = True
    duty = np.clip(hours * 60.0 / window_minutes * rng.lognormal(0.0, 0.25, traits.n), 0.0, 1.0)
    period = rng.uniform(20.0, 40.0, traits.n)
    phase = rng.uniform(0.0, 40.0, traits.n)
    on = (((minute + phase) % period) / period) < duty
    return np.where(in_window[:, None] & on, traits.heater_kw[None, :], 0.0)


def household_day(
    rng: np.random.Generator,
    traits: HouseholdTraits,
    elevation_deg: np.ndarray,
    heating_degrees: float,
    weekend: bool,
) -> HouseholdLoads:
    """One date's household loads (kW per minute): ``standby`` (base, fridges, heaters) and ``activity``."""
    n = traits.n
    minute = np.arange(MINUTES)
    template = WEEKEND if weekend else WEEKDAY
    daytime = np.exp(-0.5 * ((minute - 13 * 60) / 150.0) ** 2)[:, None]
    day_factor = rng.lognormal(-0.5 * DAY_SIGMA**2, DAY_SIGMA, n)
    shifted = np.stack([np.roll(template, s) for s in traits.shift_min], axis=1)
    at_home = traits.at_home + (0.25 if weekend else 0.0)
    expected = traits.size * day_factor * shifted * (1.0 + (at_home - 1.0) * daytime)
    cycle = ((minute[:, None] + traits.cold_phase) % traits.cold_period) / traits.cold_period
    cold = np.where(cycle < traits.cold_duty, traits.cold_kw, 0.0)
    wanted = np.clip(expected - traits.base_kw - cold.mean(axis=0), 0.002, None)
    continuous = CONTINUOUS_SHARE * wanted * np.exp(_ar1(rng, 0.25, 20.0, n) - 0.5 * 0.25**2)
    lighting = traits.lighting_kw * darkness(elevation_deg)[:, None] * _awake(traits, weekend)
    events = _events(rng, traits, wanted)
    standby = traits.base_kw + cold + _heating(rng, traits, heating_degrees)
    return HouseholdLoads(standby=standby, activity=continuous + lighting + events)
