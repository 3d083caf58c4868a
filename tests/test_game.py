"""The interval game against brute force over all coalitions, textbook cases, and the day check."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from lec_opt.analysis.game import (
    IntervalGame,
    all_coalitions,
    inessential_player,
    least_core,
    most_violated,
    most_violated_brute_force,
    nucleolus,
    nucleolus_brute_force,
    shapley_exact,
    shapley_sampled,
)
from lec_opt.analysis.stability import check_day, write_stability
from lec_opt.day.outputs import write_day
from lec_opt.model.coalitions import LeastCoreLP

SPREAD = 0.11


def random_game(rng, n_sellers, n_buyers, ces=False, balanced=False) -> IntervalGame:
    s = np.concatenate([rng.uniform(0.1, 2.0, n_sellers), np.zeros(n_buyers)])
    d = np.concatenate([np.zeros(n_sellers), rng.uniform(0.1, 2.0, n_buyers)])
    if balanced:
        d *= s.sum() / d.sum()
    labels = tuple(f"p{k}" for k in range(n_sellers + n_buyers))
    if not ces:
        return IntervalGame(labels, s, d, SPREAD)
    return IntervalGame(
        (*labels, "CES"),
        np.append(s, 0),
        np.append(d, 0),
        SPREAD,
        len(labels),
        0.055,
        0.04,
        rng.uniform(0, 2),
        rng.uniform(0, 2),
    )


def direct_value(game: IntervalGame, mask) -> float:
    """v(T) from its definition, one coalition at a time."""
    mask = np.asarray(mask, dtype=bool)
    s, d = game.supply[mask].sum(), game.demand[mask].sum()
    v = SPREAD * min(s, d)
    if game.ces is not None and mask[game.ces]:
        v += game.ces_discharge_gain * min(max(d - s, 0), game.ces_discharge_kwh)
        v += game.ces_charge_gain * min(max(s - d, 0), game.ces_charge_kwh)
    return v


CASES = [
    (n_s, n_b, ces, bal)
    for n_s, n_b, ces, bal in [
        (1, 1, False, False),
        (2, 3, False, False),
        (3, 2, True, False),
        (3, 3, False, True),
        (4, 4, False, False),
        (2, 2, True, True),
        (5, 4, False, False),
        (3, 4, True, False),
        (4, 5, True, False),
    ]
]


@pytest.mark.parametrize(("n_s", "n_b", "ces", "balanced"), CASES)
def test_against_brute_force(n_s, n_b, ces, balanced):
    rng = np.random.default_rng(n_s * 31 + n_b * 7 + ces)
    game = random_game(rng, n_s, n_b, ces, balanced)
    masks = all_coalitions(game.n)
    # v(T): vectorised = definition
    assert game.values(masks) == pytest.approx([direct_value(game, m) for m in masks], abs=1e-12)
    # separation MILP = brute force, for a random efficient allocation and for the Shapley value
    for phi in (rng.dirichlet(np.ones(game.n)) * game.grand_value, shapley_exact(game)):
        best, mask = most_violated(game, phi)
        proper = masks[:-1]
        brute = (game.values(proper) - proper @ phi).max()
        assert best == pytest.approx(brute, abs=1e-7)
        assert game.value(mask) - phi[mask].sum() == pytest.approx(best, abs=1e-7)
    # least core: constraint generation = the LP over every proper coalition
    eps, phi_lc = least_core(game)
    lp = LeastCoreLP(game)
    for m in masks[:-1]:
        lp.cut(m)
    eps_brute, _ = lp.solve()
    assert eps == pytest.approx(eps_brute, abs=1e-7)
    assert phi_lc.sum() == pytest.approx(game.grand_value)
    assert (game.values(masks[:-1]) - masks[:-1] @ phi_lc).max() <= eps + 1e-7
    if inessential_player(game):
        assert eps_brute == pytest.approx(0.0, abs=1e-9)
    # nucleolus: constraint generation = sequential LPs over all coalitions (the reference is
    # 2^n LPs per stage, so it runs up to 7 players)
    if game.n <= 7:
        np.testing.assert_allclose(nucleolus(game), nucleolus_brute_force(game), atol=1e-6)


@dataclass(frozen=True)
class _SumGame:
    """v1 + v2 for the additivity axiom (shapley_exact needs only n and values)."""

    a: IntervalGame
    b: IntervalGame

    @property
    def n(self):
        return self.a.n

    def values(self, masks):
        return self.a.values(masks) + self.b.values(masks)


def test_shapley_axioms_and_sampling():
    rng = np.random.default_rng(3)
    game = random_game(rng, 3, 4)
    phi = shapley_exact(game)
    assert phi.sum() == pytest.approx(game.grand_value)  # efficiency
    twin = IntervalGame(("a", "b", "c"), np.array([1.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.5]), SPREAD)
    sym = shapley_exact(twin)
    assert sym[0] == pytest.approx(sym[1])  # symmetry
    dummy = IntervalGame(("s", "b", "dummy"), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), SPREAD)
    assert shapley_exact(dummy)[2] == pytest.approx(0.0)  # a player with nothing adds nothing
    other = IntervalGame(game.labels, game.supply[::-1].copy(), game.demand[::-1].copy(), SPREAD)
    np.testing.assert_allclose(shapley_exact(_SumGame(game, other)), phi + shapley_exact(other), atol=1e-12)
    mean, stderr = shapley_sampled(game, 4000, seed=1)
    assert np.all(np.abs(mean - phi) <= 5 * stderr + 1e-12)
    assert mean.sum() == pytest.approx(game.grand_value)  # every permutation is efficient


def test_glove_game_core_gives_everything_to_the_scarce_side():
    """One seller with 1 kWh, two buyers needing 1 kWh each: the seller is the scarce side.

    v = Δπ·min(S, D): any coalition with the seller and one buyer is worth Δπ. The core forces
    each buyer to 0 (the seller can always trade with the other buyer), so φ = (Δπ, 0, 0); the
    least-core ε is 0 (a buyer is inessential) and the nucleolus is that same point.
    """
    game = IntervalGame(("seller", "b1", "b2"), np.array([1.0, 0, 0]), np.array([0, 1.0, 1.0]), SPREAD)
    assert inessential_player(game)
    eps, phi = least_core(game)
    assert eps == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(phi, [SPREAD, 0, 0], atol=1e-9)
    np.testing.assert_allclose(nucleolus(game), [SPREAD, 0, 0], atol=1e-9)
    # the mid-market split of the one trade (half the spread to each side) is outside the core
    mid = np.array([SPREAD / 2, SPREAD / 2, 0.0])
    violation, coalition = most_violated(game, mid)
    assert violation == pytest.approx(SPREAD / 2)
    assert list(coalition) == [True, False, True]  # the seller walks away with the other buyer
    assert most_violated_brute_force(game, mid)[0] == pytest.approx(SPREAD / 2)


def test_balanced_market_has_a_negative_least_core():
    """One seller, one buyer, 1 kWh each: both are essential, and ε = −Δπ/2 at φ = (Δπ/2, Δπ/2)."""
    game = IntervalGame(("s", "b"), np.array([1.0, 0]), np.array([0, 1.0]), SPREAD)
    assert not inessential_player(game)
    eps, phi = least_core(game)
    assert eps == pytest.approx(-SPREAD / 2)
    np.testing.assert_allclose(phi, [SPREAD / 2, SPREAD / 2])


@pytest.fixture(scope="module")
def day_folder(tmp_path_factory, greedy_30min_day):
    return write_day(greedy_30min_day, tmp_path_factory.mktemp("day"))


def test_day_check_writes_stability_and_summary(day_folder):
    checks = check_day(day_folder, samples=200)
    keys = write_stability(day_folder, checks)
    table = pd.read_csv(day_folder / "stability.csv")
    for col in (
        "interval",
        "players",
        "in_core",
        "max_violation",
        "violating_coalition_size",
        "ir_violations",
        "least_core_epsilon",
        "shapley_distance",
    ):
        assert col in table.columns, col
    assert len(table) == 48
    summary = json.loads((day_folder / "summary.json").read_text())
    for key in ("intervals_in_core", "intervals_checked", "max_core_violation", "ir_violations"):
        assert summary[key] == keys[key]
    assert summary["intervals_checked"] == 48
    # intervals without a seller-buyer pair are trivially in the core; mid-market trading is not
    trading = table[table.violating_coalition_size > 0]
    assert (~table.in_core == (table.max_violation > 1e-7)).all()
    assert len(trading) > 0 and summary["max_core_violation"] > 0
    assert summary["ir_violations"] == 0  # nobody is worse off than with the grid alone


def test_stable_prices_put_a_violated_interval_in_the_core(day_folder):
    checks = check_day(day_folder, intervals=[24], samples=100, with_prices=True)  # 12:00
    check = checks[0]
    assert not check.in_core and check.prices is not None
    assert check.prices.epsilon <= 1e-7
    assert check.prices.money_moved > 0
    sell, buy = 0.09, 0.20
    assert all(sell - 1e-6 <= p <= buy + 1e-6 for p in check.prices.prices)
    # the scarce side takes the whole spread (a glove market): at the export price when surplus
    # exceeds demand, at the import price when demand exceeds surplus (as at 12:00 on this day)
    supply, demand = check.game.supply.sum(), check.game.demand.sum()
    assert supply != pytest.approx(demand)
    assert np.allclose(check.prices.prices, sell if supply > demand else buy, atol=1e-6)
    # and the repriced gains pass the separation check
    assert most_violated(check.game, check.prices.phi)[0] <= 1e-7
