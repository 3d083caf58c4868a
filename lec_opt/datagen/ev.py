"""EV charging points: plug-in sessions, mostly overnight, none while the cars are away.

Each charger has one to three sessions a day at 3.7 or 7.2 kW: evening arrivals charging into
the night (wrapping past midnight to the morning of the same day), early-morning top-ups and
late-afternoon arrivals. Charging stops at the start of the away window, and the session
energies are scaled (a few fixed-point rounds, since truncation is non-linear) so that the
day's total matches the requested energy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MINUTES = 1440


@dataclass(frozen=True)
class Session:
    """One EV charging session: arrival minute, charger power and energy drawn."""

    start: int  # minute of arrival
    power_kw: float
    energy_kwh: float


def _draw_sessions(rng: np.random.Generator, away: tuple[int, int]) -> list[Session]:
    power = float(rng.choice([3.7, 7.2], p=[0.6, 0.4]))
    sessions = []
    if rng.random() < 0.9:  # evening arrival
        start = int(np.clip(rng.normal(19.5 * 60, 90), 16.5 * 60, 23.75 * 60))
        sessions.append(Session(start, power, float(rng.lognormal(np.log(9.0), 0.35))))
    if rng.random() < 0.30:  # early-morning top-up before leaving
        start = int(rng.uniform(3.0 * 60, away[0] - 60))
        sessions.append(Session(start, power, float(rng.lognormal(np.log(3.5), 0.3))))
    if rng.random() < 0.15:  # back in the afternoon
        start = int(rng.uniform(away[1], 16.5 * 60))
        sessions.append(Session(start, power, float(rng.lognormal(np.log(4.0), 0.3))))
    return sessions


def _charge(sessions: list[Session], scale: float, away: tuple[int, int]) -> np.ndarray:
    profile = np.zeros(MINUTES)
    for s in sessions:
        minutes_needed = int(np.ceil(s.energy_kwh * scale / s.power_kw * 60.0))
        for k in range(minutes_needed):
            t = (s.start + k) % MINUTES
            if away[0] <= t < away[1]:
                break  # the car has left
            energy_left = s.energy_kwh * scale - k * s.power_kw / 60.0
            profile[t] += min(s.power_kw, energy_left * 60.0)
    return profile


def generate_ev(rng: np.random.Generator, chargers: int, daily_kwh: float, away: tuple[int, int]) -> np.ndarray:
    """One-minute kW of every charger, shape (MINUTES, chargers); total = ``daily_kwh``."""
    sessions = [_draw_sessions(rng, away) for _ in range(chargers)]
    scale = 1.0
    for _ in range(20):
        profile = np.column_stack([_charge(s, scale, away) for s in sessions])
        total = profile.sum() / 60.0
        if total <= 0 or abs(total - daily_kwh) < 1e-6 * daily_kwh:
            break
        scale *= daily_kwh / total
    return profile


# Sessions of a weekend day: no commute, so fewer evening arrivals and more daytime charging.
WEEKEND_EVENING_SHARE = 0.55
WEEKEND_DAYTIME_SHARE = 0.45
MEAN_SESSION_ENERGY_KWH = 9.0 * 0.9 + 3.5 * 0.3 + 4.0 * 0.15  # of a weekday (the one-day model's draws)


def _weekend_sessions(rng: np.random.Generator) -> list[Session]:
    power = float(rng.choice([3.7, 7.2], p=[0.6, 0.4]))
    sessions = []
    if rng.random() < WEEKEND_EVENING_SHARE:
        start = int(np.clip(rng.normal(19.0 * 60, 120), 15.0 * 60, 23.75 * 60))
        sessions.append(Session(start, power, float(rng.lognormal(np.log(8.0), 0.35))))
    if rng.random() < WEEKEND_DAYTIME_SHARE:  # shopping, visits: back home around midday
        start = int(np.clip(rng.normal(13.0 * 60, 120), 9.0 * 60, 18.0 * 60))
        sessions.append(Session(start, power, float(rng.lognormal(np.log(6.0), 0.35))))
    return sessions


def period_ev(
    rngs: list[np.random.Generator],
    chargers: int,
    daily_kwh: float,
    away: tuple[int, int],
    weekend: list[bool],
    energy_factor: np.ndarray,
) -> np.ndarray:
    """One-minute kW of every charger over consecutive days, shape (days * MINUTES, chargers).

    Each day draws its own sessions (``rngs[d]``): weekdays as in the one-day model (no charging
    while the cars are away), weekends from ``_weekend_sessions``. Session energies are scaled so that
    a weekday's expected total is ``daily_kwh`` times that day's ``energy_factor`` (more in the cold:
    heating the cabin); a session that runs past midnight continues into the next day, and one still
    charging at the end of the last day is cut there.
    """
    days = len(rngs)
    profile = np.zeros((days * MINUTES, chargers))
    scale_per_kwh = daily_kwh / (chargers * MEAN_SESSION_ENERGY_KWH)
    for d, rng in enumerate(rngs):
        for c in range(chargers):
            sessions = _weekend_sessions(rng) if weekend[d] else _draw_sessions(rng, away)
            for s in sessions:
                energy = s.energy_kwh * scale_per_kwh * energy_factor[d]
                full, rest = divmod(energy * 60.0, s.power_kw)
                minutes = np.arange(int(full) + (1 if rest > 1e-12 else 0))
                power = np.full(minutes.size, s.power_kw)
                if rest > 1e-12:
                    power[-1] = rest
                t = d * MINUTES + s.start + minutes
                if not weekend[d]:
                    day_minute = t - d * MINUTES
                    gone = np.flatnonzero(
                        (day_minute >= MINUTES + away[0]) | ((day_minute >= away[0]) & (day_minute < away[1]))
                    )
                    if gone.size:  # the car leaves (the next morning, or this day's away window)
                        t, power = t[: gone[0]], power[: gone[0]]
                keep = t < days * MINUTES
                np.add.at(profile[:, c], t[keep], power[keep])
    return profile
