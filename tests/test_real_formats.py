"""Files as real tools write them: the IEEE feeder's 24:00:00, BOMs, CRLF, trailing empty lines,
end-of-step time labels, and scenarios that state only what they change.

Each variant is read to exactly the values of the plain file; what stays ambiguous is an error
naming the file, row and field.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lec_opt import build_day, load_scenario
from lec_opt.errors import InputError
from lec_opt.io.ieee import import_ieee_lv, read_ieee_profile_labelled
from lec_opt.io.profiles import MANIFEST_FILE, format_minute, read_profiles, read_tariffs
from lec_opt.io.shipped import DEFAULT_DATA, DEFAULT_SCENARIO

# --- the IEEE European LV Test Feeder as distributed ----------------------------------------------


def _ieee_lines(values: np.ndarray, midnight: str) -> list[str]:
    """``time,mult`` with minute-end labels 00:01:00 ... 23:59:00 and ``midnight`` for the last."""
    labels = [f"{format_minute(m)}:00" for m in range(1, 1440)] + [midnight]
    return ["time,mult"] + [f"{t},{v:.3f}" for t, v in zip(labels, values)]


def _profile(n: int) -> np.ndarray:
    minute = np.arange(1440)
    values = np.round(0.2 + 0.01 * n + 0.5 * np.exp(-(((minute / 60.0) - 19.0) ** 2) / 2.0), 3)
    values[n * 7] += 1.0  # a spike that shows the row-to-minute mapping
    return values


@pytest.mark.parametrize("midnight", ["24:00:00", "00:00:00"])
def test_ieee_profile_both_midnight_labels(tmp_path, midnight):
    values = _profile(1)
    path = tmp_path / "Load_profile_1.csv"
    path.write_text("\n".join(_ieee_lines(values, midnight)) + "\n")
    read, used = read_ieee_profile_labelled(path)
    np.testing.assert_array_equal(read, values)
    assert used == midnight


def test_ieee_import_of_distributed_files_records_the_labels(tmp_path):
    """Files 1 and 2 as distributed (24:00:00, CRLF, BOM like a spreadsheet export), 3 rewritten (00:00:00)."""
    feeder = tmp_path / "feeder"
    feeder.mkdir()
    for n, midnight in ((1, "24:00:00"), (2, "24:00:00"), (3, "00:00:00")):
        text = "\r\n".join(_ieee_lines(_profile(n), midnight)) + "\r\n"
        (feeder / f"Load_profile_{n}.csv").write_bytes((("\ufeff" if n == 2 else "") + text).encode("utf-8"))
    out = import_ieee_lv(feeder, tmp_path / "out", pv_ev_from=DEFAULT_DATA)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["midnight_label"] == {
        "24:00:00": ["Load_profile_1.csv", "Load_profile_2.csv"],
        "00:00:00": ["Load_profile_3.csv"],
    }
    load = read_profiles(out).load_kw.values
    for n in (1, 2, 3):
        np.testing.assert_allclose(load[:, n - 1], _profile(n), atol=5e-5)


@pytest.mark.parametrize(("row", "label"), [(1441, "23:59:00"), (1441, "24:01:00"), (1440, "24:00:00")])
def test_ieee_midnight_label_elsewhere_is_rejected(tmp_path, row, label):
    lines = _ieee_lines(_profile(2), "24:00:00")
    lines[row - 1] = f"{label},0.5"
    path = tmp_path / "Load_profile_2.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        read_ieee_profile_labelled(path)
    assert err.value.file == str(path) and err.value.row == row and err.value.field == "time"


# --- data folders and tariff files -----------------------------------------------------------------


def _rewrite(path: Path, *, bom: bool = False, newline: str = "\n", tail: str = "") -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_bytes((("\ufeff" if bom else "") + newline.join(lines) + newline + tail).encode("utf-8"))


@pytest.mark.parametrize(
    "variant",
    [
        {"bom": True},
        {"newline": "\r\n"},
        {"newline": "\r"},
        {"tail": "\n\n"},
        {"tail": ",,,,\r\n,,,,\r\n"},
        {"bom": True, "newline": "\r\n", "tail": "\r\n"},
    ],
)
def test_spreadsheet_exports_read_like_the_plain_file(small_data, variant):
    for path in (small_data.load_file, small_data.pv_file, small_data.ev_file, small_data.bids_file):
        _rewrite(path, **variant)
    got = read_profiles(small_data.dir)
    np.testing.assert_array_equal(got.load_kw.values, small_data.load)
    np.testing.assert_array_equal(got.pv_kw_per_kwp.values, small_data.pv)
    np.testing.assert_array_equal(got.ev_kw.values, small_data.ev)
    np.testing.assert_array_equal(got.ask, small_data.ask)


def test_empty_line_inside_the_table_is_rejected(small_data):
    lines = small_data.load_file.read_text().splitlines()
    lines.insert(40, "")  # becomes row 41
    small_data.load_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        read_profiles(small_data.dir)
    assert err.value.file == str(small_data.load_file) and err.value.row == 41
    assert "empty line" in str(err.value)


def test_semicolon_separated_file_is_named(small_data):
    text = small_data.bids_file.read_text().replace(",", ";")
    small_data.bids_file.write_text(text)
    with pytest.raises(InputError) as err:
        read_profiles(small_data.dir)
    assert err.value.file == str(small_data.bids_file) and err.value.row == 1
    assert "';'" in str(err.value)


def _tariff_lines(buy: np.ndarray, sell: np.ndarray, labels: list[str]) -> list[str]:
    return ["time,buy,sell"] + [f"{t},{b:.4f},{s:.4f}" for t, b, s in zip(labels, buy, sell)]


BUY = np.where(np.arange(24) < 17, 0.20, 0.35)  # hourly, peak from 17:00
SELL = np.full(24, 0.09)
START = [format_minute(60 * h) for h in range(24)]  # 00:00 ... 23:00


def test_tariffs_labelled_at_the_end_of_each_hour(tmp_path):
    """01:00 ... 24:00: each row is the hour that ends at its label (24:00 can only be an end)."""
    end = [format_minute(60 * h) for h in range(1, 24)] + ["24:00"]
    path = tmp_path / "tariffs.csv"
    path.write_text("\n".join(_tariff_lines(BUY, SELL, end)) + "\n")
    got = read_tariffs(path)
    assert got.step_minutes == 60
    np.testing.assert_allclose(got.values[:, 0], BUY)


def test_tariffs_with_a_closing_24_00_row(tmp_path):
    """00:00 ... 23:00 and a closing 24:00 that repeats 23:00 (how step tables close a day)."""
    path = tmp_path / "tariffs.csv"
    lines = _tariff_lines(np.append(BUY, BUY[-1]), np.append(SELL, SELL[-1]), [*START, "24:00"])
    path.write_text("\n".join(lines) + "\n")
    got = read_tariffs(path)
    assert got.values.shape == (24, 2)
    np.testing.assert_allclose(got.values[:, 0], BUY)


def test_tariffs_with_a_closing_row_that_differs_is_ambiguous(tmp_path):
    path = tmp_path / "tariffs.csv"
    lines = _tariff_lines(np.append(BUY, 0.50), np.append(SELL, SELL[-1]), [*START, "24:00"])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        read_tariffs(path)
    assert err.value.file == str(path) and err.value.row == 26 and err.value.field == "time"


def test_end_labelled_tariffs_drive_the_same_day(small_data, tmp_path, write_scenario):
    start, end = tmp_path / "start.csv", tmp_path / "end.csv"
    start.write_text("\n".join(_tariff_lines(BUY, SELL, START)) + "\n")
    end_labels = [format_minute(60 * h) for h in range(1, 24)] + ["24:00"]
    end.write_text("\r\n".join(_tariff_lines(BUY, SELL, end_labels)) + "\r\n")
    a = build_day(load_scenario(write_scenario({"tariffs": {"file": "start.csv"}}, name="a.toml")))
    b = build_day(load_scenario(write_scenario({"tariffs": {"file": "end.csv"}}, name="b.toml")))
    np.testing.assert_array_equal(a.buy_price, b.buy_price)
    assert a.buy_price[17 * 12] == pytest.approx(0.35) and a.buy_price[17 * 12 - 1] == pytest.approx(0.20)


def test_end_labelled_load_file(small_data, edit_csv):
    """A data file labelled 00:05 ... 24:00 is the same day as the one labelled 00:00 ... 23:55."""

    def shift(rows):
        for r, row in enumerate(rows[1:], start=1):
            row[0] = "24:00" if r == len(rows) - 1 else format_minute(5 * r)

    edit_csv(small_data.load_file, shift)
    np.testing.assert_array_equal(read_profiles(small_data.dir).load_kw.values, small_data.load)


# --- scenarios that state only what they change ------------------------------------------------


def test_two_line_child_of_the_default(tmp_path):
    child = tmp_path / "quarter_hour.toml"
    child.write_text(f'base = "{DEFAULT_SCENARIO.resolve().as_posix()}"\ninterval_minutes = 15\n')
    scenario = load_scenario(child)
    assert scenario.name == "quarter_hour"  # the file's stem: the base's name is not inherited
    assert scenario.interval_minutes == 15
    assert scenario.ces == load_scenario().ces
    assert scenario.origin("name") == str(child)


def test_scenario_with_a_byte_order_mark(tmp_path):
    child = tmp_path / "bom.toml"
    text = f'base = "{DEFAULT_SCENARIO.resolve().as_posix()}"\r\nname = "bom"\r\n'
    child.write_bytes(("\ufeff" + text).encode("utf-8"))
    assert load_scenario(child).name == "bom"


def test_missing_required_key_names_the_whole_chain(tmp_path, write_scenario):
    """Neither file sets ces.k: the error is located at the file loaded and lists the chain."""
    write_scenario({"ces": {"k": "<drop>"}}, name="base.toml")
    child = write_scenario({"base": "base.toml", "interval_minutes": 15}, name="child.toml", full=False)
    with pytest.raises(InputError) as err:
        load_scenario(child)
    assert err.value.field == "ces.k"
    assert Path(err.value.file).name == "child.toml"
    assert "base.toml" in str(err.value) and "required but missing" in str(err.value)


def test_bad_value_in_the_child_names_the_child(tmp_path, write_scenario):
    write_scenario({}, name="base.toml")
    child = write_scenario({"base": "base.toml", "ces": {"k": 7.0}}, name="child.toml", full=False)
    with pytest.raises(InputError) as err:
        load_scenario(child)
    assert err.value.field == "ces.k" and Path(err.value.file).name == "child.toml"
