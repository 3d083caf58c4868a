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
