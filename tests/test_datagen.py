"""The synthetic community day: reproducible from its seed, calibrated to the paper, household-like."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lec_opt import build_day, load_scenario
from lec_opt.analysis.data_info import data_info
from lec_opt.datagen import GeneratorConfig, generate_community, write_community
from lec_opt.paper import (
    DAILY_LOAD_KWH,
    EV_DAILY_KWH,
    PEAK_LOAD_KW,
    PV_SURPLUS_FIRST_INTERVAL_5MIN,
    PV_SURPLUS_LAST_INTERVAL_5MIN,
    TABLE1,
    TABLE1_TOLERANCE,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "data" / "paper_day"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """The default seed regenerated from scratch."""
    seed = json.loads((SHIPPED / "manifest.json").read_text())["seed"]
    out = tmp_path_factory.mktemp("regenerated")
    write_community(generate_community(GeneratorConfig.from_scenario(load_scenario(), seed)), out)
    return out


@pytest.fixture(scope="module")
def other_seed() -> object:
    return generate_community(GeneratorConfig.from_scenario(load_scenario(), 7))


def test_shipped_data_is_the_generator_output_bit_for_bit(regenerated):
    shipped = sorted(p.name for p in SHIPPED.iterdir())
    assert sorted(p.name for p in regenerated.iterdir()) == shipped
    for name in shipped:
        assert (regenerated / name).read_bytes() == (SHIPPED / name).read_bytes(), name


def test_another_seed_gives_another_day(other_seed):
    shipped = pd.read_csv(SHIPPED / "load_kw.csv").drop(columns="time").to_numpy()
    assert not np.allclose(shipped, other_seed.load_kw, atol=1e-3)


def _table1_and_windows(load_kw, pv_kw_per_kwp, kwp):
    net = (pv_kw_per_kwp * kwp - load_kw).reshape(288, 5, -1).mean(axis=1)
    deficit = np.clip(-net, 0, None).sum(axis=1)
    surplus = np.clip(net, 0, None).sum(axis=1)
    with_surplus = np.flatnonzero(surplus > 0)
    return deficit, surplus, with_surplus[0], with_surplus[-1]


def test_other_seed_meets_every_paper_figure(other_seed):
    day = other_seed
    deficit, surplus, first, last = _table1_and_windows(day.load_kw, day.pv_kw_per_kwp, day.config.kwp_per_peer())
    for row in TABLE1:
        t = int(row.time[:2]) * 12
        assert deficit[t] == pytest.approx(row.consumer_deficit_kw, rel=2e-3), row.time
        assert surplus[t] == pytest.approx(row.prosumer_surplus_kw, rel=2e-3, abs=1e-9), row.time
    assert DAILY_LOAD_KWH[0] <= day.load_kw.sum() / 60 <= DAILY_LOAD_KWH[1]
    assert PEAK_LOAD_KW[0] <= day.load_kw.sum(axis=1).reshape(288, 5).mean(axis=1).max() <= PEAK_LOAD_KW[1]
    assert PV_SURPLUS_FIRST_INTERVAL_5MIN[0] <= first <= PV_SURPLUS_FIRST_INTERVAL_5MIN[1]
    assert PV_SURPLUS_LAST_INTERVAL_5MIN[0] <= last <= PV_SURPLUS_LAST_INTERVAL_5MIN[1]


def test_default_data_info_meets_the_paper_targets():
    info = data_info(build_day(load_scenario()))
    for ours, paper in zip(info["table1"], TABLE1, strict=True):
        assert ours["time"] == paper.time
        for key, target in (
            ("consumer_deficit_kw", paper.consumer_deficit_kw),
            ("prosumer_surplus_kw", paper.prosumer_surplus_kw),
        ):
            if target == 0:
                assert ours[key] == 0
            else:
                assert abs(ours[key] - target) <= TABLE1_TOLERANCE * target, (paper.time, key)
    assert DAILY_LOAD_KWH[0] <= info["daily_load_kwh"] <= DAILY_LOAD_KWH[1]
    assert PEAK_LOAD_KW[0] <= info["peak_load_kw"] <= PEAK_LOAD_KW[1]
    assert EV_DAILY_KWH[0] <= info["ev_kwh"] <= EV_DAILY_KWH[1]
    assert PV_SURPLUS_FIRST_INTERVAL_5MIN[0] <= info["pv_surplus_first_interval"] <= PV_SURPLUS_FIRST_INTERVAL_5MIN[1]
    assert PV_SURPLUS_LAST_INTERVAL_5MIN[0] <= info["pv_surplus_last_interval"] <= PV_SURPLUS_LAST_INTERVAL_5MIN[1]


def test_ev_demand_is_zero_in_intervals_90_to_160_and_mostly_at_night():
    day = build_day(load_scenario())
    assert day.interval_minutes == 5
    assert np.all(day.ev_kwh[90:161] == 0)
    night = np.r_[0:90, 216:288]  # 18:00 - 07:30
    assert day.ev_kwh[night].sum() > 0.5 * day.ev_kwh.sum()


def test_households_look_like_households():
    load = pd.read_csv(SHIPPED / "load_kw.csv").drop(columns="time").to_numpy()
    daily = load.sum(axis=0) / 60
    # feeder statistics (models/FORMULATION.md §2): mean 8.4 kWh, range 1.8-20.9, one-minute peak median 3.5 kW
    assert 6.0 <= daily.mean() <= 11.0
    assert daily.min() >= 1.0 and daily.max() <= 40.0
    assert 2.0 <= np.median(load.max(axis=0)) <= 6.0
    assert 0.01 <= (load > 2.0).mean() <= 0.10
    # appliance spikes in every household; no two households alike
    assert (load.max(axis=0) > 1.5).all()
    corr = np.corrcoef(load.T)
    np.fill_diagonal(corr, 0)
    assert corr.max() < 0.9
    # community shape: morning and evening peaks above the night and the mid-afternoon
    hourly = load.sum(axis=1).reshape(24, 60).mean(axis=1)
    assert hourly[7] > 3 * hourly[3]
    assert hourly[18] > hourly[15] and hourly[18] > 5 * hourly[3]


def test_pv_comes_from_tilted_east_south_west_roofs():
    pv = pd.read_csv(SHIPPED / "pv_kw_per_kwp.csv").drop(columns="time").to_numpy()
    roofs = pd.read_csv(SHIPPED / "roofs.csv")
    assert set(roofs["orientation"]) == {"east", "south", "west"}
    assert pv.min() >= 0 and pv.max() <= 1.1
    assert np.all(pv[:180] == 0) and np.all(pv[22 * 60 :] == 0)  # dark before 03:00 and after 22:00
    for orientation, earlier_than_noon in (("east", True), ("west", False)):
        cols = roofs.index[roofs["orientation"] == orientation]
        mean = pv[:, cols].mean(axis=1)
        morning, evening = mean[6 * 60 : 7 * 60].mean(), mean[17 * 60 : 18 * 60].mean()
        assert (morning > evening) == earlier_than_noon, orientation
