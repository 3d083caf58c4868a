"""The site's climate for generated data: monthly clearness and temperature, and a daily sky model.

Tables (January ... December), for the default site, Manchester, UK (53.4 N, 2.3 W):

- ``MANCHESTER_GHI_KWH_M2_DAY``: mean daily global horizontal irradiation, kWh/m² per day. Approximate
  monthly means of the order PVGIS-SARAH2 reports for the site (European Commission JRC, PVGIS 5.2,
  https://re.jrc.ec.europa.eu/pvg_tools/, "Monthly data", horizontal plane; annual 905 kWh/m²),
  entered by hand and rounded, not yet checked against a PVGIS download; lec-opt never fetches
  them. For precise work bring a weather file (``--weather``) or set ``[site] monthly_clearness``.
- ``manchester_clearness()``: the same as a clearness index Kt = GHI / extraterrestrial horizontal
  irradiation (Kt transfers better between nearby sites than GHI does), computed from the GHI table
  and the mean extraterrestrial irradiation of each month at 53.4 N (``monthly_extraterrestrial``).
- ``MANCHESTER_TEMP_HIGH_C`` / ``MANCHESTER_TEMP_LOW_C``: mean daily maximum and minimum air
  temperature, Manchester Ringway, Met Office 1981-2010 averages. They drive the PV cell temperature
  and the households' heating appliances.

The sky of one day is drawn in two steps (``daily_clear_sky_index``, ``minute_clear_sky_index``): a
daily clear-sky index with the month's mean (Beta-distributed, with day-to-day persistence), then a
minute series of sun and cloud-shadow spells whose mean is that day's index.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

MINUTES = 1440
MANCHESTER_GHI_KWH_M2_DAY = (0.55, 1.10, 2.10, 3.45, 4.45, 4.75, 4.50, 3.70, 2.55, 1.40, 0.70, 0.42)
MANCHESTER_TEMP_HIGH_C = (7.3, 7.6, 10.0, 12.6, 16.1, 18.6, 20.6, 20.3, 17.6, 13.9, 10.0, 7.4)
MANCHESTER_TEMP_LOW_C = (1.7, 1.6, 3.3, 4.9, 7.7, 10.5, 12.6, 12.4, 10.3, 7.4, 4.2, 1.8)
SOLAR_CONSTANT_W_M2 = 1361.0
MANCHESTER_LATITUDE = 53.4
DAY_SPREAD = 4.0  # a + b of the daily Beta distribution: broad, from overcast to clear
DAY_PERSISTENCE = 0.5  # lag-one correlation of the daily sky (weather systems last a few days)
SHADOW_MINUTES = 8.0  # mean length of a cloud shadow on a broken-cloud day


def monthly_extraterrestrial(latitude: float) -> np.ndarray:
    """Mean daily extraterrestrial irradiation on a horizontal plane (kWh/m²) of each month.

    Duffie & Beckman eq. 1.10.3 with Cooper's declination, averaged over the days of a 365-day year.
    """
    doy = np.arange(1, 366)
    phi = np.radians(latitude)
    delta = np.radians(23.45) * np.sin(2 * np.pi * (284 + doy) / 365)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    g = SOLAR_CONSTANT_W_M2 * (1 + 0.033 * np.cos(2 * np.pi * doy / 365))
    h0 = 24 / np.pi * g * (np.cos(phi) * np.cos(delta) * np.sin(ws) + ws * np.sin(phi) * np.sin(delta)) / 1000
    month = np.array([(dt.date(2023, 1, 1) + dt.timedelta(days=int(d) - 1)).month for d in doy])
    return np.array([h0[month == m].mean() for m in range(1, 13)])


def manchester_clearness() -> np.ndarray:
    """Kt of each month of the GHI table at the default site (0.28 in January, 0.42 in June)."""
    return np.asarray(MANCHESTER_GHI_KWH_M2_DAY) / monthly_extraterrestrial(MANCHESTER_LATITUDE)


def daily_temperature(dates: list[dt.date]) -> tuple[np.ndarray, np.ndarray]:
    """Mean daily maximum and minimum air temperature (°C) of each date, interpolated between mid-months."""
    doy = np.array([d.timetuple().tm_yday for d in dates], dtype=float)
    mid = np.array([15.5 + 30.4 * m for m in range(12)])
    high = np.interp(doy, mid, MANCHESTER_TEMP_HIGH_C, period=365)
    low = np.interp(doy, mid, MANCHESTER_TEMP_LOW_C, period=365)
    return high, low


def minute_temperature(high: float, low: float) -> np.ndarray:
    """A day's air temperature (°C) per minute: lowest near 05:00, highest near 15:00."""
    hours = np.arange(MINUTES) / 60.0
    return 0.5 * (high + low) + 0.5 * (high - low) * np.sin((hours - 9.0) / 24.0 * 2 * np.pi)


def daily_clear_sky_index(rng: np.random.Generator, mean_by_day: np.ndarray) -> np.ndarray:
    """Daily mean clear-sky index of each day: Beta with the given means, lag-one persistence.

    A latent AR(1) normal series carries the persistence; its probability transform picks each day's
    quantile of that day's Beta distribution (a Gaussian copula), so the monthly means hold exactly
    in expectation.
    """
    from scipy.stats import beta, norm

    n = len(mean_by_day)
    z = np.empty(n)
    shocks = rng.normal(0.0, 1.0, n)
    z[0] = shocks[0]
    for d in range(1, n):
        z[d] = DAY_PERSISTENCE * z[d - 1] + np.sqrt(1 - DAY_PERSISTENCE**2) * shocks[d]
    mean = np.clip(mean_by_day, 0.05, 0.95)
    return beta.ppf(norm.cdf(z), mean * DAY_SPREAD, (1 - mean) * DAY_SPREAD)


def minute_clear_sky_index(rng: np.random.Generator, day_index: float) -> np.ndarray:
    """One day's clear-sky index per minute with the given daily mean.

    Sun spells (index about 1, a small enhancement at cloud edges) alternate with shadow spells of
    transmission ``tau``; the shadow fraction f solves f·tau + (1 − f) = ``day_index``. Overcast
    days (f would exceed 0.9) are a slowly varying grey sky at the day's index instead.
    """
    tau = rng.uniform(0.2, 0.5)
    fraction = (1.0 - day_index) / (1.0 - tau)
    if fraction >= 0.9:
        level = rng.normal(0.0, 0.25, MINUTES // 30 + 2)
        grey = np.interp(np.arange(MINUTES), np.arange(-30, MINUTES + 31, 30)[: level.size], level)
        return np.clip(day_index * np.exp(grey - 0.5 * 0.25**2), 0.02, 1.0)
    if fraction <= 0.0:
        return np.clip(1.0 + rng.normal(0.0, 0.01, MINUTES), 0.0, 1.1)
    sun_minutes = SHADOW_MINUTES * (1.0 - fraction) / fraction
    spells = int(MINUTES / (SHADOW_MINUTES + sun_minutes)) * 2 + 20
    sun = rng.geometric(1.0 / max(sun_minutes, 1.0), spells)
    shade = rng.geometric(1.0 / SHADOW_MINUTES, spells)
    transmission = np.clip(rng.normal(tau, 0.08, spells), 0.1, 0.8)
    offset = int(rng.integers(0, sun[0] + shade[0]))
    values = np.repeat(
        np.column_stack([np.full(spells, 1.0), transmission]).ravel(), np.column_stack([sun, shade]).ravel()
    )
    edges = np.cumsum(np.column_stack([sun, shade]).ravel())[::2]  # first minute of each shadow
    edge_minutes = edges[edges < values.size]
    values[edge_minutes - 1] = 1.08  # the sun spell's last minute sees the cloud edge's enhancement
    index = values[offset : offset + MINUTES]
    if index.size < MINUTES:  # pragma: no cover - spells are drawn with room to spare
        index = np.pad(index, (0, MINUTES - index.size), constant_values=1.0)
    return np.clip(index, 0.0, 1.1)
