"""The command line, run as a real process: exit codes, JSON output, errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import error_of

from lec_opt.io.profiles import read_profiles
from lec_opt.io.shipped import DEFAULT_DATA, MODELS_DIR

PAPER_DAY = DEFAULT_DATA
REPO = Path(__file__).resolve().parents[1]


def lec_opt(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lec_opt", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit status 2, one 'error:' message naming everything in ``needles``, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    error_of(result.stderr)
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def write_ieee_feeder(folder: Path, n: int) -> np.ndarray:
    folder.mkdir(parents=True)
    minute = np.arange(1440)
    loads = []
    for k in range(1, n + 1):
        values = np.round(0.2 + 0.01 * k + 0.9 * np.exp(-(((minute / 60) - 19) ** 2) / 2), 3)
        labels = [f"{((r + 1) % 1440) // 60:02d}:{(r + 1) % 60:02d}:00" for r in range(1440)]
        lines = ["time,mult"] + [f"{t},{v:.3f}" for t, v in zip(labels, values)]
        (folder / f"Load_profile_{k}.csv").write_text("\n".join(lines) + "\n")
        loads.append(values)
    return np.column_stack(loads)


@pytest.fixture(scope="module")
def default_info() -> dict:
    result = lec_opt("data", "info", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_data_info_json_on_the_default_scenario(default_info):
    info = default_info
    for key in (
        "table1",
        "daily_load_kwh",
        "peak_load_kw",
        "ev_kwh",
        "pv_surplus_first_interval",
        "pv_surplus_last_interval",
    ):
        assert key in info, key
    assert info["scenario"] == "paper_5min"
    assert info["intervals"] == 288 and info["n_peers"] == 100 and info["prosumers"] == 50
    assert [row["time"] for row in info["table1"]] == ["00:00", "06:00", "12:00", "18:00"]
    for row in info["table1"]:
        assert isinstance(row["consumer_deficit_kw"], float) and row["consumer_deficit_kw"] >= 0
        assert isinstance(row["prosumer_surplus_kw"], float) and row["prosumer_surplus_kw"] >= 0
    assert info["table1"][0]["prosumer_surplus_kw"] == 0.0  # no PV at midnight
    assert info["daily_load_kwh"] > 0 and info["peak_load_kw"] > 0 and info["ev_kwh"] > 0
    assert 0 < info["pv_surplus_first_interval"] < info["pv_surplus_last_interval"] < 288


def test_data_info_json_agrees_with_the_shipped_files(default_info):
    profiles = read_profiles(PAPER_DAY)
    assert default_info["daily_load_kwh"] == pytest.approx(profiles.load_kw.values.sum() / 60, abs=1e-3)
    assert default_info["ev_kwh"] == pytest.approx(profiles.ev_kw.values.sum() / 60, abs=1e-3)


def test_data_info_table_output(tmp_path):
    result = lec_opt("data", "info", "--scenario", MODELS_DIR / "paper_30min.toml")
    assert result.returncode == 0, result.stderr
    assert "paper_30min" in result.stdout and "30-min intervals" in result.stdout
    assert "daily load" in result.stdout


def test_data_validate_the_shipped_folder():
    result = lec_opt("data", "validate", "data/paper_day")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "100 peers" in result.stdout and "288 intervals" in result.stdout


def test_data_validate_a_small_folder(small_data):
    result = lec_opt("data", "validate", small_data.dir)
    assert result.returncode == 0, result.stderr
    assert "4 peers" in result.stdout


def test_bad_scenario_k(small_data, write_scenario):
    path = write_scenario({"ces": {"k": 1.5}})
    result = lec_opt("data", "info", "--scenario", path)
    assert_user_error(result, str(path), "ces.k", "1.5")
    assert result.stdout == ""


def test_scenario_typo_suggests_the_key(write_scenario):
    path = write_scenario({"ces": {"kk": 0.5}})
    result = lec_opt("data", "validate", PAPER_DAY, "--scenario", path)
    assert_user_error(result, str(path), "ces.kk", "did you mean 'k'")


def test_missing_scenario_file(tmp_path):
    result = lec_opt("data", "info", "-s", tmp_path / "nope.toml")
    assert_user_error(result, "nope.toml", "not found")


def test_data_validate_reports_a_nan_by_file_and_row(small_data, edit_csv):
    edit_csv(small_data.load_file, lambda rows: rows[9].__setitem__(2, "NaN"))
    result = lec_opt("data", "validate", small_data.dir)
    assert_user_error(result, str(small_data.load_file), "row 10", "peer_2")


def test_data_validate_missing_folder(tmp_path):
    result = lec_opt("data", "validate", tmp_path / "gone")
    assert_user_error(result, str(tmp_path / "gone"), "not found")


def test_data_validate_names_a_bad_time_axis(small_data, edit_csv):
    edit_csv(small_data.pv_file, lambda rows: rows[:50] + rows[51:])
    result = lec_opt("data", "validate", small_data.dir)
    assert_user_error(result, str(small_data.pv_file), "row 51", "time", "gap")


def test_data_validate_against_a_scenario_whose_interval_does_not_nest(make_data, write_scenario):
    data = make_data("data", step=20)
    path = write_scenario({"interval_minutes": 15})
    result = lec_opt("data", "validate", data.dir, "--scenario", path)
    assert_user_error(result, str(data.load_file), "20-min", "15-min")


def test_import_ieee_lv_then_info_with_the_default_scenario(tmp_path):
    loads = write_ieee_feeder(tmp_path / "feeder", 6)
    out = tmp_path / "community"
    result = lec_opt("data", "import-ieee-lv", tmp_path / "feeder", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    np.testing.assert_array_equal(read_profiles(out).load_kw.values, loads)

    # --data takes the peer count from the folder: six peers, the default's odd peers are prosumers
    info = lec_opt("data", "info", "--data", out, "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["n_peers"] == 6 and data["prosumers"] == 3
    assert data["data_dir"] == str(out.resolve())
    assert data["daily_load_kwh"] == pytest.approx(loads.sum() / 60, abs=1e-3)
    assert data["table1"][0]["prosumer_surplus_kw"] == 0.0

    validate = lec_opt("data", "validate", out)
    assert validate.returncode == 0 and "6 peers" in validate.stdout


def test_import_ieee_lv_with_peers_and_a_donor(tmp_path, make_data):
    write_ieee_feeder(tmp_path / "feeder", 5)
    donor = make_data("donor")
    out = tmp_path / "community"
    result = lec_opt(
        "data", "import-ieee-lv", tmp_path / "feeder", "--out", out, "--pv-ev-from", donor.dir, "--peers", "3"
    )
    assert result.returncode == 0, result.stderr
    profiles = read_profiles(out)
    assert profiles.n_peers == 3
    np.testing.assert_array_equal(profiles.ask, donor.ask[:3])


def test_info_on_a_small_folder_with_a_scenario_naming_peers_it_lacks(small_data, write_scenario):
    """--data drops community.n_peers; peers the scenario names must still exist in the folder."""
    path = write_scenario({"community": {"n_peers": "<drop>", "prosumers": [1, 3, 9]}})
    result = lec_opt("data", "info", "--scenario", path, "--data", small_data.dir, "--json")
    assert_user_error(result, str(path), "community.prosumers", "[9]")


def test_import_ieee_lv_bad_profile(tmp_path):
    write_ieee_feeder(tmp_path / "feeder", 3)
    bad = tmp_path / "feeder" / "Load_profile_2.csv"
    lines = bad.read_text().splitlines()
    lines[20] = lines[20].split(",")[0] + ",-1.0"
    bad.write_text("\n".join(lines) + "\n")
    result = lec_opt("data", "import-ieee-lv", tmp_path / "feeder", "--out", tmp_path / "out")
    assert_user_error(result, str(bad), "row 21", "mult")
    assert not (tmp_path / "out").exists()


def test_import_ieee_lv_empty_folder(tmp_path):
    (tmp_path / "feeder").mkdir()
    result = lec_opt("data", "import-ieee-lv", tmp_path / "feeder", "--out", tmp_path / "out")
    assert_user_error(result, str(tmp_path / "feeder"), "Load_profile")


def test_usage_error_is_not_a_traceback():
    result = lec_opt("data", "info", "--no-such-option")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_scenario_that_is_a_folder(tmp_path):
    result = lec_opt("data", "info", "--scenario", tmp_path)
    assert_user_error(result, str(tmp_path))
