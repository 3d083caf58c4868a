"""The key check of the service: replaying the default day through it gives solve-day's results.

The shipped day's readings are posted (``lec-opt replay``'s client: one bulk post per interval,
four under way at once) to a real server on 127.0.0.1, on SQLite and on PostgreSQL; the export
(``lec-opt export``'s client) must hold the same values as ``solve-day``'s folder: intervals.csv,
trades.csv and settlement.csv byte for byte, summary.json but its two timings. Both days, greedy
and MILP, are replayed whole (the MILP's matchings solved ahead by the service's workers).

The meters' way: the 100 peers each post their own readings with their own token, all at once, as
fast as they can, to ``lec-opt serve`` in its own process (which stores them in shared commits and
clears in order); up to 09:05 (the night and the morning's trading), compared with the same
intervals of solve-day's day: the greedy on PostgreSQL, the MILP on SQLite (the greedy on SQLite is
test_service_faults', killed and restarted on the way).
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from service_support import (  # noqa: F401 - postgres_url is a fixture
    OPERATOR,
    database_url,
    free_port,
    peer_tokens,
    post_as_meters,
    postgres_url,
    same_results,
    serve_process,
    thread_server,
    wait_up,
)

from lec_opt.day.outputs import write_day
from lec_opt.day.run import DayRun, run_day
from lec_opt.scenario import load_scenario
from lec_opt.service.aggregator import Aggregator
from lec_opt.service.app import create_app
from lec_opt.service.client import export, replay, wait_cleared
from lec_opt.service.community import Community

MORNING = 110  # 00:00 .. 09:05


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """solve-day's greedy folder and MILP run (computed once for the module)."""
    scenario = load_scenario()
    greedy, milp = run_day(scenario, method="greedy"), run_day(scenario, method="milp")
    folder = write_day(greedy, tmp_path_factory.mktemp("solve") / "greedy")
    return {"greedy": folder, "milp": milp, "greedy-run": greedy}


def _replayed(db: str, method: str, out):
    aggregator = Aggregator(Community(load_scenario(), method), db, OPERATOR)
    with thread_server(create_app(aggregator)) as url:
        replay(load_scenario(), url, OPERATOR)
        return export(url, OPERATOR, out)


@pytest.fixture(scope="module")
def greedy_export(tmp_path_factory):
    """The greedy day replayed on SQLite and exported (shared by the tests that read it)."""
    tmp = tmp_path_factory.mktemp("greedy-sqlite")
    return _replayed(f"sqlite:///{tmp / 'service.db'}", "greedy", tmp / "export")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_greedy_day_replayed_equals_solve_day(backend, solved, tmp_path, request):
    if backend == "sqlite":
        folder = request.getfixturevalue("greedy_export")
    else:
        folder = _replayed(database_url(backend, tmp_path, request), "greedy", tmp_path / "export")
    same_results(folder, solved["greedy"])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["intervals"] == 288 and sum(summary["priority_counts"].values()) == 288


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_milp_day_replayed_equals_solve_day(backend, solved, tmp_path, request):
    folder = _replayed(database_url(backend, tmp_path, request), "milp", tmp_path / "export")
    expected = write_day(solved["milp"], tmp_path / "expected")
    same_results(folder, expected)
    assert len({s.chosen for s in solved["milp"].steps}) > 1  # the day is not all one priority


def _first(run: DayRun, n: int) -> DayRun:
    """The first ``n`` intervals of a day's run (the tables of the same writers)."""
    return DayRun(run.day, run.method, "best", run.steps[:n], {p: s[:n] for p, s in run.single.items()}, 0.0, 0.0)


@pytest.mark.parametrize(("method", "backend"), [("greedy", "postgresql"), ("milp", "sqlite")])
def test_meters_posting_at_once_equal_solve_day(method, backend, solved, tmp_path, request):
    day, port = solved["greedy-run"].day, free_port()
    last, url = day.start(MORNING - 1), f"http://127.0.0.1:{port}"
    server = serve_process(database_url(backend, tmp_path, request), port, method)
    try:
        wait_up(url)
        post_as_meters(url, peer_tokens(url, day.n_peers), day, range(MORNING))
        with httpx.Client(base_url=url) as client:
            wait_cleared(client, OPERATOR, last)
        folder = export(url, OPERATOR, tmp_path / "export", last=last)
    finally:
        server.terminate()
        server.wait()
    run = solved["milp"] if method == "milp" else solved["greedy-run"]
    same_results(folder, write_day(_first(run, MORNING), tmp_path / "expected"))


def test_report_and_game_read_an_export(greedy_export):
    folder = greedy_export
    for args in (["report", str(folder), "--format", "png"], ["game", str(folder), "--interval", "144", "--json"]):
        done = subprocess.run([sys.executable, "-m", "lec_opt", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert (folder / "figures").is_dir()
