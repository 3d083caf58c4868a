"""The data folder: format, strict reader (every bad input named by file, row, field), resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lec_opt import build_day, load_scenario
from lec_opt.errors import InputError
from lec_opt.io.period_profiles import read_period
from lec_opt.io.profiles import (
    BIDS_FILE,
    EV_FILE,
    LOAD_FILE,
    PV_FILE,
    format_minute,
    parse_time,
    read_bids,
    read_profiles,
    read_series,
    read_tariffs,
    resample_mean,
    write_bids,
)
from lec_opt.io.shipped import DEFAULT_DATA

PAPER_DAY = DEFAULT_DATA


def _raises(call, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as err:
        call(*args, **kwargs)
    return err.value


def _assert_located(err: InputError, file: Path, row: int | None = None, field: str | None = None) -> None:
    """The error names the file (attribute and message), and the row/field when given."""
    assert Path(err.file) == file
    text = str(err)
    assert text.startswith(str(file))
    if row is not None:
        assert err.row == row
        assert f"row {row}" in text
    if field is not None:
        assert err.field == field
        assert f"field '{field}'" in text


# --- the format and a valid folder --------------------------------------------------------------


def test_small_data_reads_back_exactly(small_data):
    profiles = read_profiles(small_data.dir)
    assert profiles.n_peers == 4
    assert profiles.folder == small_data.dir
    for series, expected, prefix in (
        (profiles.load_kw, small_data.load, "peer_"),
        (profiles.pv_kw_per_kwp, small_data.pv, "peer_"),
        (profiles.ev_kw, small_data.ev, "ev_"),
    ):
        assert series.step_minutes == 5
        assert series.columns == tuple(f"{prefix}{k}" for k in range(1, expected.shape[1] + 1))
        np.testing.assert_array_equal(series.values, expected)
    np.testing.assert_array_equal(profiles.ask, small_data.ask)
    np.testing.assert_array_equal(profiles.bid, small_data.bid)


def test_small_data_pv_is_zero_at_night(small_data):
    pv = read_profiles(small_data.dir).pv_kw_per_kwp.values
    assert pv[: 6 * 12].max() == 0.0 and pv[18 * 12 :].max() == 0.0
    assert pv[12 * 12].min() > 0.5


def test_written_series_has_hhmm_labels_and_a_row_per_step(small_data):
    lines = small_data.load_file.read_text().splitlines()
    assert lines[0] == "time,peer_1,peer_2,peer_3,peer_4"
    assert len(lines) == 289
    assert lines[1].startswith("00:00,") and lines[2].startswith("00:05,") and lines[-1].startswith("23:55,")


def test_the_scenario_n_peers_must_match_when_given(small_data):
    assert read_profiles(small_data.dir, n_peers=4).n_peers == 4
    err = _raises(read_profiles, small_data.dir, n_peers=5)
    _assert_located(err, small_data.load_file, row=1)
    assert "4 peers" in str(err) and "community.n_peers = 5" in str(err)


def test_shipped_data_folder_is_valid():
    profiles = read_profiles(PAPER_DAY, n_peers=100)
    assert profiles.n_peers == 100
    assert profiles.load_kw.step_minutes == 1 and profiles.load_kw.values.shape == (1440, 100)
    assert profiles.ev_kw.values.shape == (1440, 15)
    assert profiles.ask.shape == profiles.bid.shape == (100,)


@pytest.mark.parametrize(
    ("text", "minute"),
    [("00:00", 0), ("0:05", 5), ("12:30", 750), ("23:59", 1439), ("06:15:00", 375)],
)
def test_parse_time_accepts(text, minute):
    assert parse_time(text) == minute


@pytest.mark.parametrize("text", ["24:00", "12:60", "12:05:30", "noon", "12-00", "", "1200"])
def test_parse_time_rejects(text):
    assert parse_time(text) is None


def test_format_minute():
    assert [format_minute(m) for m in (0, 5, 750, 1439)] == ["00:00", "00:05", "12:30", "23:59"]


def test_write_bids_round_trip(tmp_path):
    write_bids(tmp_path / "b.csv", np.array([0.1, 0.11]), np.array([0.15, 0.16]))
    assert (tmp_path / "b.csv").read_text().splitlines() == ["peer,ask,bid", "1,0.1000,0.1500", "2,0.1100,0.1600"]
    ask, bid = read_bids(tmp_path / "b.csv", 2)
    np.testing.assert_array_equal(ask, [0.1, 0.11])
    np.testing.assert_array_equal(bid, [0.15, 0.16])


def test_bids_in_any_row_order(small_data, edit_csv):
    edit_csv(small_data.bids_file, lambda rows: [rows[0], *reversed(rows[1:])])
    ask, bid = read_bids(small_data.bids_file, 4)
    np.testing.assert_array_equal(ask, small_data.ask)
    np.testing.assert_array_equal(bid, small_data.bid)


# --- missing things -----------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    folder = tmp_path / "nowhere"
    err = _raises(read_profiles, folder)
    _assert_located(err, folder)
    assert "not found" in str(err)


@pytest.mark.parametrize("name", [LOAD_FILE, PV_FILE, EV_FILE, BIDS_FILE])
def test_missing_file(small_data, name):
    (small_data.dir / name).unlink()
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.dir / name)
    assert "not found" in str(err)


def test_missing_data_folder_through_the_scenario(tmp_path, write_scenario):
    path = write_scenario()  # [data] dir = "data", which does not exist here
    err = _raises(build_day, load_scenario(path))
    _assert_located(err, tmp_path / "data")


def test_empty_file(small_data):
    small_data.ev_file.write_text("")
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.ev_file)
    assert "not a readable CSV" in str(err)


def test_header_without_rows(small_data, edit_csv):
    edit_csv(small_data.load_file, lambda rows: rows[:1])
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.load_file)
    assert "no data rows" in str(err)


def test_a_single_row(small_data, edit_csv):
    edit_csv(small_data.load_file, lambda rows: rows[:2])
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.load_file, field="time")


# --- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["Time", "minute", "peer_1"])
@pytest.mark.parametrize("name", [LOAD_FILE, PV_FILE])
def test_first_column_not_time(small_data, edit_csv, name, first):
    path = small_data.dir / name
    edit_csv(path, lambda rows: rows[0].__setitem__(0, first))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, path, row=1, field=first)
    assert "'time'" in str(err)


@pytest.mark.parametrize(
    ("name", "column", "wrong"),
    [(LOAD_FILE, 3, "peer3"), (LOAD_FILE, 1, "Peer_1"), (PV_FILE, 4, "peer_5"), (EV_FILE, 2, "ev_3")],
)
def test_misnamed_column(small_data, edit_csv, name, column, wrong):
    path = small_data.dir / name
    edit_csv(path, lambda rows: rows[0].__setitem__(column, wrong))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, path, row=1, field=wrong)


def test_repeated_column_name_is_reported_as_written(small_data, edit_csv):
    edit_csv(small_data.load_file, lambda rows: rows[0].__setitem__(3, "peer_2"))  # peer_1,peer_2,peer_2,peer_4
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.load_file, row=1, field="peer_2")


def test_no_data_columns(small_data, edit_csv):
    edit_csv(small_data.ev_file, lambda rows: [r[:1] for r in rows])
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.ev_file, row=1)


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["NaN", "nan", "", "abc", "1.2kW", "inf", "-inf", "1e999"])
def test_bad_cell_in_load(small_data, edit_csv, bad):
    # spreadsheet row 6 = rows[5]; column 3 = peer_3
    edit_csv(small_data.load_file, lambda rows: rows[5].__setitem__(3, bad))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.load_file, row=6, field="peer_3")
    assert "not a finite number" in str(err)


def test_bad_cell_in_ev(small_data, edit_csv):
    edit_csv(small_data.ev_file, lambda rows: rows[288].__setitem__(2, "n/a"))  # last row, ev_2
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.ev_file, row=289, field="ev_2")


def test_row_with_a_missing_cell(small_data, edit_csv):
    edit_csv(small_data.load_file, lambda rows: rows.__setitem__(40, rows[40][:-1]))  # row 41 lacks peer_4
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.load_file, row=41, field="peer_4")


def test_row_with_an_extra_cell(small_data, edit_csv):
    edit_csv(small_data.load_file, lambda rows: rows[11].append("1.0"))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.load_file)
    assert "12" in str(err)  # the parser's message points at line 12


def test_negative_load(small_data, edit_csv):
    edit_csv(small_data.load_file, lambda rows: rows[100].__setitem__(2, "-0.5"))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.load_file, row=101, field="peer_2")
    assert "negative" in str(err) and "-0.5" in str(err)


def test_negative_pv(small_data, edit_csv):
    edit_csv(small_data.pv_file, lambda rows: rows[150].__setitem__(4, "-0.01"))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.pv_file, row=151, field="peer_4")
    assert "negative" in str(err)


def test_negative_ev(small_data, edit_csv):
    edit_csv(small_data.ev_file, lambda rows: rows[2].__setitem__(1, "-3.7"))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.ev_file, row=3, field="ev_1")


def test_first_bad_cell_is_reported(small_data, edit_csv):
    def change(rows):
        rows[200][1] = "x"
        rows[20][4] = "y"

    edit_csv(small_data.load_file, change)
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.load_file, row=21, field="peer_4")


# --- the time axis --------------------------------------------------------------------------


def _time_error(small_data, edit_csv, change, name=LOAD_FILE) -> InputError:
    edit_csv(small_data.dir / name, change)
    return _raises(read_profiles, small_data.dir)


def test_gap_in_time(small_data, edit_csv):
    err = _time_error(small_data, edit_csv, lambda rows: rows[:13] + rows[14:])  # drop 01:00 (row 14)
    _assert_located(err, small_data.load_file, row=14, field="time")
    assert "gap" in str(err) and "00:55" in str(err) and "01:05" in str(err)


def test_duplicate_time(small_data, edit_csv):
    err = _time_error(small_data, edit_csv, lambda rows: rows[10].__setitem__(0, rows[9][0]))
    _assert_located(err, small_data.load_file, row=11, field="time")
    assert "duplicate" in str(err)


def test_time_out_of_order_swapped_rows(small_data, edit_csv):
    def swap(rows):
        rows[10], rows[11] = rows[11], rows[10]

    err = _time_error(small_data, edit_csv, swap)
    _assert_located(err, small_data.load_file, row=11, field="time")


def test_time_going_backwards(small_data, edit_csv):
    err = _time_error(small_data, edit_csv, lambda rows: rows[10].__setitem__(0, rows[8][0]))
    _assert_located(err, small_data.load_file, row=11, field="time")
    assert "out of order" in str(err)


def test_missing_last_rows(small_data, edit_csv):
    err = _time_error(small_data, edit_csv, lambda rows: rows[:-3])
    _assert_located(err, small_data.load_file, field="time")
    assert "285 rows" in str(err) and "288" in str(err)


def test_missing_last_rows_in_pv(small_data, edit_csv):
    err = _time_error(small_data, edit_csv, lambda rows: rows[:-1], name=PV_FILE)
    _assert_located(err, small_data.pv_file, field="time")
    assert "287 rows" in str(err)


def test_not_starting_at_midnight(small_data, edit_csv):
    err = _time_error(small_data, edit_csv, lambda rows: [rows[0], *rows[2:]])
    _assert_located(err, small_data.load_file, row=2, field="time")
    assert "00:00" in str(err)


def test_step_that_does_not_divide_a_day(small_data, edit_csv):
    def seven(rows):
        for i, row in enumerate(rows[1:]):
            row[0] = format_minute((7 * i) % 1440)

    err = _time_error(small_data, edit_csv, seven)
    _assert_located(err, small_data.load_file, row=3, field="time")
    assert "7 min" in str(err)


@pytest.mark.parametrize("label", ["24:00", "12:5", "06:00:30", "noon", ""])
def test_bad_time_label(small_data, edit_csv, label):
    err = _time_error(small_data, edit_csv, lambda rows: rows[30].__setitem__(0, label))
    _assert_located(err, small_data.load_file, row=31, field="time")


def test_time_with_seconds_is_accepted(small_data, edit_csv):
    def seconds(rows):
        for row in rows[1:]:
            row[0] += ":00"

    edit_csv(small_data.load_file, seconds)
    assert read_profiles(small_data.dir).load_kw.step_minutes == 5


def test_files_may_have_different_steps(small_data, make_data, write_scenario):
    """EV at 30-min resolution beside 5-min load and PV is fine: each is resampled on its own."""
    coarse = make_data("coarse", step=30)
    small_data.ev_file.write_text(coarse.ev_file.read_text())
    day = build_day(load_scenario(write_scenario()))
    assert day.ev_kwh.sum() == pytest.approx(coarse.ev.sum() * 0.5)


# --- peers across files and the scenario ------------------------------------------------------


def test_data_peers_do_not_match_the_scenario(small_data, write_scenario):
    path = write_scenario({"community": {"n_peers": 6}})
    err = _raises(build_day, load_scenario(path))
    _assert_located(err, small_data.load_file, row=1)
    assert "community.n_peers = 6" in str(err)


@pytest.mark.parametrize("n_pv", [3, 5])
def test_pv_file_with_another_peer_count(small_data, make_data, n_pv):
    other = make_data("other", n_peers=n_pv)
    small_data.pv_file.write_text(other.pv_file.read_text())
    err = _raises(read_profiles, small_data.dir)
    # the table with fewer columns is blamed (it lacks the other's last peers); both files are named
    if n_pv < 4:
        _assert_located(err, small_data.pv_file, row=1, field="peer_4")
        assert "has 3 'peer_' columns but load_kw.csv has 4: peer_4 missing here" in str(err)
    else:
        _assert_located(err, small_data.load_file, row=1, field="peer_5")
        assert "has 4 'peer_' columns but pv_kw_per_kwp.csv has 5: peer_5 missing here" in str(err)


def test_a_peer_column_removed_from_the_load_is_blamed_on_the_load(small_data, edit_csv):
    """The planner's case: the last peer's column deleted from load_kw.csv (PV untouched)."""
    edit_csv(small_data.load_file, lambda rows: [r[:-1] for r in rows])
    for read in (read_profiles, read_period):
        err = _raises(read, small_data.dir)
        _assert_located(err, small_data.load_file, row=1, field="peer_4")
        assert "pv_kw_per_kwp.csv has 4: peer_4 missing here" in str(err)


def test_a_column_missing_in_the_middle_is_named_missing(small_data, edit_csv):
    edit_csv(small_data.load_file, lambda rows: [r[:2] + r[3:] for r in rows])  # time, peer_1, peer_3, peer_4
    for read in (read_profiles, read_period):
        err = _raises(read, small_data.dir)
        _assert_located(err, small_data.load_file, row=1, field="peer_3")
        assert "column 'peer_2' is missing ('peer_3' stands in its place)" in str(err)
    edit_csv(small_data.load_file, lambda rows: [[r[0], r[2], r[1], r[3]] for r in rows])  # peer_3 before peer_1
    err = _raises(read_profiles, small_data.dir)
    assert "column 'peer_3' comes before 'peer_1'" in str(err)


def test_ev_file_may_have_any_number_of_chargers(small_data, make_data):
    other = make_data("other", n_ev=5)
    small_data.ev_file.write_text(other.ev_file.read_text())
    assert read_profiles(small_data.dir).ev_kw.values.shape == (288, 5)


# --- bids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [["peer", "bid", "ask"], ["id", "ask", "bid"], ["peer", "ask"]])
def test_bids_wrong_header(small_data, edit_csv, header):
    edit_csv(small_data.bids_file, lambda rows: [header, *[r[: len(header)] for r in rows[1:]]])
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.bids_file, row=1)
    assert "peer,ask,bid" in str(err)


def test_bids_duplicate_peer(small_data, edit_csv):
    edit_csv(small_data.bids_file, lambda rows: rows[3].__setitem__(0, "1"))  # row 4 says peer 1 again
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.bids_file, row=4, field="peer")
    assert "peer 1" in str(err) and "twice" in str(err)


def test_bids_missing_peer(small_data, edit_csv):
    edit_csv(small_data.bids_file, lambda rows: rows[:2] + rows[3:])  # drop peer 2
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.bids_file, field="peer")
    assert "missing [2]" in str(err)


@pytest.mark.parametrize("peer", ["5", "0", "-1", "1.5", "two"])
def test_bids_peer_out_of_range(small_data, edit_csv, peer):
    edit_csv(small_data.bids_file, lambda rows: rows[4].__setitem__(0, peer))  # row 5, peer 4
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.bids_file, row=5, field="peer")


def test_bids_extra_peer(small_data, edit_csv):
    edit_csv(small_data.bids_file, lambda rows: rows.append(["5", "0.1", "0.15"]))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.bids_file, row=6, field="peer")
    assert "1..4" in str(err)


@pytest.mark.parametrize(("column", "field"), [(1, "ask"), (2, "bid")])
def test_bids_bad_price(small_data, edit_csv, column, field):
    edit_csv(small_data.bids_file, lambda rows: rows[2].__setitem__(column, "-0.1"))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.bids_file, row=3, field=field)


def test_bids_nan_price(small_data, edit_csv):
    edit_csv(small_data.bids_file, lambda rows: rows[1].__setitem__(2, "nan"))
    err = _raises(read_profiles, small_data.dir)
    _assert_located(err, small_data.bids_file, row=2, field="bid")


def test_bids_file_named_by_the_scenario_is_used(small_data, write_scenario):
    write_bids(small_data.dir / "my_bids.csv", np.array([0.11, 0.12, 0.13, 0.14]), np.array([0.19, 0.18, 0.17, 0.16]))
    scenario = load_scenario(write_scenario({"bids": {"file": "my_bids.csv"}}))
    assert scenario.bids.file == "my_bids.csv"
    day = build_day(scenario)
    np.testing.assert_array_equal(day.ask, [0.11, 0.12, 0.13, 0.14])
    np.testing.assert_array_equal(day.bid, [0.19, 0.18, 0.17, 0.16])


# --- tariff files -------------------------------------------------------------------------------


def _write_tariffs(path: Path, buy: np.ndarray, sell: np.ndarray) -> None:
    step = 1440 // len(buy)
    lines = ["time,buy,sell"] + [
        f"{format_minute(step * i)},{b:.4f},{s:.4f}" for i, (b, s) in enumerate(zip(buy, sell))
    ]
    path.write_text("\n".join(lines) + "\n")


def test_tariff_file_replaces_the_flat_prices(small_data, tmp_path, write_scenario):
    buy = np.where(np.arange(48) < 34, 0.20, 0.35)  # peak from 17:00
    sell = np.full(48, 0.09)
    _write_tariffs(tmp_path / "tariffs.csv", buy, sell)
    day = build_day(load_scenario(write_scenario({"tariffs": {"file": "tariffs.csv"}})))
    assert day.buy_price.shape == (288,)
    np.testing.assert_allclose(day.buy_price, np.repeat(buy, 6))
    np.testing.assert_allclose(day.sell_price, 0.09)


def test_tariff_file_with_sell_not_below_buy(small_data, tmp_path, write_scenario):
    buy = np.full(48, 0.20)
    sell = np.full(48, 0.09)
    sell[20] = 0.20  # row 22 (10:00): sell == buy
    sell[30] = 0.30
    _write_tariffs(tmp_path / "tariffs.csv", buy, sell)
    err = _raises(build_day, load_scenario(write_scenario({"tariffs": {"file": "tariffs.csv"}})))
    _assert_located(err, tmp_path / "tariffs.csv", row=22, field="sell")
    assert "not below buy" in str(err)


def test_tariff_file_missing(small_data, tmp_path, write_scenario):
    err = _raises(build_day, load_scenario(write_scenario({"tariffs": {"file": "nope.csv"}})))
    _assert_located(err, tmp_path / "nope.csv")


def test_tariff_file_wrong_header(tmp_path):
    path = tmp_path / "t.csv"
    _write_tariffs(path, np.full(24, 0.2), np.full(24, 0.1))
    path.write_text(path.read_text().replace("time,buy,sell", "time,sell,buy", 1))
    err = _raises(read_tariffs, path)
    _assert_located(err, path, row=1)


def test_tariff_file_negative_price(tmp_path):
    path = tmp_path / "t.csv"
    buy = np.full(24, 0.2)
    buy[3] = -0.2
    _write_tariffs(path, buy, np.full(24, 0.1))
    err = _raises(read_tariffs, path)
    _assert_located(err, path, row=5, field="buy")


def test_tariff_file_gap(tmp_path):
    path = tmp_path / "t.csv"
    _write_tariffs(path, np.full(24, 0.2), np.full(24, 0.1))
    lines = path.read_text().splitlines()
    del lines[5]
    path.write_text("\n".join(lines) + "\n")
    err = _raises(read_tariffs, path)
    _assert_located(err, path, row=6, field="time")


def test_tariff_step_that_does_not_nest(small_data, tmp_path, write_scenario):
    _write_tariffs(tmp_path / "tariffs.csv", np.full(72, 0.2), np.full(72, 0.1))  # 20-min steps
    err = _raises(
        build_day, load_scenario(write_scenario({"tariffs": {"file": "tariffs.csv"}, "interval_minutes": 15}))
    )
    _assert_located(err, tmp_path / "tariffs.csv")


# --- data step against the trading interval -------------------------------------------------


def test_data_step_that_does_not_nest_with_the_interval(make_data, write_scenario):
    data = make_data("data", step=20)
    assert data.rows == 72
    assert read_profiles(data.dir).load_kw.step_minutes == 20  # the folder itself is valid
    err = _raises(build_day, load_scenario(write_scenario({"interval_minutes": 15})))
    _assert_located(err, data.load_file)
    assert "20-min" in str(err) and "15-min" in str(err)


@pytest.mark.parametrize("interval", [20, 60, 5, 10])
def test_data_step_that_nests(make_data, write_scenario, interval):
    data = make_data("data", step=20 if interval != 5 else 30)
    day = build_day(load_scenario(write_scenario({"interval_minutes": interval})))
    assert day.n_intervals == 1440 // interval
    assert day.load_kwh.sum() == pytest.approx(data.load.sum() * data.step_minutes / 60)


# --- resampling ---------------------------------------------------------------------------


def _energy(values: np.ndarray, minutes: int) -> np.ndarray:
    return values.sum(axis=0) * minutes / 60.0


@pytest.mark.parametrize(("step", "interval"), [(1, 5), (1, 15), (1, 30), (5, 15), (5, 30), (15, 30), (5, 5)])
def test_resample_mean_conserves_energy_when_averaging(step, interval):
    rng = np.random.default_rng(step * 100 + interval)
    values = rng.gamma(2.0, 0.5, size=(1440 // step, 7))
    out = resample_mean(values, step, interval)
    assert out.shape == (1440 // interval, 7)
    np.testing.assert_allclose(_energy(out, interval), _energy(values, step), rtol=1e-12)
    # and per hour, not only per day
    np.testing.assert_allclose(
        out.reshape(24, -1, 7).sum(axis=1) * interval, values.reshape(24, -1, 7).sum(axis=1) * step, rtol=1e-12
    )


@pytest.mark.parametrize(("step", "interval"), [(30, 5), (30, 15), (60, 5), (15, 5)])
def test_resample_mean_conserves_energy_when_upsampling(step, interval):
    rng = np.random.default_rng(step + interval)
    values = rng.gamma(2.0, 0.5, size=(1440 // step, 3))
    out = resample_mean(values, step, interval)
    assert out.shape == (1440 // interval, 3)
    np.testing.assert_allclose(_energy(out, interval), _energy(values, step), rtol=1e-12)
    # each coarse step's mean power is held over its intervals
    np.testing.assert_array_equal(out[: step // interval], np.repeat(values[:1], step // interval, axis=0))


def test_resample_mean_by_hand():
    values = np.array([1.0, 3.0, 2.0, 2.0, 0.0, 6.0] * 240).reshape(-1, 1)  # 1440 one-minute rows
    out = resample_mean(values, 1, 2)
    np.testing.assert_array_equal(out[:3, 0], [2.0, 2.0, 3.0])
    np.testing.assert_array_equal(resample_mean(values, 1, 3)[:2, 0], [2.0, 8 / 3])


def test_resample_mean_1d_series():
    values = np.arange(48, dtype=float)
    out = resample_mean(values, 30, 15)
    assert out.shape == (96,)
    assert out.sum() * 15 == pytest.approx(values.sum() * 30)


@pytest.mark.parametrize(("step", "interval"), [(20, 15), (10, 15), (15, 10), (5, 8)])
def test_resample_mean_rejects_steps_that_do_not_nest(step, interval):
    err = _raises(resample_mean, np.ones((1440 // step, 2)), step, interval, "some/file.csv")
    assert err.file == "some/file.csv"
    assert f"{step}-min" in str(err) and f"{interval}-min" in str(err)


@pytest.mark.parametrize("interval", [5, 15, 30])
def test_series_to_interval_mean_conserves_energy(small_data, interval):
    series = read_series(small_data.load_file, "peer_", 4)
    out = series.to_interval_mean(interval)
    np.testing.assert_allclose(_energy(out, interval), _energy(small_data.load, 5), rtol=1e-12)


def test_upsampled_30min_data_at_5min_intervals_through_build_day(make_data, write_scenario):
    data = make_data("data", step=30)
    day = build_day(load_scenario(write_scenario({"interval_minutes": 5})))
    assert day.n_intervals == 288
    np.testing.assert_allclose(day.load_kwh.sum(axis=0), data.load.sum(axis=0) * 0.5, rtol=1e-12)
    np.testing.assert_allclose(day.ev_kwh.sum(), data.ev.sum() * 0.5, rtol=1e-12)
    pv_kwh = data.pv.sum(axis=0) * 0.5 * np.array([5.0, 0.0, 5.0, 0.0])  # odd peers, 5 kWp
    np.testing.assert_allclose(day.pv_kwh.sum(axis=0), pv_kwh, rtol=1e-12)
