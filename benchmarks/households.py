"""Case ``households``: household load profiles over a year, richardsonpy (CREST) against lec-opt's seasonal generator.

Measured in one run:

- speed: lec-opt's whole data generation for 100 peers × 365 days (5-minute files, 21 June
  calibrated; households, PV, EV), and its households alone; richardsonpy (``pip install
  richardsonpy``; skipped when it is not installed) for ``RICHARDSON_HOUSEHOLDS`` households × 365 days,
  extrapolated linearly to 100 (its households are independent of each other);
- realism, on the same number of households from each (one-minute kW): mean daily energy per
  household, winter (Dec-Feb) over summer (Jun-Aug) daily energy, weekend over weekday, the median
  of the households' one-minute peaks (of each day, and of the year), the community's load factor (mean / peak of the 5-minute sum),
  the hour of its evening peak and the correlation of the two generators' mean day shapes (hourly).
  The IEEE European LV Test Feeder's 55 profiles (a CREST-family model, one winter day) give the
  reference: mean 8.4 kWh a day, one-minute peak median 3.5 kW (models/FORMULATION.md §2).
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np

from benchmarks.common import save
from lec_opt import load_scenario
from lec_opt.datagen.climate import daily_temperature
from lec_opt.datagen.period import PeriodConfig, _rng, _sky, generate_period
from lec_opt.datagen.seasonal_household import HEATING_BASE_C, draw_traits, household_day

RICHARDSON_HOUSEHOLDS = 8
YEAR = 2023
DAYS = 365
UK_OCCUPANTS = (
    (1, 0.29),
    (2, 0.35),
    (3, 0.16),
    (4, 0.14),
    (5, 0.06),
)  # approximate shares of household sizes in England (ONS, Census 2021)


def _lec_opt_households(n: int) -> tuple[np.ndarray, float]:
    """One-minute kW of ``n`` households over the year (no calibration) and the seconds it took."""
    config = PeriodConfig.from_scenario(load_scenario(), 2022, dt.date(YEAR, 1, 1), DAYS)
    sky = _sky(config)
    high, low = daily_temperature(config.dates)
    traits = draw_traits(_rng(2022, 0, 1), n)
    out = np.empty((DAYS * 1440, n))
    start = time.perf_counter()
    for k, date in enumerate(config.dates):
        loads = household_day(
            _rng(2022, 2, date.toordinal(), 0),
            traits,
            sky["elevation"][k * 1440 : (k + 1) * 1440],
            max(HEATING_BASE_C - 0.5 * (high[k] + low[k]), 0.0),
            date.weekday() >= 5,
        )
        out[k * 1440 : (k + 1) * 1440] = loads.total()
    return out, time.perf_counter() - start


def _richardson(n: int) -> tuple[np.ndarray, float] | None:
    try:
        import richardsonpy.classes.electric_load as electric_load
        import richardsonpy.classes.occupancy as occupancy
        import richardsonpy.functions.change_resolution as cr
        import richardsonpy.functions.load_radiation as load_radiation
    except ImportError:
        return None
    import random

    np.random.seed(2022)  # richardsonpy draws from numpy's global generator and from Python's random
    random.seed(2022)
    direct, diffuse = load_radiation.get_rad_from_try_path()  # its shipped German test reference year
    direct = cr.change_resolution(direct, old_res=3600, new_res=60)
    diffuse = cr.change_resolution(diffuse, old_res=3600, new_res=60)
    rng = np.random.default_rng(2022)
    sizes, weights = zip(*UK_OCCUPANTS)
    out = np.empty((DAYS * 1440, n))
    start = time.perf_counter()
    for h in range(n):
        people = int(rng.choice(sizes, p=weights))
        occ = occupancy.Occupancy(number_occupants=people, initial_day=7)  # 1 Jan 2023 is a Sunday
        load = electric_load.ElectricLoad(
            occ_profile=occ.occupancy,
            total_nb_occ=people,
            q_direct=direct,
            q_diffuse=diffuse,
            timestep=60,
            initial_day=7,
        )
        out[:, h] = np.asarray(load.loadcurve[: DAYS * 1440]) / 1000.0  # W -> kW
    return out, time.perf_counter() - start


def realism(load_kw: np.ndarray) -> dict:
    dates = [dt.date(YEAR, 1, 1) + dt.timedelta(days=d) for d in range(DAYS)]
    daily = load_kw.reshape(DAYS, 1440, -1).sum(axis=1) / 60.0  # (days, households) kWh
    month = np.array([d.month for d in dates])
    weekend = np.array([d.weekday() >= 5 for d in dates])
    winter, summer = np.isin(month, (12, 1, 2)), np.isin(month, (6, 7, 8))
    community = load_kw.sum(axis=1).reshape(-1, 5).mean(axis=1)
    shape = load_kw.sum(axis=1).reshape(DAYS, 24, 60).mean(axis=(0, 2))
    return {
        "households": load_kw.shape[1],
        "daily_kwh_per_household": round(float(daily.mean()), 2),
        "winter_over_summer": round(float(daily[winter].mean() / daily[summer].mean()), 3),
        "weekend_over_weekday": round(float(daily[weekend].mean() / daily[~weekend].mean()), 3),
        "daily_one_minute_peak_median_kw": round(float(np.median(load_kw.reshape(DAYS, 1440, -1).max(axis=1))), 2),
        "year_one_minute_peak_median_kw": round(float(np.median(load_kw.max(axis=0))), 2),
        "load_factor_5min": round(float(community.mean() / community.max()), 3),
        "evening_peak_hour": int(np.argmax(shape[12:]) + 12),
        "night_share_00_06": round(float(shape[:6].sum() / shape.sum()), 3),
        "shape_hourly": [round(float(v), 3) for v in shape],
    }


def main() -> None:
    start = time.perf_counter()
    config = PeriodConfig.from_scenario(load_scenario(), 2022, dt.date(YEAR, 1, 1), DAYS)
    generate_period(config)
    year_seconds = time.perf_counter() - start
    ours_100, households_seconds = _lec_opt_households(100)
    result = {
        "lec_opt": {
            "year_100_peers_all_data_s": round(year_seconds, 1),
            "year_100_households_s": round(households_seconds, 1),
            "realism_100": {k: v for k, v in realism(ours_100).items() if k != "shape_hourly"},
        }
    }
    theirs = _richardson(RICHARDSON_HOUSEHOLDS)
    if theirs is not None:
        from importlib.metadata import metadata

        load, seconds = theirs
        ours = realism(ours_100[:, :RICHARDSON_HOUSEHOLDS])
        their = realism(load)
        meta = metadata("richardsonpy")
        result["richardsonpy"] = {
            "version": meta["Version"],
            "license": meta["License"],
            "python_classifiers": [c for c in meta.get_all("Classifier") if "Python ::" in c],
            f"year_{RICHARDSON_HOUSEHOLDS}_households_s": round(seconds, 1),
            "year_100_households_s_extrapolated": round(seconds / RICHARDSON_HOUSEHOLDS * 100, 1),
            "realism": their,
        }
        result["lec_opt"][f"realism_{RICHARDSON_HOUSEHOLDS}"] = ours
        result["shape_correlation"] = round(float(np.corrcoef(ours["shape_hourly"], their["shape_hourly"])[0, 1]), 3)
    path = save("households", result)
    print(f"{'measure':40s} lec-opt            richardsonpy")
    ours = result["lec_opt"].get(f"realism_{RICHARDSON_HOUSEHOLDS}", result["lec_opt"]["realism_100"])
    their = result.get("richardsonpy", {}).get("realism", {})
    for key in ours:
        if key != "shape_hourly":
            print(f"{key:40s} {ours[key]!s:18s} {their.get(key, '-')!s}")
    print(f"year, 100 peers, all data: {year_seconds:.1f} s; households only: {households_seconds:.1f} s")
    if "richardsonpy" in result:
        r = result["richardsonpy"]
        print(
            f"richardsonpy: {r[f'year_{RICHARDSON_HOUSEHOLDS}_households_s']} s for {RICHARDSON_HOUSEHOLDS}, "
            f"{r['year_100_households_s_extrapolated']} s for 100 (extrapolated); shape correlation "
            f"{result['shape_correlation']}"
        )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
