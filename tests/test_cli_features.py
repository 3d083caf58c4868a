"""Advertised command-line features run as a user runs them, each against an independent answer.

- ``solve-interval``: ``--time`` and ``--interval`` name the same interval, ``--soc`` is the CES's
  starting state, ``--json`` is what the Python API returns, the table shows the levels;
- ``game``: ``--all`` is the default, ``--interval`` checks one interval, ``--ces-player`` adds the
  CES as a player with its imputation, ``--prices`` prices the violated intervals, ``--json``;
- ``solve-day --ces-policy foresight`` with the MILP, and ``solve-period`` refusing foresight;
- ``solve-period --executor dask --scheduler ADDR`` runs on the cluster at that address (a
  LocalCluster started by the test) and writes the files of a serial run;
- every option's help is shown whole in ``--help``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_data_folder, small_scenario_dict, to_toml
from helpers import error_of, run_cli

from lec_opt import load_scenario
from lec_opt.day.interval import solve_interval

TIMING = ("seconds",)  # fields that hold times: not compared between runs


def ok(*args: str | Path) -> str:
    """``lec-opt ARGS`` in this process; it must exit 0. Returns its stdout."""
    code, out, err = run_cli(*args)
    assert code == 0, (code, out, err)
    return out


def refused(*args: str | Path) -> str:
    """``lec-opt ARGS`` must stop with exit status 2 and one ``error:`` line. Returns its stderr."""
    code, out, err = run_cli(*args)
    assert code == 2 and "Traceback" not in err + out, (code, out, err)
    return error_of(err)


def without_times(value):
    """A JSON value with every timing field dropped (they differ between runs)."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if not any(t in k for t in TIMING)}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def small_doc(data_dir: str = "data") -> dict:
    """The small scenario with k = 1: its CES buys the sellers' noon surplus (at k = 0.5 it does not)."""
    doc = small_scenario_dict(data_dir)
    doc["ces"]["k"] = 1.0
    return doc


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """The 4-peer community at 5-minute intervals: ``scenario.toml`` beside its ``data/``."""
    root = tmp_path_factory.mktemp("small")
    make_data_folder(root / "data")
    (root / "scenario.toml").write_text(to_toml(small_doc()))
    return root / "scenario.toml"


# --- solve-interval --------------------------------------------------------------------------


def test_solve_interval_by_time_and_by_index_is_the_api_answer(small, tmp_path):
    by_time = json.loads(ok("solve-interval", "-s", small, "--time", "12:02", "--priority", "all", "--json"))
    assert [r["priority"] for r in by_time] == ["A", "B", "C"]
    assert {(r["interval"], r["start"], r["method"]) for r in by_time} == {
        (144, "12:00", "milp")
    }  # 12:02 is in 12:00-12:05
    by_index = json.loads(ok("solve-interval", "-s", small, "--interval", "144", "--priority", "B", "--json"))
    assert len(by_index) == 1 and without_times(by_index[0]) == without_times(by_time[1])
    api = solve_interval(load_scenario(small), 144, "B", "milp")
    assert without_times(by_index[0]) == without_times(json.loads(json.dumps(api.to_json())))
    assert by_time[0]["p2p_kwh"] > 0 and by_time[0]["trades"], "12:00 of the small day trades peer to peer"


def test_solve_interval_soc_is_the_ces_start(small, tmp_path):
    sc = load_scenario(small)
    args = ("solve-interval", "-s", small, "--time", "12:00", "--priority", "A", "--method", "greedy", "--json")
    default = json.loads(ok(*args))[0]
    full = json.loads(ok(*args, "--soc", str(sc.ces.soc_max)))[0]
    assert default["soc_start"] == pytest.approx(sc.ces.soc_initial)
    assert full["soc_start"] == pytest.approx(sc.ces.soc_max)
    # a full store takes nothing at noon's surplus: what the CES took at the initial SoC is exported
    assert default["ces_charge_kwh"] > 0 and full["ces_charge_kwh"] == pytest.approx(0.0, abs=1e-9)
    assert full["grid_export_kwh"] == pytest.approx(default["grid_export_kwh"] + default["sellers_to_ces_kwh"])


def test_solve_interval_table_and_bad_options(small, tmp_path):
    table = ok("solve-interval", "-s", small, "--interval", "144", "--priority", "C")
    assert "interval 144 (12:00), priority C, milp" in table and "lexicographic levels" in table
    for bad, needle in (
        (("--time", "12:00", "--interval", "3"), "exactly one of --time"),
        ((), "exactly one of --time"),
        (("--interval", "288"), "outside 0..287"),
        (("--time", "12:00", "--soc", "0.99"), "outside the scenario's window"),
        (("--time", "12:00", "--priority", "D"), "--priority must be"),
    ):
        assert needle in refused("solve-interval", "-s", small, *bad)


# --- game ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def day(small, tmp_path_factory) -> Path:
    """The small community's greedy day at 60 minutes, written by ``solve-day``."""
    root = tmp_path_factory.mktemp("game")
    scenario = root / "hourly.toml"
    scenario.write_text(to_toml({**small_doc(str(small.parent / "data")), "interval_minutes": 60}))
    ok("solve-day", "-s", scenario, "--method", "greedy", "--out", root / "day")
    return root / "day"


def game(day: Path, *args: str) -> dict:
    return json.loads(ok("game", day, *args, "--json"))


def test_game_all_is_the_default_and_one_interval_is_its_row(day):
    everything = game(day)
    assert game(day, "--all") == everything
    rows = everything["intervals"]
    assert [r["interval"] for r in rows] == list(range(24)) and everything["intervals_checked"] == 24
    stability = pd.read_csv(day / "stability.csv")
    assert len(stability) == 24 and stability.in_core.tolist() == [r["in_core"] for r in rows]
    busiest = max(rows, key=lambda r: r["players"])
    one = game(day, "--interval", str(busiest["interval"]))
    assert one["intervals"][0] | {"stable_money_moved": None} == busiest | {"stable_money_moved": None}
    assert "intervals_checked" not in one  # one interval's check is not written into the folder


def test_game_ces_player_adds_the_ces_and_its_imputation(day):
    """With the CES as a player the game has one more player and the imputation adds each peer's CES
    gain and the CES's own: Σφ grows by (Pc − π_sell)·Σc + (π_buy − Pd)·Σd + (η_c η_d Pd − Pc)·Σc."""
    from lec_opt.analysis.stability import executed_results
    from lec_opt.market.ces import ces_params

    peers = {r["interval"]: r for r in game(day)["intervals"]}
    with_ces = {r["interval"]: r for r in game(day, "--ces-player")["intervals"]}
    day_inputs, results = executed_results(day)
    stored = served = 0
    for result in results:
        t = result.snapshot.index
        assert with_ces[t]["players"] == peers[t]["players"] + 1
        ces = ces_params(day_inputs.scenario, result.snapshot, result.soc_start)
        snap = result.snapshot
        to_ces = float(result.seller_to_ces_kwh[snap.willing_seller].sum())
        from_ces = float(result.ces_to_buyer_kwh[snap.willing_buyer].sum())
        gain = (
            (ces.pc - snap.sell_price) * to_ces
            + (snap.buy_price - ces.pd) * from_ces
            + (ces.eta_c * ces.eta_d * ces.pd - ces.pc) * to_ces
        )
        assert with_ces[t]["allocated_usd"] == pytest.approx(peers[t]["allocated_usd"] + gain, abs=1e-9)
        stored += to_ces > 0
        served += from_ces > 0
    assert stored and served, "the small day charges the CES from its sellers and serves its buyers from it"
    table = ok("game", day, "--ces-player", "--interval", "12")
    assert "(CES as a player)" in " ".join(table.split())  # the title may wrap


def test_game_prices_are_computed_only_when_asked(day):
    plain = game(day)["intervals"]
    priced = game(day, "--prices")["intervals"]
    assert all(r["stable_money_moved"] is None for r in plain)
    violated = [r for r in priced if not r["in_core"]]
    assert violated, "the small greedy day has an interval outside the core"
    for r in violated:
        assert r["stable_money_moved"] is not None and r["stable_money_moved"] >= 0
    assert [r | {"stable_money_moved": None} for r in priced] == plain


# --- foresight -------------------------------------------------------------------------------


def test_foresight_with_the_milp_starts_from_the_milp_s_myopic_day(day, tmp_path):
    scenario = day / "scenario.toml"
    base = ("solve-day", "-s", scenario, "--method", "milp", "--workers", "1")
    ok(*base, "--ces-policy", "myopic", "--out", tmp_path / "myopic")
    ok(*base, "--ces-policy", "foresight", "--out", tmp_path / "foresight")
    myopic = json.loads((tmp_path / "myopic" / "summary.json").read_text())
    foresight = json.loads((tmp_path / "foresight" / "summary.json").read_text())
    assert myopic["ces_policy"] == "myopic" and foresight["ces_policy"] == "foresight"
    assert foresight["method"] == "milp"
    assert foresight["myopic_day_value_usd"] == pytest.approx(myopic["day_value_usd"], abs=1e-9)
    assert foresight["foresight_gain_usd"] >= -1e-7
    assert foresight["foresight_day_value_usd"] == pytest.approx(
        foresight["myopic_day_value_usd"] + foresight["foresight_gain_usd"]
    )


def test_a_period_refuses_the_foresight_policy(small, tmp_path):
    scenario = tmp_path / "foresight.toml"
    doc = small_doc(str(small.parent / "data"))
    doc["ces"]["policy"] = "foresight"
    scenario.write_text(to_toml({**doc, "interval_minutes": 60}))
    err = refused(
        "solve-period", "-s", scenario, "--start", "2025-01-01", "--days", "2", "--method", "greedy",
        "--executor", "serial", "--out", tmp_path / "out",
    )  # fmt: skip
    assert str(scenario) in err and "ces.policy" in err and "myopic" in err, err
    assert not (tmp_path / "out").exists()


# --- Dask at a scheduler address ----------------------------------------------------------------


def test_solve_period_on_a_dask_scheduler_address(day, tmp_path):
    import logging

    from distributed import LocalCluster

    scenario = day / "scenario.toml"
    period = ("solve-period", "-s", scenario, "--start", "2025-01-01", "--days", "3", "--method", "greedy")
    ok(*period, "--executor", "serial", "--no-figures", "--out", tmp_path / "serial")
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster:
        address = cluster.scheduler_address
        out = ok(*period, "--executor", "dask", "--scheduler", address, "--no-figures", "--out", tmp_path / "dask")
        ran = set(cluster.scheduler.task_prefixes)
    assert ran, f"no task ran on the cluster at {address}: {out}"
    for name in ("days.csv", "intervals.parquet", "trades.parquet", "summary.json"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes(), name


# --- help --------------------------------------------------------------------------------------


def test_every_option_s_help_is_shown_whole(monkeypatch):
    """Rich reads ``[...]`` in a help text as markup and drops it (``sweep --help`` once showed
    "sweep TOML file (, mode, ..."): every option's help appears in ``--help`` as written."""
    import typer

    from lec_opt.cli import app

    monkeypatch.setenv("COLUMNS", "250")  # wide enough that rich neither wraps nor cuts a help text

    def commands(group, path=()):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, (*path, name))
            else:
                yield (*path, name), command

    for path, command in commands(typer.main.get_command(app)):
        code, shown, err = run_cli(*path, "--help")
        assert code == 0, err
        shown = "".join(shown.replace("│", " ").split())  # a narrow terminal wraps the help: compare without spaces
        for param in command.params:
            written = "".join((param.help or "").replace("\\[", "[").split())
            if written:
                assert written[:60] in shown, (path, param.name, param.help)
