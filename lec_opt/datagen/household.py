"""Household load at one-minute resolution: standby, cold appliances, activity and appliance events.

Each household's expected load follows a community activity template (morning and evening
peaks), shifted in time and scaled by a lognormal size factor; the realised load adds
cycling fridge-freezers, a noisy lighting/electronics share and discrete appliance events
(kettle, cooking, laundry, showers ...), so no two households are alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MINUTES = 1440

# Expected load of an average household (kW) at each full hour, 00:00 ... 23:00 (periodic).
ACTIVITY_TEMPLATE_KW = np.array(
    [
        0.060,
        0.052,
        0.050,
        0.050,
        0.056,
        0.140,
        0.370,
        0.460,
        0.400,
        0.320,
        0.300,
        0.420,
        0.680,
        0.470,
        0.340,
        0.340,
        0.450,
        0.640,
        0.760,
        0.620,
        0.520,
        0.420,
        0.270,
        0.130,
    ]
)

# name, heating power range (kW), heating minutes range, tail power (kW), tail minutes, weight
APPLIANCES = (
    ("kettle", (2.0, 2.8), (2, 4), 0.0, 0, 0.30),
    ("microwave", (0.8, 1.3), (2, 7), 0.0, 0, 0.18),
    ("cooking", (1.0, 2.6), (15, 45), 0.3, 20, 0.16),
    ("laundry", (1.8, 2.3), (10, 20), 0.2, 45, 0.09),
    ("cleaning", (1.0, 2.0), (5, 15), 0.0, 0, 0.15),
    ("shower", (7.0, 9.5), (5, 10), 0.0, 0, 0.08),
)
CONTINUOUS_SHARE = 0.45  # share of activity energy from lighting and electronics


@dataclass(frozen=True)
class HouseholdLoads:
    """One-minute load components (kW), shape (MINUTES, n_households)."""

    standby: np.ndarray
    activity: np.ndarray

    def total(self, multiplier: np.ndarray | float = 1.0) -> np.ndarray:
        """Household load scaled by a (per-minute) multiplier."""
        multiplier = np.asarray(multiplier, dtype=float)
        if multiplier.ndim == 1:
            multiplier = multiplier[:, None]
        return multiplier * (self.standby + self.activity)


def template_per_minute() -> np.ndarray:
    """The hourly template interpolated to minutes (periodic, knot at each full hour)."""
    hours = np.arange(25)
    values = np.append(ACTIVITY_TEMPLATE_KW, ACTIVITY_TEMPLATE_KW[0])
    return np.interp(np.arange(MINUTES) / 60.0, hours, values)


def _ar1_noise(rng: np.random.Generator, sigma: float, minutes_corr: float) -> np.ndarray:
    phi = np.exp(-1.0 / minutes_corr)
    shocks = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), MINUTES)
    out = np.empty(MINUTES)
    out[0] = rng.normal(0.0, sigma)
    for t in range(1, MINUTES):
        out[t] = phi * out[t - 1] + shocks[t]
    return out


def _cold_appliance(rng: np.random.Generator) -> np.ndarray:
    power = rng.uniform(0.05, 0.10)
    period = rng.uniform(35.0, 60.0)
    duty = rng.uniform(0.30, 0.45)
    phase = rng.uniform(0.0, period)
    cycle = ((np.arange(MINUTES) + phase) % period) / period
    return np.where(cycle < duty, power, 0.0)


def _add_event(load: np.ndarray, start: int, power: float, minutes: int) -> None:
    idx = (start + np.arange(minutes)) % MINUTES
    load[idx] += power


def generate_households(rng: np.random.Generator, n: int) -> HouseholdLoads:
    """Draw ``n`` households' standby and activity loads (kW per minute)."""
    template = template_per_minute()
    minute = np.arange(MINUTES)
    daytime = np.exp(-0.5 * ((minute - 13 * 60) / 150.0) ** 2)  # bump around 13:00
    size = rng.lognormal(0.0, 0.42, n)
    size /= size.mean()
    standby = np.empty((MINUTES, n))
    activity = np.empty((MINUTES, n))
    for h in range(n):
        base = rng.uniform(0.02, 0.045) * np.sqrt(size[h])
        cold = _cold_appliance(rng)
        shift = int(round(rng.normal(0.0, 30.0)))
        at_home = rng.uniform(0.6, 1.5)
        expected = size[h] * np.roll(template, shift) * (1.0 + (at_home - 1.0) * daytime)
        wanted = np.clip(expected - base - cold.mean(), 0.002, None)

        continuous = CONTINUOUS_SHARE * wanted * np.exp(_ar1_noise(rng, 0.25, 20.0) - 0.5 * 0.25**2)
        has_shower = rng.random() < 0.15
        weights = np.array([a[5] for a in APPLIANCES])
        if not has_shower:
            weights[-1] = 0.0
        weights /= weights.sum()
        mean_energy = sum(
            w * (np.mean(p) * np.mean(d) + tail_p * tail_d)
            for w, (_, p, d, tail_p, tail_d, _) in zip(weights, APPLIANCES, strict=True)
        )  # kW·min per event
        rate = (1.0 - CONTINUOUS_SHARE) * wanted / mean_energy  # events per minute
        events = np.zeros(MINUTES)
        n_events = max(rng.poisson(rate.sum()), 3)  # even the smallest household boils a kettle
        starts = rng.choice(MINUTES, size=n_events, p=rate / rate.sum())
        kinds = rng.choice(len(APPLIANCES), size=n_events, p=weights)
        for start, kind in zip(starts, kinds, strict=True):
            _, power, minutes, tail_power, tail_minutes, _ = APPLIANCES[kind]
            heat_minutes = int(rng.integers(minutes[0], minutes[1] + 1))
            _add_event(events, start, rng.uniform(*power), heat_minutes)
            if tail_minutes:
                _add_event(events, start + heat_minutes, tail_power, tail_minutes)
        standby[:, h] = base + cold
        activity[:, h] = continuous + events
    return HouseholdLoads(standby=standby, activity=activity)
