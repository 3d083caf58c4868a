"""A planner's first hour: their own community in their own folder, on the command line.

- a multi-day data folder is swept over its own period (as ``solve-period`` reads it), and a
  one-day command on it says what to do;
- the paper's values stand beside lec-opt's only for the paper's community; the consumer bill
  ratio means one thing everywhere, and a period where the paper's priority is never chosen says why.
"""

from __future__ import annotations

import json
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


# --- one label, one number; the paper only beside the paper's community ---------------------------


def test_an_own_community_has_no_paper_column(small_data, write_scenario, tmp_path):
    code, out, err = run_cli("solve-day", "-s", write_scenario(), "--method", "greedy", "--out", tmp_path / "day")
    assert code == 0, err
    summary = json.loads((tmp_path / "day" / "summary.json").read_text())
    assert summary["paper"] is None
    header = next(line for line in out.splitlines() if "lec-opt" in line)
    assert "paper" not in header and "paper" not in out.split("wrote")[0].replace("the day", "")
    code, _, err = run_cli("report", tmp_path / "day")
    assert code == 0, err
    html = (tmp_path / "day" / "report.html").read_text()
    assert "lec-opt beside the paper" not in html and "<th>paper</th>" not in html


def test_the_consumer_bill_ratio_has_one_meaning_and_the_figure_shows_both(greedy_30min_day, tmp_path, monkeypatch):
    from lec_opt.day.outputs import write_day
    from lec_opt.report import drawing
    from lec_opt.report.peer_figures import fig_settlement
    from lec_opt.report.summary import day_summary_rows

    folder = write_day(greedy_30min_day, tmp_path / "day")
    summary = json.loads((folder / "summary.json").read_text())
    rows = {row[0]: row for row in day_summary_rows(summary)}
    assert rows["bills of all peers (consumer bill ratio), P2P / grid-only"][2] == "0.72"
    titles = []
    real_fit = drawing.fit_titles
    monkeypatch.setattr(
        drawing, "fit_titles", lambda fig: titles.extend(ax.get_title() for ax in fig.axes) or real_fit(fig)
    )
    fig_settlement(folder, tmp_path)
    settlement = pd.read_csv(folder / "settlement.csv")
    consumers = settlement[settlement.role == "consumer"]
    alone = consumers.bill_usd.sum() / consumers.bill_grid_only_usd.sum()
    consumer_title = " ".join(titles[1].split())
    assert f"Consumers' (no PV) bills: P2P / grid-only = {alone:.2f}" in consumer_title
    assert f"all peers' bills {summary['consumer_bill_ratio']:.2f} (paper 0.72" in consumer_title


def test_a_period_without_the_paper_s_priority_says_why(greedy_30min_day, tmp_path):
    from lec_opt.day.outputs import write_day
    from lec_opt.report.summary import day_summary_rows

    summary = json.loads((write_day(greedy_30min_day, tmp_path / "day") / "summary.json").read_text())
    counts = summary["priority_counts_by_period"]
    assert counts["midday peak"].get("B", 0) == 0, counts  # the greedy 30-minute day never picks B at noon
    noted = [row for row in day_summary_rows(summary) if "chosen 0 times here" in row[2]]
    assert [row[0].split()[0:2] for row in noted] == [["midday", "peak"]]
    assert "B in the peak hours" in noted[0][2] and "models/FORMULATION.md §7 says when B wins" in noted[0][2]
