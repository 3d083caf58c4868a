"""Scenario files: the shipped scenarios, base inheritance, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from lec_opt import build_day
from lec_opt.errors import InputError, LecOptError
from lec_opt.io.shipped import DEFAULT_DATA, DEFAULT_SCENARIO, MODELS_DIR
from lec_opt.scenario import load_scenario, parse_scenario

MODELS = MODELS_DIR
DEFAULT_SCENARIO_FILE = MODELS / "paper_5min.toml"
PAPER_DAY = DEFAULT_DATA.resolve()
DROP = "<drop>"  # removes a key in write_scenario's overrides (see conftest)

SHIPPED = ["paper_5min", "paper_15min", "paper_30min", "paper_ces_15mwh"]


# --- the shipped scenarios ---------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_loads(name):
    scenario = load_scenario(MODELS / f"{name}.toml")
    assert scenario.name == name
    assert scenario.data_dir == PAPER_DAY
    assert scenario.community.n_peers == 100
    assert scenario.intervals_per_day * scenario.interval_minutes == 1440
    assert scenario.source.endswith(f"{name}.toml")


def test_default_scenario_is_paper_5min():
    assert DEFAULT_SCENARIO == DEFAULT_SCENARIO_FILE
    default = load_scenario()
    assert default.name == "paper_5min"
    assert default.interval_minutes == 5
    assert default.intervals_per_day == 288
    assert default.interval_hours == pytest.approx(5 / 60)
    assert default.community.prosumer_peers(100) == list(range(1, 101, 2))
    assert (default.tariffs.buy, default.tariffs.sell) == (0.20, 0.09)
    assert default.ces.grid_recharge_threshold == 0.30 and 0 <= default.ces.k <= 1 and default.ces.S > 0


def test_paper_15min_inherits_everything_but_the_interval():
    five = load_scenario(MODELS / "paper_5min.toml")
    fifteen = load_scenario(MODELS / "paper_15min.toml")
    assert fifteen.interval_minutes == 15 and five.interval_minutes == 5
    assert fifteen.base == "paper_5min.toml"
    skip = {"name", "description", "base", "interval_minutes"}
    for field in type(five).model_fields:
        if field not in skip:
            assert getattr(fifteen, field) == getattr(five, field), field
    assert fifteen.name == "paper_15min" and fifteen.description != five.description


def test_paper_ces_15mwh_overrides_only_the_ces_size():
    five = load_scenario(MODELS / "paper_5min.toml")
    big = load_scenario(MODELS / "paper_ces_15mwh.toml")
    assert big.ces.capacity_kwh == 15000.0
    assert big.ces.charge_power_kw == big.ces.discharge_power_kw == 15000.0
    unchanged = {"capacity_kwh", "charge_power_kw", "discharge_power_kw"}
    for field in type(five.ces).model_fields:
        if field not in unchanged:
            assert getattr(big.ces, field) == getattr(five.ces, field), field
    assert big.interval_minutes == 5 and big.tariffs == five.tariffs


# --- paths and inheritance -----------------------------------------------------------------


def test_data_dir_is_relative_to_the_scenario_file(small_data, write_scenario, monkeypatch, tmp_path):
    path = write_scenario()
    monkeypatch.chdir(tmp_path.parent)  # the working directory must not matter
    scenario = load_scenario(path)
    assert scenario.data_dir == small_data.dir.resolve()
    day = build_day(scenario)
    assert day.n_peers == 4 and day.n_intervals == 288


def test_absolute_data_dir_works(small_data, write_scenario):
    path = write_scenario({"data": {"dir": str(small_data.dir.resolve())}}, name="abs.toml")
    assert load_scenario(path).data_dir == small_data.dir.resolve()


def test_base_in_another_folder_keeps_its_own_relative_paths(write_scenario):
    child = write_scenario({"base": str(DEFAULT_SCENARIO_FILE), "name": "child", "interval_minutes": 30}, full=False)
    scenario = load_scenario(child)
    assert scenario.data_dir == PAPER_DAY  # resolved against models/, not against tmp_path
    assert scenario.interval_minutes == 30
    assert scenario.name == "child"
    assert scenario.description == ""  # a base's name and description are not inherited
    assert scenario.ces == load_scenario().ces


def test_child_override_deep_merges_one_key(write_scenario):
    child = write_scenario({"base": str(DEFAULT_SCENARIO_FILE), "name": "c", "ces": {"k": 0.25}}, full=False)
    scenario = load_scenario(child)
    default = load_scenario()
    assert scenario.ces.k == 0.25
    assert scenario.ces.capacity_kwh == default.ces.capacity_kwh
    assert scenario.ces.S == default.ces.S


def test_base_chain_of_three(tmp_path, write_scenario):
    write_scenario(
        {"base": str(DEFAULT_SCENARIO_FILE), "name": "mid", "interval_minutes": 15}, name="mid.toml", full=False
    )
    leaf = write_scenario({"base": "mid.toml", "name": "leaf", "tariffs": {"buy": 0.3}}, name="leaf.toml", full=False)
    scenario = load_scenario(leaf)
    assert scenario.interval_minutes == 15
    assert scenario.tariffs.buy == 0.3 and scenario.tariffs.sell == 0.09
    assert scenario.data_dir == PAPER_DAY


def test_with_data_dir_takes_the_peer_count_from_the_folder(small_data):
    scenario = load_scenario().with_data_dir(small_data.dir)
    assert scenario.community.n_peers is None
    assert scenario.data_dir == small_data.dir.resolve()
    day = build_day(scenario)
    assert day.n_peers == 4
    assert list(day.prosumer) == [True, False, True, False]


# --- bad input --------------------------------------------------------------------------------


def _error(path: Path) -> InputError:
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert isinstance(err.value, LecOptError)
    assert str(path.name) in str(err.value)
    return err.value


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    err = _error(path)
    assert err.file == str(path)
    assert "not found" in str(err)


def test_invalid_toml(write_scenario):
    path = write_scenario(text='name = "x"\n[ces\nk = 0.5\n', name="broken.toml")
    err = _error(path)
    assert err.file.endswith("broken.toml")
    assert "TOML" in str(err)
    assert "line 2" in str(err)  # tomllib's position is passed on


def test_unknown_key_in_a_section_suggests_the_close_key(small_data, write_scenario):
    path = write_scenario({"ces": {"kk": 0.5}})
    err = _error(path)
    assert err.file == str(path)
    assert err.field == "ces.kk"
    assert "unknown key" in str(err)
    assert "did you mean 'k'" in str(err)


def test_unknown_top_level_key_suggests_the_close_key(write_scenario):
    path = write_scenario({"intervall_minutes": 15})
    err = _error(path)
    assert err.field == "intervall_minutes"
    assert "did you mean 'interval_minutes'" in str(err)


def test_unknown_section_suggests_the_close_section(write_scenario):
    path = write_scenario({"cess": {"k": 0.5}})
    err = _error(path)
    assert err.field == "cess"
    assert "did you mean 'ces'" in str(err)


def test_unknown_key_without_a_close_match_lists_the_known_keys(write_scenario):
    path = write_scenario({"tariffs": {"zzzzzz": 1}})
    err = _error(path)
    assert err.field == "tariffs.zzzzzz"
    assert "known keys" in str(err) and "buy" in str(err) and "sell" in str(err)


def test_every_problem_is_reported(write_scenario):
    path = write_scenario({"intervall_minutes": 15, "ces": {"kk": 0.5}})
    err = _error(path)
    text = str(err)
    assert "ces.kk" in text and "intervall_minutes" in text
    assert "1 more problem" in text


@pytest.mark.parametrize("k", [1.5, -0.1])
def test_k_outside_0_1(write_scenario, k):
    err = _error(write_scenario({"ces": {"k": k}}))
    assert err.field == "ces.k"
    assert str(k) in str(err)


@pytest.mark.parametrize("k", [0.0, 1.0])
def test_k_at_the_bounds_is_accepted(small_data, write_scenario, k):
    assert load_scenario(write_scenario({"ces": {"k": k}})).ces.k == k


@pytest.mark.parametrize("S", [0.0, -0.01])
def test_S_not_positive(write_scenario, S):
    err = _error(write_scenario({"ces": {"S": S}}))
    assert err.field == "ces.S"
    assert "greater than 0" in str(err)


@pytest.mark.parametrize(
    ("key", "value"),
    [("soc_min", -0.1), ("soc_max", 1.2), ("soc_initial", 1.01), ("grid_recharge_threshold", 2.0)],
)
def test_soc_limits_outside_0_1(write_scenario, key, value):
    err = _error(write_scenario({"ces": {key: value}}))
    assert err.field == f"ces.{key}"
    assert str(value) in str(err)


@pytest.mark.parametrize(("soc_min", "soc_max"), [(0.6, 0.4), (0.5, 0.5)])
def test_soc_min_not_below_soc_max(write_scenario, soc_min, soc_max):
    err = _error(write_scenario({"ces": {"soc_min": soc_min, "soc_max": soc_max, "soc_initial": 0.5}}))
    assert err.field == "ces"
    assert "soc_min" in str(err) and "soc_max" in str(err)


@pytest.mark.parametrize("soc_initial", [0.1, 0.95])
def test_soc_initial_outside_the_window(write_scenario, soc_initial):
    err = _error(write_scenario({"ces": {"soc_initial": soc_initial}}))
    assert err.field == "ces"
    assert "soc_initial" in str(err) and str(soc_initial) in str(err)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("tariffs", "buy"),
        ("tariffs", "sell"),
        ("ces", "degradation"),
        ("ces", "charge_price"),
        ("ces", "discharge_price"),
        ("ces", "ev_price"),
        ("selection", "network_fee"),
    ],
)
def test_negative_prices(write_scenario, section, key):
    err = _error(write_scenario({section: {key: -0.05}}))
    assert err.field == f"{section}.{key}"
    assert "greater than or equal to 0" in str(err)


@pytest.mark.parametrize("sell", [0.20, 0.25])
def test_sell_price_not_below_buy_price(write_scenario, sell):
    err = _error(write_scenario({"tariffs": {"buy": 0.20, "sell": sell}}))
    assert err.field == "tariffs"
    assert "sell price" in str(err) and "buy price" in str(err)


@pytest.mark.parametrize("minutes", [7, 11, 50, 1441, 0])
def test_interval_that_does_not_divide_a_day(write_scenario, minutes):
    err = _error(write_scenario({"interval_minutes": minutes}))
    assert err.field == "interval_minutes"


def test_interval_7_says_why(write_scenario):
    err = _error(write_scenario({"interval_minutes": 7}))
    assert "does not divide a day" in str(err)


@pytest.mark.parametrize("minutes", [1, 5, 15, 30, 60, 1440])
def test_intervals_that_divide_a_day_are_accepted(write_scenario, minutes):
    assert load_scenario(write_scenario({"interval_minutes": minutes})).intervals_per_day == 1440 // minutes


@pytest.mark.parametrize(
    ("override", "where", "bad"),
    [
        ({"community": {"prosumers": [1, 5]}}, "community.prosumers", "[5]"),
        ({"willingness": {"opt_out": [2, 9]}}, "willingness.opt_out", "[9]"),
        ({"willingness": {"opt_out": [0]}}, "willingness.opt_out", "[0]"),
        ({"community": {"pv_kwp": {"7": 3.0}}}, "community.pv_kwp", "[7]"),
    ],
)
def test_peers_outside_1_to_n_peers(write_scenario, override, where, bad):
    err = _error(write_scenario(override))
    assert where in str(err)
    assert bad in str(err) and "1..4" in str(err)


def test_peers_outside_range_set_the_field_attribute(write_scenario):
    err = _error(write_scenario({"community": {"prosumers": [1, 5]}}))
    assert err.field == "community.prosumers"


def test_prosumer_number_zero(write_scenario):
    err = _error(write_scenario({"community": {"prosumers": [0, 1]}}))
    assert err.field == "community.prosumers"
    assert "outside 1..4" in str(err)


def test_prosumer_listed_twice(write_scenario):
    err = _error(write_scenario({"community": {"prosumers": [1, 1]}}))
    assert err.field == "community.prosumers"
    assert "twice" in str(err)


def test_peers_outside_the_data_are_caught_when_n_peers_is_omitted(small_data, write_scenario):
    """Without community.n_peers the check moves to build_day, against the data's peer count."""
    path = write_scenario({"community": {"n_peers": DROP}, "willingness": {"opt_out": [4, 6]}})
    scenario = load_scenario(path)
    with pytest.raises(InputError) as err:
        build_day(scenario)
    assert err.value.file == str(path)
    assert err.value.field == "willingness.opt_out"
    assert "[6]" in str(err.value)


def test_base_chain_that_loops(write_scenario):
    a = write_scenario({"base": "b.toml", "name": "a"}, name="a.toml", full=False)
    write_scenario({"base": "a.toml", "name": "b"}, name="b.toml", full=False)
    err = _error(a)
    assert err.field == "base"
    assert Path(err.file).name == "a.toml"
    assert "loops" in str(err)


def test_scenario_that_is_its_own_base(write_scenario):
    path = write_scenario({"base": "self.toml"}, name="self.toml")
    err = _error(path)
    assert err.field == "base" and Path(err.file).name == "self.toml"


def test_missing_base_file_names_the_base(write_scenario):
    """The error names the file whose ``base`` is wrong, the field, the path looked for and the shipped names."""
    path = write_scenario({"base": "gone.toml", "name": "x"}, full=False)
    err = _error(path)
    assert Path(err.file) == path and err.field == "base"
    assert "base 'gone.toml'" in str(err) and str(path.parent / "gone.toml") in str(err)
    assert (
        "no shipped scenario of that name (shipped: ieee_lv_feeder.toml, ieee_lv_high_pv.toml, ieee_lv_high_pv_limits.toml, paper_15min.toml"
        in str(err)
    )
    in_a_folder = write_scenario({"base": "sub/gone.toml", "name": "y"}, name="y.toml", full=False)
    err = _error(in_a_folder)
    assert err.field == "base" and "shipped" not in str(err)  # a path, not a name: no shipped scenario looked up


@pytest.mark.parametrize("name", ["paper_15min.toml", "paper_15min"])
def test_base_names_a_shipped_scenario(write_scenario, name):
    """``base = "paper_15min.toml"`` in a user's folder is the shipped scenario, its data folder included."""
    path = write_scenario({"base": name, "name": "mystreet", "ces": {"k": 0.25}}, full=False)
    scenario, shipped = load_scenario(path), load_scenario("paper_15min.toml")
    assert scenario.interval_minutes == 15 and scenario.ces.k == 0.25
    assert scenario.data_dir == shipped.data_dir and scenario.name == "mystreet"


def test_a_file_beside_comes_before_a_shipped_name(write_scenario):
    write_scenario({"interval_minutes": 30}, name="paper_15min.toml")
    scenario = load_scenario(write_scenario({"base": "paper_15min.toml", "name": "z"}, name="z.toml", full=False))
    assert scenario.interval_minutes == 30 and scenario.community.n_peers == 4  # the user's own file


def test_base_that_is_not_a_path(write_scenario):
    err = _error(write_scenario({"base": 5}))
    assert err.field == "base"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"data": DROP}, "data"),
        ({"data": {"dir": DROP}}, "data.dir"),
        ({"ces": DROP}, "ces"),
        ({"ces": {"k": DROP}}, "ces.k"),
        ({"ces": {"capacity_kwh": DROP}}, "ces.capacity_kwh"),
    ],
)
def test_required_field_missing(write_scenario, override, field):
    err = _error(write_scenario(override))
    assert err.field == field
    assert "required but missing" in str(err)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"community": {"n_peers": 0}}, "community.n_peers"),
        ({"ces": {"capacity_kwh": 0.0}}, "ces.capacity_kwh"),
        ({"ces": {"charge_efficiency": 1.2}}, "ces.charge_efficiency"),
        ({"seed": -1}, "seed"),
        ({"interval_minutes": 5.5}, "interval_minutes"),
        ({"solver": {"mip_gap": 2.0}}, "solver.mip_gap"),
        ({"selection": {"criterion": "cheapest"}}, "selection.criterion"),
        ({"data": "folder"}, "data"),
    ],
)
def test_other_out_of_range_or_wrongly_typed_values(write_scenario, override, field):
    err = _error(write_scenario(override))
    assert err.field == field


def test_missing_name_is_the_file_stem(write_scenario):
    assert load_scenario(write_scenario({"name": DROP}, name="no_name.toml")).name == "no_name"


def test_parse_scenario_names_the_given_source():
    with pytest.raises(InputError) as err:
        parse_scenario({"name": "x"}, "inline.toml")
    assert err.value.file == "inline.toml"
    assert err.value.field in {"ces", "data"}


# --- bugs found -------------------------------------------------------------------------------


def test_error_in_a_base_file_names_the_base_file(write_scenario):
    write_scenario({"ces": {"k": 1.5}}, name="bad_base.toml")
    child = write_scenario({"base": "bad_base.toml", "name": "child"}, name="child.toml", full=False)
    with pytest.raises(InputError) as err:
        load_scenario(child)
    assert err.value.field == "ces.k"
    assert "bad_base.toml" in str(err.value)


def test_scenario_path_that_is_a_folder(tmp_path):
    with pytest.raises(InputError) as err:
        load_scenario(tmp_path)
    assert err.value.file == str(tmp_path)


def test_scenario_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "Zürich"\n'.encode("latin-1"))
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert err.value.file == str(path)


@pytest.mark.parametrize(("section", "key"), [("tariffs", "buy"), ("ces", "capacity_kwh")])
def test_infinite_numbers_are_rejected(write_scenario, section, key):
    err = _error(write_scenario({section: {key: float("inf")}}))
    assert err.field == f"{section}.{key}"


def test_boolean_interval_is_rejected(write_scenario):
    err = _error(write_scenario({"interval_minutes": True}))
    assert err.field == "interval_minutes"
