"""ces.policy = "foresight": the day's CES schedule at once (models/FORMULATION.md §10) against the myopic rule."""

from __future__ import annotations

import numpy as np
import pytest

from lec_opt import load_scenario
from lec_opt.day.foresight import day_value_usd
from lec_opt.day.outputs import summary
from lec_opt.day.run import run_day
from lec_opt.io.profiles import write_bids, write_series


def _three_interval_day(tmp_path, k=0.0, degradation=0.005, policy="foresight"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    """Three 8-hour intervals; peer 1 a 1 kWp prosumer, peer 2 a consumer; 10 kWh CES at SoC 0.2 = soc_min.

    00:00-08:00 nothing; 08:00-16:00 peer 1 has 3 kWh surplus (0.375 kW for 8 h) and no buyer;
    16:00-24:00 peer 2 needs 3 kWh. No P2P trade is possible, so only the CES decides.
    """
    load = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.375]])
    pv = np.array([[0.0, 0.0], [0.375, 0.0], [0.0, 0.0]])
    write_series(tmp_path / "load_kw.csv", "peer_", load)
    write_series(tmp_path / "pv_kw_per_kwp.csv", "peer_", pv)
    write_series(tmp_path / "ev_kw.csv", "ev_", np.zeros((3, 1)))
    write_bids(tmp_path / "bids_asks.csv", np.full(2, 0.12), np.full(2, 0.17))
    base = load_scenario().with_data_dir(tmp_path)
    ces = base.ces.model_copy(
        update=dict(
            capacity_kwh=10.0,
            soc_initial=0.2,
            soc_min=0.2,
            soc_max=0.9,
            charge_power_kw=100.0,
            discharge_power_kw=100.0,
            charge_efficiency=1.0,
            discharge_efficiency=1.0,
            grid_recharge_threshold=0.1,
            k=k,
            degradation=degradation,
            policy=policy,
        )
    )
    community = base.community.model_copy(update={"prosumers": [1], "pv_kwp": 1.0})
    return base.model_copy(update={"interval_minutes": 480, "ces": ces, "community": community})


def test_hand_checked_three_interval_day(tmp_path):
    """Myopic with k = 0: storing costs the export price now and its value comes later, which an interval
    cannot see, so it exports 3 kWh at 0.09 and imports 3 kWh at 0.20: value 0.27 − 0.60 = −0.33 $.
    Foresight stores the 3 kWh at noon and covers the evening: value −0.005·(3 + 3) = −0.03 $.
    Gain = 3·(0.20 − 0.09) − 0.005·6 = 0.30 $."""
    run = run_day(_three_interval_day(tmp_path), method="greedy")
    out = summary(run)
    assert out["myopic_day_value_usd"] == pytest.approx(-0.33, abs=1e-9)
    assert out["foresight_day_value_usd"] == pytest.approx(-0.03, abs=1e-9)
    assert out["foresight_gain_usd"] == pytest.approx(0.30, abs=1e-9)
    assert [s.result.soc_end for s in run.steps] == pytest.approx([0.2, 0.5, 0.2], abs=1e-9)
    assert [s.result.soc_end for s in run.myopic_steps] == pytest.approx([0.2, 0.2, 0.2], abs=1e-9)
    assert out["foresight_gain_by_period_usd"]["evening"] == pytest.approx(0.60 - 0.015, abs=1e-9)
    # the rebuilt results settle (energy and money balance) and the summary's value is theirs
    assert day_value_usd([s.result for s in run.steps], 0.005) == pytest.approx(-0.03, abs=1e-9)


def test_myopic_policy_has_no_foresight_keys(tmp_path):
    out = summary(run_day(_three_interval_day(tmp_path, policy="myopic"), method="greedy"))
    assert out["ces_policy"] == "myopic" and "foresight_gain_usd" not in out
    assert out["day_value_usd"] == pytest.approx(-0.33, abs=1e-9)


@pytest.mark.parametrize(("k", "degradation"), [(0.0, 0.0), (0.3, 0.005), (1.0, 0.005), (1.0, 0.05)])
def test_foresight_never_loses_on_a_small_community_day(small_data, write_scenario, k, degradation):
    """The myopic path is a feasible point of the day schedule, so the gain is never negative."""
    sc = load_scenario(write_scenario({"ces": {"k": k, "degradation": degradation, "policy": "foresight"}}))
    sc = sc.model_copy(update={"interval_minutes": 30})
    out = summary(run_day(sc, method="greedy"))
    assert out["foresight_gain_usd"] >= -1e-7
    assert out["ces_soc_end"] >= out["myopic_totals"]["ces_soc_end"] - 1e-7  # no gain by emptying the store
    assert out["foresight_day_value_usd"] == pytest.approx(out["myopic_day_value_usd"] + out["foresight_gain_usd"])


def test_foresight_on_the_default_day_at_30_minutes():
    sc = load_scenario()
    sc = sc.model_copy(update={"interval_minutes": 30, "ces": sc.ces.model_copy(update={"policy": "foresight"})})
    run = run_day(sc, method="greedy")
    out = summary(run)
    assert out["foresight_gain_usd"] >= -1e-7
    assert out["ces_soc_min"] >= sc.ces.soc_min - 1e-9 and out["ces_soc_max"] <= sc.ces.soc_max + 1e-9
    assert [s.chosen for s in run.steps] == [s.chosen for s in run.myopic_steps]


def test_report_draws_both_soc_paths(tmp_path):
    from lec_opt.day.outputs import write_day
    from lec_opt.report.figures import render_figures

    folder = write_day(run_day(_three_interval_day(tmp_path / "data"), method="greedy"), tmp_path / "out")
    names = [p.name for p in render_figures(folder)]
    assert names[-2:] == ["10_selection.png", "11_foresight_soc.png"]
    png = (folder / "figures" / "11_foresight_soc.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
