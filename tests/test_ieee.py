"""The IEEE European LV Test Feeder importer, on hand-made Load_profile_<n>.csv fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lec_opt import build_day, load_scenario
from lec_opt.errors import InputError
from lec_opt.io.ieee import find_profiles, import_ieee_lv, read_ieee_profile
from lec_opt.io.profiles import BIDS_FILE, EV_FILE, LOAD_FILE, MANIFEST_FILE, PV_FILE, read_profiles
from lec_opt.io.shipped import DEFAULT_DATA

PAPER_DAY = DEFAULT_DATA


def _label(minute_end: int) -> str:
    """IEEE labels each minute by its end: 00:01:00 ... 23:59:00, then 00:00:00."""
    m = minute_end % 1440
    return f"{m // 60:02d}:{m % 60:02d}:00"


def household(n: int) -> np.ndarray:
    """1440 one-minute kW values (3 decimals, exact in the output) with a morning and an evening bump."""
    minute = np.arange(1440)
    hours = minute / 60.0
    base = 0.15 + 0.02 * (n % 5)
    morning = 0.8 * np.exp(-((hours - (7.0 + 0.1 * n % 2)) ** 2) / 0.5)
    evening = 1.5 * np.exp(-((hours - (18.5 + 0.05 * (n % 7))) ** 2) / 1.0)
    values = np.round(base + morning + evening, 3)
    values[n % 1440] += 1.0  # one distinct spike per household, to check the labelling row by row
    return values


def write_profile(path: Path, values: np.ndarray, *, header: str = "time,mult") -> None:
    lines = [header] + [f"{_label(r + 1)},{v:.3f}" for r, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")


def write_feeder(folder: Path, n: int) -> dict[int, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    loads = {}
    for k in range(1, n + 1):
        loads[k] = household(k)
        write_profile(folder / f"Load_profile_{k}.csv", loads[k])
    return loads


@pytest.fixture
def feeder(tmp_path):
    """Six households in tmp_path/feeder."""
    folder = tmp_path / "feeder"
    return folder, write_feeder(folder, 6)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The six-household feeder imported once with the shipped PV/EV/bids (read-only for tests)."""
    root = tmp_path_factory.mktemp("ieee6")
    loads = write_feeder(root / "feeder", 6)
    out = import_ieee_lv(root / "feeder", root / "out", pv_ev_from=PAPER_DAY)
    return out, loads


@pytest.fixture(scope="module")
def donor():
    return read_profiles(PAPER_DAY)


# --- a good import ------------------------------------------------------------------------------


def test_import_writes_a_complete_data_folder(imported, tmp_path_factory):
    out, _ = imported
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        [LOAD_FILE, PV_FILE, EV_FILE, BIDS_FILE, MANIFEST_FILE]
    )
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["load_profiles"] == [f"Load_profile_{k}.csv" for k in range(1, 7)]
    assert "IEEE" in manifest["source"]
    assert Path(manifest["pv_ev_bids_from"]) == PAPER_DAY.resolve()


def test_imported_folder_passes_the_strict_reader(imported):
    out, _ = imported
    profiles = read_profiles(out, n_peers=6)
    assert profiles.n_peers == 6
    assert profiles.load_kw.step_minutes == 1
    assert profiles.load_kw.values.shape == (1440, 6)


def test_load_is_the_input_relabelled_to_the_start_of_each_minute(imported):
    out, loads = imported
    lines = (out / LOAD_FILE).read_text().splitlines()
    assert lines[0] == "time,peer_1,peer_2,peer_3,peer_4,peer_5,peer_6"
    assert lines[1].startswith("00:00,") and lines[-1].startswith("23:59,")
    load = read_profiles(out).load_kw.values
    for k, values in loads.items():
        np.testing.assert_array_equal(load[:, k - 1], values)
    # the IEEE row labelled 00:01:00 is minute 00:00; the last row, labelled 00:00:00, is minute 23:59
    assert load[0, 0] == loads[1][0]
    assert load[1439, 0] == loads[1][1439]
    spike = 3  # household 3 has its spike in the row labelled 00:04:00, i.e. minute 00:03
    assert load[spike, 2] == pytest.approx(loads[3][spike]) and load[spike, 2] - load[spike - 1, 2] > 0.9


def test_relabelling_of_the_first_and_last_rows(tmp_path):
    values = np.full(1440, 0.5)
    values[0], values[-1] = 1.25, 2.5  # rows labelled 00:01:00 and 00:00:00
    path = tmp_path / "Load_profile_1.csv"
    write_profile(path, values)
    lines = path.read_text().splitlines()
    assert lines[1] == "00:01:00,1.250" and lines[-1] == "00:00:00,2.500"
    out = read_ieee_profile(path)
    assert out[0] == 1.25 and out[1439] == 2.5


def test_daily_energy_is_conserved(imported):
    out, loads = imported
    load = read_profiles(out).load_kw.values
    for k, values in loads.items():
        assert load[:, k - 1].sum() / 60 == pytest.approx(values.sum() / 60, rel=1e-12)


def test_pv_ev_and_bids_come_from_the_donor(imported, donor):
    out, _ = imported
    profiles = read_profiles(out)
    np.testing.assert_array_equal(profiles.pv_kw_per_kwp.values, donor.pv_kw_per_kwp.values[:, :6])
    np.testing.assert_array_equal(profiles.ev_kw.values, donor.ev_kw.values)
    np.testing.assert_array_equal(profiles.ask, donor.ask[:6])
    np.testing.assert_array_equal(profiles.bid, donor.bid[:6])


def test_donor_peers_wrap_around(tmp_path, make_data):
    small = make_data("donor")  # 4 peers, 5-min PV/EV
    folder = tmp_path / "feeder"
    write_feeder(folder, 6)
    out = import_ieee_lv(folder, tmp_path / "out", pv_ev_from=small.dir)
    profiles = read_profiles(out)
    take = [0, 1, 2, 3, 0, 1]  # peer k takes donor column ((k-1) mod 4) + 1
    np.testing.assert_array_equal(profiles.ask, small.ask[take])
    np.testing.assert_array_equal(profiles.bid, small.bid[take])
    np.testing.assert_array_equal(profiles.pv_kw_per_kwp.values, small.pv[:, take])
    assert profiles.pv_kw_per_kwp.step_minutes == 5 and profiles.load_kw.step_minutes == 1


def test_profiles_are_ordered_by_number_not_by_name(tmp_path):
    folder = tmp_path / "feeder"
    folder.mkdir()
    for k in (10, 2, 1):
        write_profile(folder / f"Load_profile_{k}.csv", np.full(1440, float(k)))
    (folder / "notes.txt").write_text("ignored")
    (folder / "Load_profile_x.csv").write_text("ignored")
    assert [p.name for p in find_profiles(folder)] == [
        "Load_profile_1.csv",
        "Load_profile_2.csv",
        "Load_profile_10.csv",
    ]
    out = import_ieee_lv(folder, tmp_path / "out", pv_ev_from=PAPER_DAY)
    np.testing.assert_array_equal(read_profiles(out).load_kw.values[0], [1.0, 2.0, 10.0])


def test_first_n_peers(feeder, tmp_path):
    folder, loads = feeder
    out = import_ieee_lv(folder, tmp_path / "out", pv_ev_from=PAPER_DAY, n_peers=4)
    load = read_profiles(out).load_kw.values
    assert load.shape == (1440, 4)
    np.testing.assert_array_equal(load[:, 3], loads[4])


@pytest.mark.parametrize("n", [0, 7])
def test_more_peers_than_profiles(feeder, tmp_path, n):
    folder, _ = feeder
    with pytest.raises(InputError) as err:
        import_ieee_lv(folder, tmp_path / "out", pv_ev_from=PAPER_DAY, n_peers=n)
    assert err.value.file == str(folder)
    assert not (tmp_path / "out").exists()


def test_default_scenario_on_an_imported_six_peer_folder(imported):
    out, loads = imported
    day = build_day(load_scenario().with_data_dir(out))
    assert day.n_peers == 6 and day.n_intervals == 288
    assert list(day.prosumer) == [True, False] * 3
    total = sum(v.sum() for v in loads.values()) / 60
    assert day.load_kwh.sum() == pytest.approx(total, rel=1e-12)


def test_end_to_end_100_profiles_with_the_default_scenario(tmp_path):
    folder = tmp_path / "feeder"
    loads = write_feeder(folder, 100)
    out = import_ieee_lv(folder, tmp_path / "out", pv_ev_from=PAPER_DAY)
    day = build_day(load_scenario().with_data_dir(out))
    assert day.n_peers == 100 and day.n_intervals == 288
    assert int(day.prosumer.sum()) == 50
    total = sum(v.sum() for v in loads.values()) / 60
    assert day.load_kwh.sum() == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(day.load_kwh[:, 41], loads[42].reshape(288, 5).sum(axis=1) / 60, rtol=1e-12)
    # with 100 peers the folder also satisfies the default scenario's community.n_peers = 100 as-is
    scenario = load_scenario()
    scenario = scenario.model_copy(update={"data": scenario.data.model_copy(update={"dir": str(out)})})
    assert build_day(scenario).n_peers == 100


# --- bad input --------------------------------------------------------------------------------


def _import_error(folder: Path, tmp_path: Path) -> InputError:
    with pytest.raises(InputError) as err:
        import_ieee_lv(folder, tmp_path / "out", pv_ev_from=PAPER_DAY)
    assert not (tmp_path / "out").exists()  # nothing is written on bad input
    return err.value


@pytest.mark.parametrize("header", ["time,load", "Time,mult", "mult,time", "time"])
def test_wrong_header(feeder, tmp_path, header):
    folder, loads = feeder
    path = folder / "Load_profile_3.csv"
    if header == "time":  # the time column only
        path.write_text("time\n" + "\n".join(_label(r + 1) for r in range(1440)) + "\n")
    else:
        write_profile(path, loads[3], header=header)
    err = _import_error(folder, tmp_path)
    assert err.file == str(path)
    assert err.row == 1 and "row 1" in str(err)
    assert "time,mult" in str(err)


def test_1439_rows(feeder, tmp_path):
    folder, loads = feeder
    path = folder / "Load_profile_2.csv"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    err = _import_error(folder, tmp_path)
    assert err.file == str(path)
    assert err.field == "time"
    assert "1439 rows" in str(err) and "1440" in str(err)


def test_1441_rows(feeder, tmp_path):
    folder, _ = feeder
    path = folder / "Load_profile_2.csv"
    path.write_text(path.read_text() + "00:01:00,0.5\n")
    err = _import_error(folder, tmp_path)
    assert err.file == str(path) and err.field == "time"


@pytest.mark.parametrize(
    ("row", "label"),
    [(2, "00:00:00"), (100, "01:40:00"), (1441, "23:59:00"), (1441, "00:01:00"), (50, "00:49:30"), (7, "x")],
)
def test_bad_time_label(feeder, tmp_path, row, label):
    folder, _ = feeder
    path = folder / "Load_profile_5.csv"
    lines = path.read_text().splitlines()
    lines[row - 1] = f"{label},0.5"
    path.write_text("\n".join(lines) + "\n")
    err = _import_error(folder, tmp_path)
    assert err.file == str(path)
    assert err.row == row and err.field == "time"
    assert f"row {row}" in str(err)


def test_labels_at_the_start_of_each_minute_are_rejected(feeder, tmp_path):
    """A file already labelled 00:00:00 ... 23:59:00 is not the IEEE layout."""
    folder, loads = feeder
    path = folder / "Load_profile_1.csv"
    lines = ["time,mult"] + [f"{_label(r)},{v:.3f}" for r, v in enumerate(loads[1])]
    path.write_text("\n".join(lines) + "\n")
    err = _import_error(folder, tmp_path)
    assert err.file == str(path) and err.row == 2 and err.field == "time"
    assert "00:01:00" in str(err)


@pytest.mark.parametrize("value", ["-0.2", "nan", "", "abc", "inf"])
def test_bad_value(feeder, tmp_path, value):
    folder, _ = feeder
    path = folder / "Load_profile_6.csv"
    lines = path.read_text().splitlines()
    lines[500] = f"{lines[500].split(',')[0]},{value}"  # row 501
    path.write_text("\n".join(lines) + "\n")
    err = _import_error(folder, tmp_path)
    assert err.file == str(path)
    assert err.row == 501 and err.field == "mult"
    assert "row 501" in str(err) and "field 'mult'" in str(err)


def test_empty_folder(tmp_path):
    folder = tmp_path / "feeder"
    folder.mkdir()
    (folder / "readme.txt").write_text("no profiles here")
    err = _import_error(folder, tmp_path)
    assert err.file == str(folder)
    assert "Load_profile" in str(err)


def test_missing_folder(tmp_path):
    err = _import_error(tmp_path / "nowhere", tmp_path)
    assert err.file == str(tmp_path / "nowhere")
    assert "not found" in str(err)


def test_empty_profile_file(feeder, tmp_path):
    folder, _ = feeder
    path = folder / "Load_profile_4.csv"
    path.write_text("")
    err = _import_error(folder, tmp_path)
    assert err.file == str(path)


def test_bad_donor_folder(feeder, tmp_path, make_data, edit_csv):
    folder, _ = feeder
    donor = make_data("donor")
    edit_csv(donor.pv_file, lambda rows: rows[10].__setitem__(2, "-1"))
    with pytest.raises(InputError) as err:
        import_ieee_lv(folder, tmp_path / "out", pv_ev_from=donor.dir)
    assert err.value.file == str(donor.pv_file) and err.value.row == 11 and err.value.field == "peer_2"


def test_header_with_a_space_before_the_comma_is_read(feeder, tmp_path):
    """Spaces around header names are tolerated (they used to crash with a KeyError)."""
    folder, loads = feeder
    write_profile(folder / "Load_profile_1.csv", loads[1], header="time ,mult")
    out = import_ieee_lv(folder, tmp_path / "out", pv_ev_from=PAPER_DAY)
    assert read_profiles(out).load_kw.values[:, 0].sum() == pytest.approx(np.sum(loads[1]), abs=1e-2)
