"""The results schema (lec_opt.io.schema) is the one list of the files, summary keys and columns:
the writers follow it, and the io layer imports no layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lec_opt
from lec_opt.io import schema
from lec_opt.market.priorities import PRIORITIES

IO = Path(lec_opt.__file__).parent / "io"
HIGHER = ("analysis", "day", "period", "report", "cli", "model", "market", "network", "engine", "datagen")
# Results.day builds the scenario's day (lec_opt.market.snapshot) when a reader asks for it
KNOWN = {("results.py", "lec_opt.market.snapshot")}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


def test_io_imports_no_higher_layer():
    bad = [
        (path.name, module)
        for path in sorted(IO.glob("*.py"))
        for module in _imports(path)
        if module.split(".")[:2] in [["lec_opt", layer] for layer in HIGHER] and (path.name, module) not in KNOWN
    ]
    assert not bad, bad


def test_the_schema_imports_nothing_of_lec_opt():
    assert not [m for m in _imports(IO / "schema.py") if m.startswith("lec_opt")]


def test_the_priorities_are_the_markets():
    assert schema.PRIORITIES == PRIORITIES


def test_ordered_refuses_a_missing_or_an_unnamed_value():
    fields = (schema.Field("a", "kWh", "a"), schema.Field("b", "kWh", "b"))
    assert list(schema.ordered(fields, {"b": 2, "a": 1})) == ["a", "b"]
    with pytest.raises(KeyError):
        schema.ordered(fields, {"a": 1})
    with pytest.raises(ValueError, match="c"):
        schema.ordered(fields, {"a": 1, "b": 2, "c": 3})


def test_what_adds_up_over_days():
    additive = schema.names(schema.ADDITIVE)
    assert "ces_soc_min" not in additive and "prosumer_revenue_ratio" not in additive
    assert additive[-4:] == ("ces_full_cycles", "chosen_A", "chosen_B", "chosen_C")
    assert [f.name for f in schema.ADDITIVE if f.integer] == [
        "transactions",
        "fallbacks",
        "chosen_A",
        "chosen_B",
        "chosen_C",
    ]


def test_every_total_is_a_sweep_metric_and_every_file_is_described():
    assert set(schema.names(schema.TOTALS)) <= set(schema.SWEEP_METRICS)
    assert len(set(schema.SWEEP_METRICS)) == len(schema.SWEEP_METRICS)
    assert set(schema.DAY_FILES) <= set(schema.DESCRIPTIONS)


def test_a_days_files_follow_the_schema(tmp_path):
    from lec_opt import load_scenario
    from lec_opt.day.outputs import summary, write_day
    from lec_opt.day.run import run_day
    from lec_opt.io.results import load_day_results

    run = run_day(load_scenario(), "greedy")
    totals = summary(run)
    assert list(totals)[: len(schema.TOTALS)] == list(schema.names(schema.TOTALS))
    res = load_day_results(write_day(run, tmp_path / "day"))
    front = [c for c in res.intervals.columns if c in schema.names(schema.INTERVAL_FRONT)]
    assert front == list(schema.names(schema.INTERVAL_FRONT))
    assert list(res.trades.columns) == list(schema.names(schema.TRADES))
    assert list(res.settlement.columns) == list(schema.names(schema.SETTLEMENT))
