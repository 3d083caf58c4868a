"""The aggregator's criteria: single metrics, lexicographic lists, and the 'paper' reading (FORMULATION.md §7)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from lec_opt.day.day_parts import PERIODS, counts_by_period, day_periods, period_spans
from lec_opt.day.selection import PAPER_CRITERION, choose, metrics_of
from lec_opt.scenario.schema import Selection


def test_paper_criterion_expands_to_its_metrics():
    assert metrics_of(Selection(criterion="paper")) == PAPER_CRITERION == ("prosumer_revenue", "transactions")
    assert metrics_of(Selection(criterion="transactions")) == ("transactions",)
    assert metrics_of(Selection(criterion=["p2p_energy", "transactions"])) == ("p2p_energy", "transactions")


@pytest.mark.parametrize("bad", [[], ["paper"], ["cheapest"], "cheapest"])
def test_unknown_or_empty_criterion_is_rejected(bad):
    with pytest.raises(ValidationError):
        Selection(criterion=bad)


def test_choose_is_lexicographic_with_ties_in_order():
    # first metric: A and C tie (within 1e-9 relative), B is worse; second metric decides for C
    assert choose({"A": (2.0, -5.0), "B": (1.0, 0.0), "C": (2.0 + 1e-12, -3.0)}) == "C"
    # a real difference on the first metric decides, whatever the second says
    assert choose({"A": (2.0, -5.0), "B": (2.1, -9.0), "C": (2.0, -3.0)}) == "B"
    # a tie on every metric goes to the first in order
    assert choose({"A": (1.0, -3.0), "B": (1.0, -3.0)}) == "A"


def test_periods_follow_the_sun():
    """Daylight 06:00-18:00 on a 24-interval day: thirds of 4 intervals each."""
    pv = np.zeros(24)
    pv[6:18] = np.sin(np.linspace(0.2, np.pi - 0.2, 12))
    periods = day_periods(pv)
    assert list(periods[:6]) == ["night"] * 6 and list(periods[18:]) == ["evening"] * 6
    assert list(periods[6:10]) == ["morning shoulder"] * 4
    assert list(periods[10:14]) == ["midday peak"] * 4
    assert list(periods[14:18]) == ["afternoon shoulder"] * 4
    assert period_spans(periods, 60)["midday peak"] == "10:00–14:00"
    counts = counts_by_period(periods, ["A"] * 10 + ["C"] * 14, ("A", "B", "C"))
    assert counts["midday peak"] == {"A": 0, "B": 0, "C": 4} and set(counts) == set(PERIODS)


def test_a_day_without_sun_is_night_then_evening():
    periods = day_periods(np.zeros(4))
    assert list(periods) == ["night", "night", "evening", "evening"]


def test_schema_and_selection_know_the_same_metrics():
    from lec_opt.day.selection import METRICS
    from lec_opt.scenario.schema import METRICS as SCHEMA_METRICS

    assert set(SCHEMA_METRICS) == set(METRICS)
