"""Periods: the multi-day reader, the SoC carried across midnight, month and year boundaries, resume
after a killed run, the same files from every executor, and sizing sweeps over a period.

Small and fast: 12 peers from the shipped day, 60-minute intervals, the greedy matching."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import make_period_folder

from lec_opt import load_scenario
from lec_opt.day.run import run_day
from lec_opt.errors import InputError, LecOptError
from lec_opt.io.period_profiles import read_period
from lec_opt.io.results_folder import partial_dir
from lec_opt.period import matching as period_matching
from lec_opt.period.run import CHECKPOINTS, period_days, run_period, solve_period, with_period
from lec_opt.scenario import parse_scenario

REPO = Path(__file__).resolve().parent.parent
D = datetime.date


def scenario_for(data: Path, **period) -> object:
    raw = load_scenario().model_dump(mode="json", exclude={"base"})
    raw.update(name="period-test", interval_minutes=60, data={"dir": str(data)}, period=period)
    raw["community"]["n_peers"] = 12
    return parse_scenario(raw, "test")


@pytest.fixture(scope="module")
def boundary(tmp_path_factory) -> Path:
    """30 Dec 2024 .. 2 Jan 2025: a month and a year boundary, hourly, Parquet."""
    return make_period_folder(tmp_path_factory.mktemp("boundary") / "data", "2024-12-30", 4, fmt="parquet")[0]


def files(folder: Path) -> dict[str, bytes]:
    """Every file of a results folder but its manifest (which records the command and the time)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "lec-opt.json"
    }


# --- the reader ----------------------------------------------------------------------------------


def test_csv_and_parquet_read_the_same_days(tmp_path):
    csv, load, pv, ev = make_period_folder(tmp_path / "csv", "2025-02-27", 3, step=30, fmt="csv")
    parquet = make_period_folder(tmp_path / "pq", "2025-02-27", 3, step=30, fmt="parquet")[0]
    a, b = read_period(csv), read_period(parquet)
    assert a.dates == b.dates == (D(2025, 2, 27), D(2025, 2, 28), D(2025, 3, 1))
    assert a.step_minutes == b.step_minutes == 30
    for date_n, date in enumerate(a.dates):
        rows = slice(48 * date_n, 48 * (date_n + 1))
        for day in (a.day(date), b.day(date)):
            np.testing.assert_array_equal(day.load_kw.values, load[rows])
            np.testing.assert_array_equal(day.pv_kw_per_kwp.values, pv[rows])
            np.testing.assert_array_equal(day.ev_kw.values, ev[rows])
    with pytest.raises(InputError, match="no data for 2025-03-02"):
        a.day(D(2025, 3, 2))


def test_a_one_day_folder_stands_for_every_date():
    data = read_period(REPO / "data" / "paper_day")
    assert data.repeats and data.step_minutes == 1
    assert data.day(D(2031, 1, 1)).load_kw is data.day(D(2025, 6, 21)).load_kw
    data.check_covers(D(2025, 1, 1), 365)


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("edit", "row", "needle"),
    [
        (lambda rows: rows.pop(5), 6, "gap: 2025-01-01T03:00 is followed by 2025-01-01T05:00"),
        (lambda rows: rows.insert(5, rows[5]), 7, "duplicate time"),
        (lambda rows: rows.__setitem__(3, rows[3].replace("T02:00", "T2am")), 4, "not YYYY-MM-DDTHH:MM"),
        (lambda rows: rows.pop(), 72, "the last day is not whole"),
        (lambda rows: rows.__setitem__(9, rows[9].replace(",", ",x", 1)), 10, "not a finite number"),
        (lambda rows: rows.pop(1), 2, "must start at 00:00"),
    ],
    ids=["gap", "duplicate", "bad time", "partial day", "bad number", "late start"],
)
def test_errors_name_file_row_and_field(tmp_path, edit, row, needle):
    folder = make_period_folder(tmp_path / "data", "2025-01-01", 3)[0]
    _rewrite(folder / "load_kw.csv", edit)
    with pytest.raises(InputError, match=needle) as err:
        read_period(folder)
    assert err.value.file.endswith("load_kw.csv") and err.value.row == row


def test_tables_must_agree_and_one_format_each(tmp_path):
    folder = make_period_folder(tmp_path / "a", "2025-01-01", 3)[0]
    other = make_period_folder(tmp_path / "b", "2025-01-02", 3)[0]
    (folder / "ev_kw.csv").write_bytes((other / "ev_kw.csv").read_bytes())
    with pytest.raises(InputError, match="ev_kw.csv.*covers 2025-01-02..2025-01-04") as err:
        read_period(folder)
    assert err.value.field == "time"
    both = make_period_folder(tmp_path / "c", "2025-01-01", 2)[0]
    make_period_folder(tmp_path / "c", "2025-01-01", 2, fmt="parquet")
    with pytest.raises(InputError, match="both load_kw.csv and load_kw.parquet"):
        read_period(both)


def test_a_period_outside_the_data_is_named_before_any_solve(boundary):
    sc = scenario_for(boundary, start="2024-12-31", days=5)
    with pytest.raises(InputError, match=r"2024-12-31..2025-01-04 \(5 days\) is not inside the data's dates"):
        run_period(sc, "greedy", executor="serial")
    day = load_scenario(REPO / "models" / "paper_30min.toml")
    with pytest.raises(InputError, match="give the period's first date") as err:
        run_period(day, "greedy", executor="serial")
    assert err.value.field == "period.start"
    with pytest.raises(LecOptError, match="not a date"):
        with_period(day, "2025-13-01")


# --- the SoC across midnight -----------------------------------------------------------------------


def test_three_days_equal_three_one_day_runs_chained_by_their_end_soc(boundary, tmp_path):
    sc = scenario_for(boundary, start="2024-12-30", days=3)
    whole = solve_period(sc, tmp_path / "whole", "greedy", executor="serial", figures=False)
    days = pd.read_csv(tmp_path / "whole" / "days.csv")
    intervals = pd.read_parquet(tmp_path / "whole" / "intervals.parquet")
    soc = sc.ces.soc_initial
    for n, date in enumerate(("2024-12-30", "2024-12-31", "2025-01-01")):
        one = sc.model_copy(update={"ces": sc.ces.model_copy(update={"soc_initial": soc})})
        one = with_period(one, date, 1)
        alone_summary = solve_period(one, tmp_path / date, "greedy", executor="serial", figures=False)
        alone = pd.read_csv(tmp_path / date / "days.csv")
        pd.testing.assert_frame_equal(alone, days.iloc[[n]].reset_index(drop=True))
        alone_intervals = pd.read_parquet(tmp_path / date / "intervals.parquet")
        pd.testing.assert_frame_equal(alone_intervals, intervals[intervals.date == date].reset_index(drop=True))
        soc = alone_summary["ces_soc_end"]  # exact (days.csv holds 9 digits)
    assert whole["ces_soc_end"] == soc
    assert days.ces_soc_start.iloc[1:].tolist() == days.ces_soc_end.iloc[:-1].tolist()  # carried over midnight
    assert len(set(days.ces_soc_end)) == 3  # the SoC moves: the chaining is tested, not a constant


def test_a_one_day_period_is_the_day_layers_day(tmp_path):
    """The shipped day as a period of one: the same totals and intervals as ``run_day``."""
    sc = with_period(load_scenario(REPO / "models" / "paper_30min.toml"), "2025-06-21", 1)
    summary = run_period(sc, "greedy", executor="serial")
    day = run_day(sc, "greedy")
    from lec_opt.day.outputs import totals

    expected = totals(day.steps, sc.ces.soc_initial)
    for key in ("p2p_energy_kwh", "grid_import_kwh", "ces_discharge_kwh", "community_saving_usd", "ces_soc_end"):
        assert summary[key] == expected[key], key
    assert summary["priority_counts"] == {p: sum(s.chosen == p for s in day.steps) for p in "ABC"}


def test_a_month_and_a_year_boundary_hold_every_interval_once(boundary, tmp_path):
    sc = scenario_for(boundary, start="2024-12-30", days=4)
    summary = solve_period(sc, tmp_path / "p", "greedy", executor="serial", figures=False)
    intervals = pd.read_parquet(tmp_path / "p" / "intervals.parquet")
    expected = [(d, t) for d in ("2024-12-30", "2024-12-31", "2025-01-01", "2025-01-02") for t in range(24)]
    assert list(zip(intervals.date, intervals.interval)) == expected
    assert intervals.time.tolist()[:2] == ["00:00", "01:00"]
    trades = pd.read_parquet(tmp_path / "p" / "trades.parquet")
    assert set(trades.date) <= {d for d, _ in expected}
    assert np.isclose(trades.kwh.sum(), summary["p2p_energy_kwh"], rtol=1e-12)
    assert summary["start"] == "2024-12-30" and summary["end"] == "2025-01-02" and summary["intervals"] == 96
    months = summary["months"]
    assert list(months) == ["2024-12", "2025-01"] and [m["days"] for m in months.values()] == [2, 2]
    for key in ("p2p_energy_kwh", "community_saving_usd", "ces_full_cycles", "transactions"):
        assert np.isclose(sum(m[key] for m in months.values()), summary[key], rtol=1e-12), key
    assert months["2025-01"]["ces_soc_end"] == summary["ces_soc_end"]
    figures = (
        sorted(p.name for p in (tmp_path / "p" / "figures").glob("*.png"))
        if (tmp_path / "p" / "figures").exists()
        else []
    )
    assert figures == []  # --no-figures


# --- executors, checkpoints, resume ----------------------------------------------------------------


def test_serial_local_and_dask_write_identical_files(boundary, tmp_path):
    sc = scenario_for(boundary, start="2024-12-30", days=4)
    for executor in ("serial", "local", "dask"):
        solve_period(sc, tmp_path / executor, "greedy", executor=executor, workers=2)
    serial = files(tmp_path / "serial")
    assert {"days.csv", "intervals.parquet", "trades.parquet", "summary.json", "figures/period_soc.png"} <= set(serial)
    assert not any(name.startswith(CHECKPOINTS) for name in serial)
    assert files(tmp_path / "local") == serial
    assert files(tmp_path / "dask") == serial


def test_resume_after_a_killed_run_redoes_no_finished_day_and_ends_with_the_same_files(tmp_path, monkeypatch):
    data = make_period_folder(tmp_path / "data", "2025-03-01", 30, fmt="parquet")[0]
    sc_file = tmp_path / "period.toml"
    sc_file.write_text(
        f'base = "{REPO / "models" / "paper_30min.toml"}"\nname = "killed"\ninterval_minutes = 60\n'
        f'[data]\ndir = "{data}"\n[community]\nn_peers = 12\n[period]\nstart = 2025-03-01\ndays = 30\n'
    )
    out = tmp_path / "out"
    args = ["-m", "lec_opt", "solve-period", "-s", sc_file, "--method", "greedy", "--executor", "serial", "--out", out]
    proc = subprocess.Popen([sys.executable, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoints = partial_dir(out) / CHECKPOINTS
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(list(checkpoints.glob("*.pkl"))) < 3:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it was killed"
    finished = {p.name: p.stat().st_mtime_ns for p in checkpoints.glob("*.pkl")}
    assert 3 <= len(finished) < 30 and not out.exists()

    calls = []
    real = period_matching.match_task
    monkeypatch.setattr(period_matching, "match_task", lambda payload: calls.append(payload["hash"]) or real(payload))
    sc = load_scenario(sc_file)
    kept = {}

    def progress(phase, done, total, days_done, n_days):
        if phase == "matching" and not kept:
            kept.update({p.name: p.stat().st_mtime_ns for p in checkpoints.glob("*.pkl") if p.name in finished})

    solve_period(sc, out, "greedy", resume=True, executor="serial", progress=progress)
    assert kept == finished  # the finished days' checkpoints were read, not rewritten
    assert len(calls) == 30 - len(finished)  # only the unfinished days were matched
    assert not partial_dir(out).exists()

    solve_period(sc, tmp_path / "uninterrupted", "greedy", executor="serial")
    assert files(out) == files(tmp_path / "uninterrupted")


def test_a_checkpoint_of_other_inputs_is_not_reused(boundary, tmp_path):
    sc = scenario_for(boundary, start="2024-12-30", days=2)
    store = period_matching.MatchingStore(tmp_path / "store")
    run_period(sc, "greedy", executor="serial", store=store)
    assert len(list(store.folder.glob("*.pkl"))) == 2
    bigger = sc.model_copy(update={"ces": sc.ces.model_copy(update={"capacity_kwh": 2000.0})})
    run_period(bigger, "greedy", executor="serial", store=store)
    assert len(list(store.folder.glob("*.pkl"))) == 2  # the CES is not part of the key: reused
    other = sc.model_copy(update={"willingness": sc.willingness.model_copy(update={"opt_out": [1, 2]})})
    run_period(other, "greedy", executor="serial", store=store)
    assert len(list(store.folder.glob("*.pkl"))) == 4  # who trades changes the matchings: matched anew


# --- sizing sweeps over a period -------------------------------------------------------------------


def test_a_sweep_over_ces_capacity_on_a_period_reuses_the_matchings(boundary, tmp_path, monkeypatch):
    from lec_opt.analysis.sweep import run_sweep

    calls = []
    real = period_matching.match_task
    monkeypatch.setattr(period_matching, "match_task", lambda payload: calls.append(payload["hash"]) or real(payload))
    sc = scenario_for(boundary, start="2024-12-30", days=4)
    frame = run_sweep(
        {"ces.capacity_kwh": [300.0, 900.0, 1500.0]}, sc, method="greedy", executor="serial", out=tmp_path / "sweep"
    )
    assert frame.status.tolist() == ["ok"] * 3
    assert len(calls) == 4  # four days matched once, for all three capacities
    assert (frame["days"] == 4).all()
    cycles = frame["ces_full_cycles"].to_numpy()
    assert cycles[0] > cycles[1] > cycles[2] > 0  # the same energy through a bigger store: fewer cycles
    one = run_period(
        with_period(sc.model_copy(update={"ces": sc.ces.model_copy(update={"capacity_kwh": 900.0})})),
        "greedy",
        executor="serial",
    )
    assert frame["community_saving_usd"].iloc[1] == one["community_saving_usd"]
    assert (tmp_path / "sweep" / "figures" / "sweep_sizing_ces.capacity_kwh.png").is_file()


def test_the_key_leaves_the_ces_out_for_the_greedy_only(boundary):
    sc = scenario_for(boundary, start="2024-12-30", days=1)
    bigger = sc.model_copy(update={"ces": sc.ces.model_copy(update={"capacity_kwh": 2000.0})})
    later = with_period(sc, "2024-12-31", 2)
    (day,), (big,), (moved,) = (period_days(s)[1][:1] for s in (sc, bigger, later))
    key = period_matching.matching_key
    assert key(day, "greedy") == key(big, "greedy") != key(day, "milp")
    assert key(day, "milp") != key(big, "milp")  # the MILP's model carries the CES: equal optima, other flows
    assert key(moved, "greedy") != key(day, "greedy")  # another date, other inputs


def test_milp_days_in_interleaved_parts_give_the_serial_files(boundary, tmp_path):
    """The MILP sends each day as four interleaved parts: put together, the same files as one by one."""
    sc = scenario_for(boundary, start="2025-01-01", days=1)
    sc = sc.model_copy(update={"community": sc.community.model_copy(update={"n_peers": 6})})
    small = make_period_folder(tmp_path / "six", "2025-01-01", 1, n_peers=6, n_ev=1, step=120)[0]
    sc = sc.with_data_dir(small)
    serial = solve_period(sc, tmp_path / "serial", "milp", executor="serial", figures=False)
    solve_period(sc, tmp_path / "local", "milp", executor="local", workers=2, figures=False)
    assert files(tmp_path / "local") == files(tmp_path / "serial")
    assert serial["intervals"] == 24 and serial["transactions"] > 0


def test_generated_days_solve_as_a_period_from_any_folder(tmp_path):
    """``data generate --start`` writes what ``solve-period`` reads: without --start/--days the period
    is the folder's dates, and a shipped scenario is found by its bare name from another folder."""

    def lec_opt(*args):
        return subprocess.run(
            [sys.executable, "-m", "lec_opt", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
        )

    made = lec_opt("data", "generate", "--start", "2023-12-31", "--days", "2", "--step-minutes", "60", "--out", "md")
    assert made.returncode == 0, made.stderr
    solved = lec_opt("solve-period", "-s", "paper_30min", "--data", "md", "--method", "greedy", "--out", "out")
    assert solved.returncode == 0, solved.stderr
    days = pd.read_csv(tmp_path / "out" / "days.csv")
    assert days["date"].tolist() == ["2023-12-31", "2024-01-01"]
    intervals = pd.read_parquet(tmp_path / "out" / "intervals.parquet")
    assert len(intervals) == 2 * 48
    late = lec_opt("solve-period", "-s", "paper_30min.toml", "--data", "md", "--start", "2024-01-02", "--out", "x")
    assert late.returncode == 2 and "after the data folder's last date" in late.stderr, late.stderr
    checked = lec_opt("data", "validate", "md", "-s", "paper_30min")
    assert checked.returncode == 0 and "2 days 2023-12-31..2024-01-01" in checked.stdout, checked.stdout
    info = lec_opt("data", "info", "--data", "md", "--date", "2024-01-01", "--json")
    assert info.returncode == 0, info.stderr
    outside = lec_opt("data", "info", "--data", "md", "--date", "2024-02-01")
    assert outside.returncode == 2 and "2023-12-31..2024-01-01" in outside.stderr, outside.stderr
