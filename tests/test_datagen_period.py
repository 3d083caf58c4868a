"""Data for any date: seasons, weekdays, weather files, the multi-day folder, and the 21 June calibration."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lec_opt import load_scenario
from lec_opt.cli import app
from lec_opt.datagen.climate import (
    MANCHESTER_GHI_KWH_M2_DAY,
    manchester_clearness,
    minute_clear_sky_index,
    monthly_extraterrestrial,
)
from lec_opt.datagen.generate import GeneratorConfig
from lec_opt.datagen.period import PeriodConfig, generate_period, why_not_calibrated, write_period
from lec_opt.errors import InputError, LecOptError
from lec_opt.paper import DAILY_LOAD_KWH, TABLE1, TABLE1_TOLERANCE

N_PEERS = 20
runner = CliRunner()


def _config(start: dt.date, days: int, step: int = 60, n_peers: int = N_PEERS, **kwargs) -> PeriodConfig:
    """A small community (no calibration: Table 1 is for 100 peers) at the default site."""
    community = GeneratorConfig(
        seed=11, n_peers=n_peers, prosumers=tuple(range(1, n_peers + 1, 2)), ev_chargers=3, ev_daily_kwh=33.0
    )
    kwargs.setdefault("calibration_day", None)
    return PeriodConfig(community=community, start=start, days=days, step_minutes=step, **kwargs)


def _daily(values: np.ndarray, step: int) -> np.ndarray:
    """Energy of each day (kWh), summed over columns."""
    per_day = 1440 // step
    return values.reshape(-1, per_day, values.shape[1]).sum(axis=(1, 2)) * step / 60.0


@pytest.fixture(scope="module")
def june():
    return generate_period(_config(dt.date(2023, 6, 5), 7))


@pytest.fixture(scope="module")
def december():
    return generate_period(_config(dt.date(2023, 12, 4), 7))


# --- climate table ----------------------------------------------------------------------------


def test_clearness_table_is_the_ghi_table_over_the_extraterrestrial_irradiation():
    h0 = monthly_extraterrestrial(53.4)
    # Duffie & Beckman Table 1.10.1 at 50-55 N: about 2-3 kWh/m²/day in January, about 11.5 in June
    assert 1.5 < h0[0] < 3.0 and 11.0 < h0[5] < 12.0
    kt = manchester_clearness()
    assert np.allclose(kt * h0, MANCHESTER_GHI_KWH_M2_DAY)
    assert kt[5] > kt[11] and 0.2 < kt.min() and kt.max() < 0.5


def test_minute_sky_has_the_drawn_daily_mean_on_average():
    rng = np.random.default_rng(3)
    for target in (0.15, 0.5, 0.8):
        means = [minute_clear_sky_index(rng, target).mean() for _ in range(40)]
        assert abs(np.mean(means) - target) < 0.06, target


# --- seasons and weekdays ---------------------------------------------------------------------


def test_december_pv_is_well_below_june_at_53_north(june, december):
    kwp = june.config.community.kwp_per_peer()
    pv_june = _daily(june.pv_kw_per_kwp * kwp, 60).mean()
    pv_december = _daily(december.pv_kw_per_kwp * kwp, 60).mean()
    assert pv_december < 0.35 * pv_june
    # and the sun is up longer in June: PV at 05:00 and 20:00 in June, none then in December
    hours_june = june.pv_kw_per_kwp.reshape(7, 24, -1).sum(axis=(0, 2))
    hours_december = december.pv_kw_per_kwp.reshape(7, 24, -1).sum(axis=(0, 2))
    assert hours_june[5] > 0 and hours_june[20] > 0
    assert hours_december[5] == 0 and hours_december[20] == 0


def test_winter_household_load_is_above_summer(june, december):
    assert _daily(december.load_kw, 60).mean() > 1.15 * _daily(june.load_kw, 60).mean()
    # lighting: at 17:00 it is dark in December and light in June
    load_17_december = december.load_kw.reshape(7, 24, -1)[:, 17].sum(axis=1).mean()
    load_17_june = june.load_kw.reshape(7, 24, -1)[:, 17].sum(axis=1).mean()
    assert load_17_december > load_17_june


def test_weekends_differ_from_weekdays():
    period = generate_period(_config(dt.date(2024, 3, 4), 14, step=30, n_peers=30))  # two weeks, Monday first
    weekend = np.array([dt.date(2024, 3, 4 + d).weekday() >= 5 for d in range(14)])
    load = period.load_kw.sum(axis=1).reshape(14, 48)
    # weekday mornings start earlier (07:00-08:00); weekends use more at late morning (10:00-12:00)
    assert load[~weekend, 14:16].mean() > load[weekend, 14:16].mean()
    assert load[weekend, 20:24].mean() > load[~weekend, 20:24].mean()
    ev = period.ev_kw.sum(axis=1).reshape(14, 48)
    away = slice(16, 26)  # 08:00-13:00: weekday cars are at work
    assert np.all(ev[~weekend, away] == 0)
    assert ev[weekend, away].sum() > 0


def test_a_date_does_not_depend_on_where_the_period_starts():
    long = generate_period(_config(dt.date(2023, 3, 1), 5))
    short = generate_period(_config(dt.date(2023, 3, 3), 2))
    np.testing.assert_array_equal(long.load_kw[48:96], short.load_kw[:48])
    np.testing.assert_array_equal(long.pv_kw_per_kwp[48:96], short.pv_kw_per_kwp[:48])


# --- the folder -------------------------------------------------------------------------------


def test_month_and_year_boundary_every_step_once(tmp_path):
    period = generate_period(_config(dt.date(2023, 12, 30), 4, step=60))
    folder = write_period(period, tmp_path / "p", "parquet")
    frame = pd.read_parquet(folder / "load_kw.parquet")
    times = pd.to_datetime(frame["time"], format="%Y-%m-%dT%H:%M")
    expected = pd.date_range("2023-12-30 00:00", "2024-01-02 23:00", freq="60min")
    assert list(times) == list(expected)
    assert list(frame.columns) == ["time"] + [f"peer_{k}" for k in range(1, N_PEERS + 1)]
    for name in ("pv_kw_per_kwp", "ev_kw"):
        assert list(pd.read_parquet(folder / f"{name}.parquet")["time"]) == list(frame["time"])
    assert not any((folder / f"{name}.csv").exists() for name in ("load_kw", "pv_kw_per_kwp", "ev_kw"))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["start"] == "2023-12-30" and manifest["days"] == 4 and manifest["step_minutes"] == 60
    assert manifest["utc_offset_hours"] == 0.0 and manifest["latitude"] == 53.4 and manifest["longitude"] == -2.3
    days = pd.read_csv(folder / "daily_totals.csv")
    assert list(days["date"]) == ["2023-12-30", "2023-12-31", "2024-01-01", "2024-01-02"]
    assert np.allclose(days["load_kwh"], _daily(period.load_kw, 60), atol=0.01)


def test_csv_and_parquet_hold_the_same_table(tmp_path):
    period = generate_period(_config(dt.date(2023, 4, 30), 2, step=30))
    csv = write_period(period, tmp_path / "csv", "csv")
    parquet = write_period(period, tmp_path / "parquet", "parquet")
    for name in ("load_kw", "pv_kw_per_kwp", "ev_kw"):
        a = pd.read_csv(csv / f"{name}.csv")
        b = pd.read_parquet(parquet / f"{name}.parquet")
        assert list(a["time"]) == list(b["time"])
        np.testing.assert_allclose(a.drop(columns="time").to_numpy(), b.drop(columns="time").to_numpy(), atol=1e-9)


def test_same_seed_same_files(tmp_path):
    args = ["data", "generate", "--start", "2023-10-30", "--days", "3", "--step-minutes", "60", "--seed", "5"]
    for name in ("a", "b"):
        result = runner.invoke(app, [*args, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "a").iterdir() if p.name != "lec-opt.json")
    assert "load_kw.parquet" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    other = runner.invoke(app, [*args[:-1], "6", "--out", str(tmp_path / "c")])
    assert other.exit_code == 0
    assert (tmp_path / "c" / "load_kw.parquet").read_bytes() != (tmp_path / "a" / "load_kw.parquet").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2023-02-30"], "--start: '2023-02-30' is not a date"),
        (["--start", "21/06/2023"], "--start: '21/06/2023' is not a date"),
        (["--start", "2023-06-21", "--days", "0"], "--days must be at least 1"),
        (["--start", "2023-06-21", "--step-minutes", "7"], "--step-minutes 7 does not divide a day"),
        (["--start", "2023-06-21", "--format", "xlsx"], "--format must be one of"),
        (["--days", "3"], "need --start"),
        (["--step-minutes", "15"], "need --start"),
    ],
)
def test_bad_dates_and_options_are_errors_before_any_work(tmp_path, args, message):
    result = runner.invoke(app, ["data", "generate", "--out", str(tmp_path / "out"), *args])
    assert message in _user_error(result)
    assert not (tmp_path / "out").exists()


def _user_error(result) -> str:
    """The message of a user's error: a typer usage error (exit 2) or a LecOptError, which ``lec-opt``'s
    main() prints as one 'error:' line with exit 2 (tests/test_cli.py checks that path)."""
    if isinstance(result.exception, LecOptError):
        return str(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    return " ".join(result.output.replace("│", " ").split())


def test_bad_start_through_the_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lec_opt", "data", "generate", "--start", "2023-13-01", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: --start: '2023-13-01' is not a date")


# --- the 21 June calibration ------------------------------------------------------------------


def test_21_june_of_a_generated_year_meets_the_paper_day():
    """The paper's community (100 peers) around 21 June; 21 June is drawn keyed by its date, so it is
    the same day in any period that contains it (see test_a_date_does_not_depend_on_where_the_period_starts)."""
    config = PeriodConfig.from_scenario(load_scenario(), 2022, dt.date(2023, 6, 21), 1, step_minutes=5)
    period = generate_period(config)
    kwp = config.community.kwp_per_peer()
    net = period.pv_kw_per_kwp * kwp - period.load_kw
    deficit = np.clip(-net, 0, None).sum(axis=1)
    surplus = np.clip(net, 0, None).sum(axis=1)
    for row in TABLE1:
        t = int(row.time[:2]) * 12
        assert abs(deficit[t] - row.consumer_deficit_kw) <= TABLE1_TOLERANCE * row.consumer_deficit_kw, row.time
        if row.prosumer_surplus_kw:
            assert abs(surplus[t] - row.prosumer_surplus_kw) <= TABLE1_TOLERANCE * row.prosumer_surplus_kw, row.time
    assert DAILY_LOAD_KWH[0] <= period.load_kw.sum() * 5 / 60 <= DAILY_LOAD_KWH[1]
    assert [c["date"] for c in period.calibration] == ["2023-06-21"] * len(TABLE1)
    assert period.daily["calibrated"].tolist() == [True]


# --- weather files ----------------------------------------------------------------------------


def _hourly_weather(bright_days: set[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GHI: a midday bump, bright on the listed days of the year (0-based), dim on the others."""
    hours = np.arange(8760)
    hour_of_day, day = hours % 24, hours // 24
    shape = np.clip(np.sin((hour_of_day + 0.5 - 4) / 16 * np.pi), 0, None)
    peak = np.where(np.isin(day, list(bright_days)), 700.0, 60.0)
    return np.round(peak * shape), np.full(8760, 12.0), np.full(8760, 3.0)


def write_epw(path: Path, ghi: np.ndarray, temp: np.ndarray, wind: np.ndarray, latitude=53.4, tz=0.0) -> Path:
    header = [
        f"LOCATION,Test site,,GBR,test,000000,{latitude},-2.3,{tz},100.0",
        "DESIGN CONDITIONS,0",
        "TYPICAL/EXTREME PERIODS,0",
        "GROUND TEMPERATURES,0",
        "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0",
        "COMMENTS 1,written by lec-opt's tests",
        "COMMENTS 2,",
        "DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31",
    ]
    rows = []
    for h in range(8760):
        date = dt.date(2023, 1, 1) + dt.timedelta(days=h // 24)
        fields = [2023, date.month, date.day, h % 24 + 1, 60, "?9?9?9?9E0?9?9?9?9?9?9?9?9?9?9?9?9?9?9?9*9*9?9?9?9"]
        fields += [temp[h], 5.0, 70, 101325, 0, 1415, 300, ghi[h], 0, ghi[h], 0, 0, 0, 0, 180, wind[h]]
        fields += [5, 5, 20.0, 77777, 9, 999999999, 10, 0.1, 0, 88, 0.2, 0.0, 1.0]
        rows.append(",".join(str(v) for v in fields))
    path.write_text("\n".join(header + rows) + "\n")
    return path


def write_tmy3(path: Path, ghi: np.ndarray, temp: np.ndarray, wind: np.ndarray) -> Path:
    lines = [
        '000000,"TEST SITE",GB,0.0,53.400,-2.300,100',
        "Date (MM/DD/YYYY),Time (HH:MM),GHI (W/m^2),DNI (W/m^2),DHI (W/m^2),Dry-bulb (C),Wspd (m/s)",
    ]
    for h in range(8760):
        date = dt.date(2023, 1, 1) + dt.timedelta(days=h // 24)
        lines.append(f"{date:%m/%d/%Y},{h % 24 + 1:02d}:00,{ghi[h]},0,{ghi[h]},{temp[h]},{wind[h]}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("kind", ["epw", "tmy3"])
def test_weather_file_sets_the_sky(tmp_path, kind):
    bright = {dt.date(2023, 5, 2).timetuple().tm_yday - 1}  # 2 May bright, 1 and 3 May dim
    ghi, temp, wind = _hourly_weather(bright)
    writer, name = (write_epw, "w.epw") if kind == "epw" else (write_tmy3, "w.csv")
    path = writer(tmp_path / name, ghi, temp, wind)
    period = generate_period(_config(dt.date(2024, 5, 1), 3, weather=path))
    pv = _daily(period.pv_kw_per_kwp, 60)
    assert pv[1] > 4 * pv[0] and pv[1] > 4 * pv[2]
    # the file's 2 May hours reach the roofs at the hours they were measured (no PV before 04:00)
    hourly = period.pv_kw_per_kwp.reshape(3, 24, -1).sum(axis=2)[1]
    assert np.all(hourly[:4] == 0) and hourly[11:14].min() > 0
    manifest_folder = write_period(period, tmp_path / "out", "csv")
    assert name in json.loads((manifest_folder / "manifest.json").read_text())["sky"]


def test_weather_file_errors_name_file_row_and_field(tmp_path):
    ghi, temp, wind = _hourly_weather(set())
    ghi = ghi.copy()
    ghi[100] = 9999  # a missing-value code
    bad = write_epw(tmp_path / "bad.epw", ghi, temp, wind)
    with pytest.raises(InputError) as err:
        generate_period(_config(dt.date(2023, 1, 1), 1, weather=bad))
    assert err.value.file == str(bad) and err.value.row == 9 + 100 and err.value.field == "ghi"
    far = write_epw(tmp_path / "far.epw", *_hourly_weather(set()), latitude=40.0)
    with pytest.raises(InputError, match="latitude 40.0 is more than"):
        generate_period(_config(dt.date(2023, 1, 1), 1, weather=far))
    short = tmp_path / "short.csv"
    write_tmy3(short, *_hourly_weather(set()))
    short.write_text("\n".join(short.read_text().splitlines()[:-24]) + "\n")
    with pytest.raises(InputError, match="8736 hourly rows; a typical year has 8760"):
        generate_period(_config(dt.date(2023, 1, 1), 1, weather=short))
    other = tmp_path / "weather.txt"
    other.write_text("x")
    with pytest.raises(InputError, match="EPW"):
        generate_period(_config(dt.date(2023, 1, 1), 1, weather=other))
    result = runner.invoke(
        app, ["data", "generate", "--start", "2023-01-01", "--weather", str(bad), "--out", str(tmp_path / "o")]
    )
    assert "row 109: field 'ghi'" in _user_error(result)


# --- the [site] section -----------------------------------------------------------------------


def test_site_section_defaults_and_checks(tmp_path):
    site = load_scenario().site
    assert (site.latitude, site.longitude, site.utc_offset_hours) == (53.4, -2.3, 0.0)
    base = Path(__file__).resolve().parent.parent / "models" / "paper_5min.toml"
    for body, message in (
        ("utc_offset_hours = 1.01", "not a whole number of minutes"),
        ("monthly_clearness = [0.3, 0.4]", "one per month"),
        ("latitude = 95", "latitude"),
    ):
        path = tmp_path / "s.toml"
        path.write_text(f'base = "{base}"\n[site]\n{body}\n')
        with pytest.raises(InputError, match=message):
            load_scenario(path)
    path.write_text(f'base = "{base}"\n[site]\nlatitude = 40.4\nlongitude = -3.7\nutc_offset_hours = 1\n')
    madrid = load_scenario(path)
    config = PeriodConfig.from_scenario(madrid, 1, dt.date(2023, 12, 21), 1, step_minutes=60, calibration_day=None)
    period = generate_period(config)
    hourly = period.pv_kw_per_kwp.sum(axis=1)
    # solar noon at 3.7 W is 12:13 UTC on 21 December (15 min for the longitude, -2 min equation of
    # time), so 13:13 on the site's UTC+1 clock: the PV day is centred there
    centre = (hourly * (np.arange(24) + 0.5)).sum() / hourly.sum()
    assert 12.95 < centre < 13.45
    assert json.loads(json.dumps(period.daily.to_dict()))  # plain data


def test_the_calibration_applies_only_to_the_paper_s_community(tmp_path):
    """21 June is calibrated to Table 1 only for the community those totals describe; a feeder's 55
    peers get their 21 June as drawn, and the command says why (it once stopped: 'no draw in 200
    attempts meets the paper's Table 1')."""
    paper = load_scenario()
    assert why_not_calibrated(paper) is None
    moved = paper.model_copy(update={"site": paper.site.model_copy(update={"latitude": 40.0})})
    assert "default site" in why_not_calibrated(moved)
    result = runner.invoke(
        app,
        ["data", "generate", "--scenario", "ieee_lv_feeder.toml", "--start", "2022-06-20", "--days", "2",
         "--out", str(tmp_path / "feeder")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "21 June is not calibrated" in said and "this community has 55 peers" in said
    manifest = json.loads((tmp_path / "feeder" / "manifest.json").read_text())
    assert manifest["start"] == "2022-06-20" and manifest["days"] == 2
