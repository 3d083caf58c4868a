"""A planner's first hour: their own community in their own folder, on the command line.

- a multi-day data folder is swept over its own period (as ``solve-period`` reads it), and a
  one-day command on it says what to do;
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import error_of, make_period_folder, run_cli

SWEEP_TIMING = ["solve_seconds", "matching_seconds"]


def street(folder: Path, data: Path) -> Path:
    """A 12-peer street on the shipped 30-minute scenario, hourly, its data folder beside it."""
    path = folder / "street.toml"
    path.write_text(
        f'base = "paper_30min.toml"\nname = "street"\ninterval_minutes = 60\n'
        f'[data]\ndir = "{data.name}"\n[community]\nn_peers = 12\n'
    )
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_sweep_reads_a_multi_day_folder_s_own_period(tmp_path, fmt):
    make_period_folder(tmp_path / "june", "2025-06-01", 3, fmt=fmt)
    scenario = street(tmp_path, tmp_path / "june")
    sweep = ("sweep", "-s", scenario, "-p", "ces.capacity_kwh=100,500", "--method", "greedy")
    sweep += ("--executor", "serial", "--no-figures")
    code, out, err = run_cli(*sweep, "--out", tmp_path / "own")
    assert code == 0, err
    assert "period: the data folder's 3 days from 2025-06-01" in " ".join(out.split())
    code, _, err = run_cli(*sweep, "--start", "2025-06-01", "--days", "3", "--out", tmp_path / "given")
    assert code == 0, err
    own, given = (pd.read_csv(tmp_path / name / "sweep.csv").drop(columns=SWEEP_TIMING) for name in ("own", "given"))
    pd.testing.assert_frame_equal(own, given)
    assert len(own) == 2 and (own.days == 3).all()


def test_a_one_day_command_on_a_period_folder_says_what_to_do(tmp_path):
    make_period_folder(tmp_path / "june", "2025-06-01", 2)
    code, _, err = run_cli("solve-day", "-s", street(tmp_path, tmp_path / "june"), "--method", "greedy")
    message = error_of(err)
    assert code == 2 and "load_kw.csv" in message and "row 2" in message and "'time'" in message
    assert "is a date-time: this folder holds a period of days" in message and "solve-period" in message
    assert "--start and --days" in message
