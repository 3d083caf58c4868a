"""Same input, same output: no result depends on wall-clock time or machine load.

The MILP day gives byte-identical intervals.csv, trades.csv and settlement.csv, and the same
summary.json apart from its timings, run twice and on one or two worker processes; a MILP sweep
gives the same sweep.csv through the serial, local-pool and Dask executors.
"""

from __future__ import annotations

import json
from pathlib import Path

from lec_opt import load_scenario
from lec_opt.analysis.sweep import SWEEP_FILE, TIMING, run_sweep
from lec_opt.day.outputs import write_day
from lec_opt.day.run import run_day
from lec_opt.io.shipped import MODELS_DIR

S30 = MODELS_DIR / "paper_30min.toml"


def _files(folder: Path) -> dict[str, object]:
    out: dict[str, object] = {
        name: (folder / name).read_bytes() for name in ("intervals.csv", "trades.csv", "settlement.csv")
    }
    summary = json.loads((folder / "summary.json").read_text())
    for key in ("solve_seconds", "matching_seconds"):
        summary.pop(key)
    out["summary.json"] = summary
    return out


def test_milp_day_gives_the_same_files_on_one_or_two_workers(tmp_path):
    scenario = load_scenario(S30)
    one = _files(write_day(run_day(scenario, "milp", workers=1), tmp_path / "one"))
    two = _files(write_day(run_day(scenario, "milp", workers=2), tmp_path / "two"))  # a second run, too
    assert one["summary.json"]["transactions"] > 0  # a day with trades, not a trivial one
    for name in one:
        assert one[name] == two[name], name


def _table(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    keep = [n for n, name in enumerate(header) if name not in TIMING]
    return [",".join(cells[n] for n in keep) for cells in (line.split(",") for line in lines)]


def test_milp_sweep_gives_the_same_table_through_every_executor(tmp_path, small_data):
    scenario = load_scenario(S30).with_data_dir(small_data.dir)
    grid = {"ces.k": [0.5, 1.0]}
    tables = []
    for executor in ("serial", "local", "dask"):
        run_sweep(grid, scenario, method="milp", executor=executor, workers=2, out=tmp_path / executor, figures=False)
        tables.append(_table(tmp_path / executor / SWEEP_FILE))
    assert tables[0] == tables[1] == tables[2]
    assert len(tables[0]) == 3
