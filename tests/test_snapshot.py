"""Interval snapshots: energy-conserving resampling and the paper's step-1 classification."""

from __future__ import annotations

import numpy as np
import pytest

from lec_opt import build_day, load_scenario
from lec_opt.io.shipped import MODELS_DIR


@pytest.fixture(scope="module")
def days():
    return {m: build_day(load_scenario(MODELS_DIR / f"paper_{m}min.toml")) for m in (5, 15, 30)}


def test_resampling_conserves_energy_at_5_15_30_minutes(days):
    ref = days[5]
    for minutes, day in days.items():
        assert day.n_intervals == 1440 // minutes
        for field in ("load_kwh", "pv_kwh", "ev_kwh"):
            assert getattr(day, field).sum() == pytest.approx(getattr(ref, field).sum(), rel=1e-12), (minutes, field)
        # per peer too, and per hour
        np.testing.assert_allclose(day.load_kwh.sum(axis=0), ref.load_kwh.sum(axis=0), rtol=1e-12)
        per_hour = 60 // minutes
        np.testing.assert_allclose(
            day.pv_kwh.reshape(24, per_hour, -1).sum(axis=1), ref.pv_kwh.reshape(24, 12, -1).sum(axis=1), atol=1e-12
        )


def test_every_interval_classifies_sellers_and_buyers(days):
    for day in days.values():
        for snap in day.snapshots():
            net = snap.net_kwh
            assert np.all(net[snap.sellers - 1] > 0) and np.all(net[snap.buyers - 1] < 0)
            assert not set(snap.sellers) & set(snap.buyers)
            np.testing.assert_allclose(snap.surplus_kwh, net[snap.sellers - 1])
            np.testing.assert_allclose(snap.deficit_kwh, -net[snap.buyers - 1])
            assert snap.alpha_kwh == pytest.approx(net.sum(), abs=1e-9)
            # consumers never sell: they have no PV
            assert not set(snap.sellers) & set(np.flatnonzero(~day.prosumer) + 1)


def test_snapshot_by_hand(tmp_path):
    """Three peers, one hour of 30-min data cut into 15-min intervals."""
    from lec_opt.io.profiles import write_bids, write_series

    rows = 48  # 30-minute data
    load = np.full((rows, 3), 1.0)
    pv = np.zeros((rows, 3))
    pv[24] = [0.6, 0.0, 0.2]  # 12:00-12:30, kW per kWp
    write_series(tmp_path / "load_kw.csv", "peer_", load)
    write_series(tmp_path / "pv_kw_per_kwp.csv", "peer_", pv)
    write_series(tmp_path / "ev_kw.csv", "ev_", np.full((rows, 1), 2.0))
    write_bids(tmp_path / "bids_asks.csv", np.array([0.1, 0.11, 0.12]), np.array([0.15, 0.16, 0.17]))
    scenario = load_scenario(MODELS_DIR / "paper_15min.toml").with_data_dir(tmp_path)
    scenario = scenario.model_copy(
        update={"community": scenario.community.model_copy(update={"prosumers": [1, 3], "pv_kwp": 5.0})}
    )
    day = build_day(scenario)
    snap = day.snapshot(48)  # 12:00-12:15
    assert snap.start == "12:00" and snap.hours == 0.25
    # peer 1: PV 0.6*5 = 3 kW - 1 kW load = 2 kW for 0.25 h -> 0.5 kWh surplus
    # peer 3: 0.2*5 = 1 kW - 1 kW = 0 -> neither seller nor buyer; peer 2: 1 kW * 0.25 h deficit
    assert list(snap.sellers) == [1] and snap.surplus_kwh == pytest.approx([0.5])
    assert list(snap.buyers) == [2] and snap.deficit_kwh == pytest.approx([0.25])
    assert snap.alpha_kwh == pytest.approx(0.25)
    assert snap.ev_kwh == pytest.approx(0.5)
    assert snap.ask == pytest.approx([0.1]) and snap.bid == pytest.approx([0.16])


def test_opted_out_peers_are_classified_but_not_willing(tmp_path):
    base = load_scenario()
    scenario = base.model_copy(update={"willingness": base.willingness.model_copy(update={"opt_out": [1, 2]})})
    day = build_day(scenario)
    snap = day.snapshot(144)
    for peers, willing in ((snap.sellers, snap.willing_seller), (snap.buyers, snap.willing_buyer)):
        for peer, w in zip(peers, willing, strict=True):
            assert w == (peer not in (1, 2))
