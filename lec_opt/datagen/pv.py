"""Rooftop PV per kWp with pvlib: clear sky, broken clouds, tilted east/south/west roofs.

The chain is the field's standard one: solar position and Ineichen clear sky (pvlib), a
clear-sky index series for the clouds, Erbs decomposition of GHI into beam and diffuse,
Hay-Davies transposition onto each roof, physical IAM on the beam, Faiman cell temperature,
PVWatts DC and inverter models. Output is AC kW per kWp installed, one column per roof.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lec_opt.errors import LecOptError

MINUTES = 1440
ROOF_CLASSES = {"east": 90.0, "south": 180.0, "west": 270.0}
ROOF_SHARES = (0.4, 0.2, 0.4)  # east and west roofs make the morning and evening surplus


def _pvlib():
    try:
        import pvlib
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise LecOptError(
            "generating PV profiles needs pvlib: pip install -e '.[data]' (the shipped data does not)"
        ) from None
    return pvlib


@dataclass(frozen=True)
class Site:
    """Where and when the PV is simulated: coordinates, altitude and the day (clock GMT)."""

    latitude: float = 53.4
    longitude: float = -2.3
    altitude_m: float = 100.0
    date: str = "2023-06-21"  # a long summer day; clock is GMT (UTC), solar noon near 12:10


@dataclass(frozen=True)
class Roofs:
    """Roof orientation of every peer (every peer gets one, so any peer can be a prosumer)."""

    orientation: tuple[str, ...]
    azimuth_deg: np.ndarray
    tilt_deg: np.ndarray

    def frame(self) -> pd.DataFrame:
        """The roofs as a table (roofs.csv): peer, orientation, azimuth and tilt."""
        return pd.DataFrame(
            {
                "peer": np.arange(1, len(self.orientation) + 1),
                "orientation": list(self.orientation),
                "azimuth_deg": np.round(self.azimuth_deg, 1),
                "tilt_deg": np.round(self.tilt_deg, 1),
            }
        )


def draw_roofs(rng: np.random.Generator, n: int) -> Roofs:
    """Draw ``n`` roofs: east, south or west with the shares of models/FORMULATION.md §2, azimuth and tilt jittered."""
    names = list(ROOF_CLASSES)
    orientation = tuple(names[i] for i in rng.choice(len(names), n, p=ROOF_SHARES))
    azimuth = np.array([ROOF_CLASSES[o] for o in orientation]) + rng.uniform(-20.0, 20.0, n)
    facing_sun_low = np.array([o != "south" for o in orientation])
    tilt = np.where(facing_sun_low, rng.uniform(30.0, 50.0, n), rng.uniform(20.0, 40.0, n))
    return Roofs(orientation, azimuth, tilt)


def broken_clouds(rng: np.random.Generator) -> np.ndarray:
    """Clear-sky index of passing cumulus (one-minute), before calibration.

    A two-state Markov chain (sun / cloud shadow) whose cloud fraction grows from a clear dawn
    to a convective afternoon and falls again in the evening; shadows transmit 20-55 % and
    the minute after a cloud edge sees a small enhancement.
    """
    hours = np.arange(MINUTES) / 60.0
    cloud_fraction = 0.04 + 0.22 * np.exp(-0.5 * ((hours - 13.0) / 3.0) ** 2)
    mean_shadow_minutes = 6.0
    index = np.empty(MINUTES)
    shaded = False
    transmission = 1.0
    for t in range(MINUTES):
        p = cloud_fraction[t]
        if shaded:
            if rng.random() < 1.0 / mean_shadow_minutes:
                shaded = False
                index[t] = 1.08  # edge enhancement
                continue
        elif rng.random() < p / ((1.0 - p) * mean_shadow_minutes):
            shaded = True
            transmission = rng.uniform(0.20, 0.55)
        index[t] = transmission if shaded else 1.0 + rng.normal(0.0, 0.01)
    return index


class PVModel:
    """Solar geometry and clear sky for one site and day; evaluates roofs for a clear-sky index."""

    def __init__(self, site: Site, roofs: Roofs, lags_min: np.ndarray):
        pvlib = _pvlib()
        self._pvlib = pvlib
        self.roofs = roofs
        self.lags = np.asarray(lags_min, dtype=int)
        # minute midpoints represent each minute's mean
        times = pd.date_range(f"{site.date} 00:00:30", periods=MINUTES, freq="1min", tz="UTC")
        loc = pvlib.location.Location(site.latitude, site.longitude, "UTC", site.altitude_m)
        solpos = loc.get_solarposition(times)
        clear = loc.get_clearsky(times, model="ineichen", solar_position=solpos)
        self.zenith = solpos["apparent_zenith"].to_numpy()
        self.azimuth = solpos["azimuth"].to_numpy()
        self.ghi_clear = clear["ghi"].to_numpy()
        self.dni_extra = pvlib.irradiance.get_extra_radiation(times).to_numpy()
        self.doy = times.day_of_year.to_numpy()
        hours = np.arange(MINUTES) / 60.0
        self.temp_air = 15.0 + 6.5 * np.sin((hours - 9.0) / 24.0 * 2 * np.pi)
        self.wind = 2.0

    @classmethod
    def from_sky(
        cls,
        roofs: Roofs,
        lags_min: np.ndarray,
        sky: dict[str, np.ndarray],
        temp_air: np.ndarray,
        wind: np.ndarray | float,
    ) -> PVModel:
        """A day's model from precomputed solar geometry and clear sky (one-minute arrays of that day).

        ``sky`` holds ``zenith``, ``azimuth`` (degrees), ``ghi_clear``, ``dni_extra`` (W/m²) and ``doy``.
        """
        model = cls.__new__(cls)
        model._pvlib = _pvlib()
        model.roofs = roofs
        model.lags = np.asarray(lags_min, dtype=int)
        model.zenith, model.azimuth = sky["zenith"], sky["azimuth"]
        model.ghi_clear, model.dni_extra, model.doy = sky["ghi_clear"], sky["dni_extra"], sky["doy"]
        model.temp_air, model.wind = temp_air, wind
        return model

    def per_kwp(self, clearsky_index: np.ndarray, minutes: np.ndarray | None = None) -> np.ndarray:
        """AC kW per kWp, shape (len(minutes), n_roofs), for a day-long clear-sky index series.

        Roof r sees the cloud pattern ``lags[r]`` minutes later than the community's reference.
        """
        pv = self._pvlib
        minutes = np.arange(MINUTES) if minutes is None else np.asarray(minutes)
        n_roofs = len(self.roofs.orientation)
        t = np.repeat(minutes, n_roofs)
        r = np.tile(np.arange(n_roofs), len(minutes))
        kc = clearsky_index[(t - self.lags[r]) % MINUTES]
        zenith = self.zenith[t]
        ghi = kc * self.ghi_clear[t]
        split = pv.irradiance.erbs(ghi, zenith, self.doy[t])
        dni = np.nan_to_num(np.asarray(split["dni"], dtype=float))
        dhi = np.nan_to_num(np.asarray(split["dhi"], dtype=float))
        tilt = self.roofs.tilt_deg[r]
        az = self.roofs.azimuth_deg[r]
        poa = pv.irradiance.get_total_irradiance(
            tilt,
            az,
            zenith,
            self.azimuth[t],
            dni,
            ghi,
            dhi,
            dni_extra=self.dni_extra[t],
            albedo=0.2,
            model="haydavies",
        )
        aoi = pv.irradiance.aoi(tilt, az, zenith, self.azimuth[t])
        iam = np.nan_to_num(np.asarray(pv.iam.physical(aoi), dtype=float))
        beam = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=float)) * iam
        diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=float))
        effective = np.clip(beam + diffuse, 0.0, None)
        wind = self.wind[t] if np.ndim(self.wind) else self.wind
        temp_cell = pv.temperature.faiman(effective, self.temp_air[t], wind)
        dc = pv.pvsystem.pvwatts_dc(effective, temp_cell, pdc0=1.0, gamma_pdc=-0.0037) * 0.93
        ac = pv.inverter.pvwatts(np.clip(dc, 0.0, None), pdc0=1.0 / 0.96)
        ac = np.clip(np.nan_to_num(np.asarray(ac, dtype=float)), 0.0, None)
        return ac.reshape(len(minutes), n_roofs)
