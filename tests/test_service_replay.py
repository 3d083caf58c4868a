"""The key check of the service: replaying the default day through it gives solve-day's results.

The shipped day's readings are posted interval by interval (``lec-opt replay``'s client) to a real
server on 127.0.0.1, on SQLite and on PostgreSQL; the export (``lec-opt export``'s client) must
hold the same values as ``solve-day``'s folder: intervals.csv, trades.csv and settlement.csv byte
for byte, summary.json but its two timings. The greedy day is replayed whole; the MILP day up to
09:00 (its first 109 intervals: the night's trivial ones and the morning's MILPs), compared with
the same intervals of solve-day's MILP day, tables made by the same writers.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from service_support import OPERATOR, postgres_schema, postgres_url, same_results, thread_server  # noqa: F401

from lec_opt.day.outputs import write_day
from lec_opt.day.run import DayRun, run_day
from lec_opt.scenario import load_scenario
from lec_opt.service.aggregator import Aggregator
from lec_opt.service.app import create_app
from lec_opt.service.client import export, replay
from lec_opt.service.community import Community

MILP_INTERVALS = 109  # 00:00 .. 09:00


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """solve-day's greedy folder and MILP run (computed once for the module)."""
    scenario = load_scenario()
    folder = write_day(run_day(scenario, method="greedy"), tmp_path_factory.mktemp("solve") / "greedy")
    return {"greedy": folder, "milp": run_day(scenario, method="milp")}


def _db(backend: str, tmp_path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    schema = postgres_schema(request.getfixturevalue("postgres_url"))
    request.addfinalizer(lambda: schema.__exit__(None, None, None))
    return schema.__enter__()


def _replayed(db: str, method: str, out, intervals=None, last=None):
    aggregator = Aggregator(Community(load_scenario(), method), db, OPERATOR)
    with thread_server(create_app(aggregator)) as url:
        replay(load_scenario(), url, OPERATOR, intervals)
        return export(url, OPERATOR, out, last=last)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_greedy_day_replayed_equals_solve_day(backend, solved, tmp_path, request):
    folder = _replayed(_db(backend, tmp_path, request), "greedy", tmp_path / "export")
    same_results(folder, solved["greedy"])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["intervals"] == 288 and sum(summary["priority_counts"].values()) == 288


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_milp_morning_replayed_equals_solve_day(backend, solved, tmp_path, request):
    n = MILP_INTERVALS
    last = f"{(n - 1) * 5 // 60:02d}:{(n - 1) * 5 % 60:02d}"
    folder = _replayed(_db(backend, tmp_path, request), "milp", tmp_path / "export", range(n), last)
    run = solved["milp"]
    cut = DayRun(run.day, "milp", "best", run.steps[:n], {p: s[:n] for p, s in run.single.items()}, 0.0, 0.0)
    expected = write_day(cut, tmp_path / "expected")
    same_results(folder, expected)
    chosen = [s.chosen for s in run.steps[:n]]
    assert len(set(chosen)) > 1 or any(s.result.p2p_kwh > 0 for s in run.steps[:n])  # not an empty morning


def test_report_and_game_read_an_export(solved, tmp_path):
    folder = _replayed(f"sqlite:///{tmp_path / 'service.db'}", "greedy", tmp_path / "export")
    for args in (["report", str(folder), "--format", "png"], ["game", str(folder), "--interval", "144", "--json"]):
        done = subprocess.run([sys.executable, "-m", "lec_opt", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert (folder / "figures").is_dir()
