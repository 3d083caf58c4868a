"""Sizing the CES at its price (lec_opt.analysis.sizing): the annualised cost by hand, the sweep's
sizing columns and best capacity, and the golden-section refinement against a known maximum."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import error_of, run_cli

from lec_opt import load_scenario
from lec_opt.analysis.sizing import (
    NET_BENEFIT,
    annualised_cost_usd,
    best_point,
    capital_recovery_factor,
    refine,
    sizing_metrics,
)

COST = {"energy_usd_per_kwh": 400.0, "power_usd_per_kw": 150.0, "lifetime_years": 10, "discount_rate": 0.06}


def test_the_capital_recovery_factor_by_hand():
    assert capital_recovery_factor(0.0, 20) == pytest.approx(0.05)
    # 6 % over 10 years: 0.06 · 1.06^10 / (1.06^10 − 1) = 0.135868
    assert capital_recovery_factor(0.06, 10) == pytest.approx(0.06 * 1.06**10 / (1.06**10 - 1))
    assert capital_recovery_factor(0.06, 10) == pytest.approx(0.1358680, abs=1e-7)


def test_the_annualised_cost_and_the_sizing_columns_by_hand(write_scenario):
    sc = load_scenario(write_scenario({"ces": {"cost": {**COST, "om_fraction_per_year": 0.02}}}))
    capital, yearly = annualised_cost_usd(sc.ces)
    assert capital == pytest.approx(400.0 * 20.0 + 150.0 * 5.0)  # 20 kWh; 5 kW charge and discharge
    assert yearly == pytest.approx(capital * capital_recovery_factor(0.06, 10) + 0.02 * capital)
    metrics = {"days": 7, "community_saving_usd": 14.0, "ces_discharge_kwh": 40.0, "ev_from_ces_kwh": 10.0}
    row = sizing_metrics(sc, metrics)
    assert row["year_scale"] == pytest.approx(365 / 7)
    assert row["community_saving_per_year_usd"] == pytest.approx(14.0 * 365 / 7)
    assert row[NET_BENEFIT] == pytest.approx(14.0 * 365 / 7 - yearly)
    assert row["ev_share_of_ces_discharge"] == pytest.approx(0.25)
    assert sizing_metrics(load_scenario(write_scenario()), metrics) == {}  # no cost: no sizing columns


def test_a_bad_cost_names_its_field(write_scenario):
    from lec_opt.errors import InputError

    with pytest.raises(InputError) as err:
        load_scenario(write_scenario({"ces": {"cost": {**COST, "discount_rate": -0.1}}}))
    assert err.value.field == "ces.cost.discount_rate"


def test_golden_section_finds_the_maximum_of_a_concave_benefit():
    """The benefit −(x − 37.3)²: from a grid of 10..150 the refinement closes in on 37.3, one point a step."""
    runs = []

    def table(values):
        runs.append(list(values))
        return pd.DataFrame({"cap": values, NET_BENEFIT: [-((v - 37.3) ** 2) for v in values], "status": "ok"})

    grid = [10.0, 30.0, 50.0, 70.0, 90.0]
    frame = refine(table, "cap", table(grid), steps=12)
    best = best_point(frame)
    assert abs(best["cap"] - 37.3) < 0.2
    assert len(frame) == len(grid) + 13  # two points at the first step, then one a step
    assert all(set(a) <= set(b) for a, b in zip(runs, runs[1:]))  # every run keeps the points before it
    assert 30.0 <= frame["cap"].iloc[len(grid) :].min() and frame["cap"].max() <= 90.0


def test_a_sizing_sweep_states_the_best_capacity_and_refines_it(small_data, write_scenario, tmp_path):
    scenario = write_scenario({"interval_minutes": 60, "ces": {"cost": COST}})
    args = ["sweep", "-s", scenario, "-p", "ces.capacity_kwh=5:45:5", "--method", "greedy", "--executor", "serial"]
    code, out, err = run_cli(*args, "--out", tmp_path / "grid")
    assert code == 0, err
    frame = pd.read_csv(tmp_path / "grid" / "sweep.csv")
    for _, row in frame.iterrows():
        capital = 400.0 * row["ces.capacity_kwh"] + 150.0 * 5.0
        assert row["ces_annualised_cost_usd"] == pytest.approx(capital * capital_recovery_factor(0.06, 10))
        assert row[NET_BENEFIT] == pytest.approx(365 * row["community_saving_usd"] - row["ces_annualised_cost_usd"])
    best = frame.loc[frame[NET_BENEFIT].idxmax()]
    said = " ".join(out.split())
    assert (
        f"best: ces.capacity_kwh = {best['ces.capacity_kwh']:.6g}: net benefit ${best[NET_BENEFIT]:,.0f} a year" in said
    )
    code, out, err = run_cli(*args, "--out", tmp_path / "refined", "--refine", "3", "--no-figures")
    assert code == 0, err
    refined = pd.read_csv(tmp_path / "refined" / "sweep.csv")
    assert len(refined) == len(frame) + 4 and refined[NET_BENEFIT].max() >= frame[NET_BENEFIT].max()
    assert (tmp_path / "grid" / "figures" / "sweep_sizing_ces.capacity_kwh.png").is_file()


def test_refine_needs_a_priced_ces_and_one_axis(small_data, write_scenario, tmp_path):
    plain = [
        "sweep",
        "-s",
        write_scenario(),
        "-p",
        "ces.capacity_kwh=5,10,20",
        "--refine",
        "2",
        "--out",
        tmp_path / "x",
    ]
    code, _, err = run_cli(*plain)
    assert code == 2 and "refine needs one swept field" in error_of(err)
    assert not (tmp_path / "x").exists()


def test_refine_from_python_needs_an_output_folder(small_data, write_scenario, tmp_path):
    from lec_opt.analysis.sweep.run import run_sweep
    from lec_opt.errors import LecOptError

    priced = load_scenario(write_scenario({"ces": {"cost": COST}}))
    with pytest.raises(LecOptError, match="refine needs an output folder"):
        run_sweep({"ces.capacity_kwh": [5, 10, 20]}, priced, method="greedy", refine=2)
