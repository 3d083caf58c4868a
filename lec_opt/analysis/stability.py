"""The game check of a solved day: every interval's settlement against the core (models/FORMULATION.md §9).

Reads a results folder written by ``solve-day``, rebuilds each interval's executed result from
the scenario, the chosen priority's trades and the SoC at its start (phase 2 of the day is
deterministic), and checks it with ``lec_opt.analysis.game``. Writes ``stability.csv`` and adds the
stability keys to ``summary.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.analysis.game import (
    TOL,
    IntervalGame,
    StablePrices,
    individual_rationality_violations,
    inessential_player,
    interval_game,
    least_core,
    most_violated,
    shapley_exact,
    shapley_sampled,
    stable_prices,
)
from lec_opt.errors import InputError
from lec_opt.io.atomic import write_csv, write_json
from lec_opt.io.results import load_day_results
from lec_opt.io.results_folder import writing
from lec_opt.io.schema import INTERVALS_FILE, STABILITY_FILE, SUMMARY_FILE, SummaryKey
from lec_opt.market.ces import ces_params
from lec_opt.market.greedy import matching_levels
from lec_opt.market.outcome import result_from_matching
from lec_opt.market.result import IntervalResult, LevelStatus, Matching, Status
from lec_opt.market.snapshot import DayInputs
from lec_opt.market.topology import positions

EXACT_SHAPLEY_MAX_PLAYERS = 12


@dataclass(frozen=True)
class IntervalStability:
    """One interval's core check: the game, the settlement's payoffs φ, the violation, least core, Shapley values and, when asked, stable prices."""

    interval: int
    time: str
    game: IntervalGame
    phi: np.ndarray
    in_core: bool
    max_violation: float
    violating_coalition: tuple[str, ...]
    ir_violations: int
    least_core_epsilon: float
    shapley: np.ndarray
    shapley_stderr: float  # largest standard error (0 when exact)
    prices: StablePrices | None
    trades: tuple = ()  # the executed trades (for stable_prices.csv)

    def row(self) -> dict:
        """The interval's row of stability.csv."""
        return {
            "interval": self.interval,
            "time": self.time,
            "players": self.game.n,
            "grand_value_usd": self.game.grand_value,
            "allocated_usd": float(self.phi.sum()),
            "in_core": self.in_core,
            "max_violation": self.max_violation,
            "violating_coalition_size": len(self.violating_coalition),
            "ir_violations": self.ir_violations,
            "least_core_epsilon": self.least_core_epsilon,
            "shapley_distance": float(np.abs(self.shapley - self.phi).sum()),
            "shapley_stderr": self.shapley_stderr,
            "stable_money_moved": None if self.prices is None else self.prices.money_moved,
        }


def check_interval(
    result: IntervalResult, day: DayInputs, ces_player: bool = False, samples: int = 500, with_prices: bool = False
) -> IntervalStability:
    """Check one solved interval's settlement against the core of its game (``lec-opt game --interval``)."""
    snap = result.snapshot
    ces = ces_params(day.scenario, snap, result.soc_start)
    game, phi = interval_game(result, ces, ces_player)
    excess, mask = most_violated(game, phi)
    shortfall = game.grand_value - float(phi.sum())  # the grand coalition itself, if not efficient
    violation = max(excess, shortfall, 0.0)
    coalition = mask if excess >= shortfall else np.ones(game.n, dtype=bool)
    if inessential_player(game):
        eps = 0.0
    else:
        eps = least_core(game)[0]
    if game.n <= EXACT_SHAPLEY_MAX_PLAYERS:
        shap, stderr = shapley_exact(game), 0.0
    else:
        shap, se = shapley_sampled(game, samples, day.scenario.seed + snap.index)
        stderr = float(se.max())
    prices = None
    if with_prices and not ces_player and violation > TOL and len(result.trades):
        prices = stable_prices(game, result, phi)
    return IntervalStability(
        snap.index,
        snap.start,
        game,
        phi,
        violation <= TOL,
        violation,
        tuple(game.labels[k] for k in np.flatnonzero(coalition)) if violation > TOL else (),
        individual_rationality_violations(phi),
        eps,
        shap,
        stderr,
        prices,
        result.trades,
    )


def executed_results(folder: Path) -> tuple[DayInputs, list[IntervalResult]]:
    """The day's executed interval results, rebuilt from a results folder (read by ``load_day_results``)."""
    res = load_day_results(folder)
    day = res.day
    scenario = day.scenario
    trades = res.trades[res.trades["chosen"].astype(bool)]
    by_interval = {t: g for t, g in trades.groupby("interval")}
    method = res.summary[SummaryKey.METHOD]
    results = []
    for row in res.intervals.itertuples():
        snap = day.snapshot(int(row.interval))
        seller_pos, buyer_pos = positions(snap.sellers), positions(snap.buyers)
        group = by_interval.get(row.interval)
        flows = (
            []
            if group is None
            else [
                (seller_pos[int(s)], buyer_pos[int(b)], float(x))
                for s, b, x in zip(group.seller, group.buyer, group.kwh, strict=True)
            ]
        )
        matching = Matching(
            row.chosen, tuple(flows), matching_levels(snap, row.chosen, flows, Status(LevelStatus(method))), method
        )
        ces = ces_params(scenario, snap, float(row.soc_start))
        result = result_from_matching(snap, ces, matching, scenario.bids.mu, scenario.bids.price_margin)
        if abs(result.soc_end - row.soc_end) > 1e-6:
            raise InputError(
                res.dir / INTERVALS_FILE,
                "the rebuilt SoC does not match: folder and scenario/data differ",
                row=int(row.interval) + 2,
                field="soc_end",
            )
        results.append(result)
    return day, results


def check_day(
    folder: str | Path,
    intervals: list[int] | None = None,
    ces_player: bool = False,
    samples: int = 500,
    with_prices: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[IntervalStability]:
    """Check every executed interval of a results folder (or ``intervals``) against its game's core.

    >>> checks = check_day("results/paper_5min-greedy-best")
    >>> sum(c.in_core for c in checks), max(c.max_violation for c in checks)
    """
    day, results = executed_results(Path(folder))
    chosen = results if intervals is None else [results[t] for t in intervals]
    out = []
    for n, result in enumerate(chosen, start=1):
        out.append(check_interval(result, day, ces_player, samples, with_prices))
        if progress:
            progress(n, len(chosen))
    return out


def write_stability(folder: str | Path, checks: list[IntervalStability]) -> dict:
    """stability.csv (and stable_prices.csv when computed) plus the stability keys in summary.json.

    The folder is updated whole (``lec_opt.io.results_folder.writing``).
    """
    with writing(folder, update=True, command="python: lec_opt.write_stability") as staged:
        return _write_stability(staged, checks)


def _write_stability(folder: Path, checks: list[IntervalStability]) -> dict:
    table = pd.DataFrame([c.row() for c in checks])
    write_csv(folder / STABILITY_FILE, table, float_format="%.9g")
    priced = [c for c in checks if c.prices is not None]
    if priced:
        rows = [
            {
                "interval": c.interval,
                "time": c.time,
                "seller": t.seller,
                "buyer": t.buyer,
                "kwh": t.kwh,
                "price_usd_per_kwh": t.price_usd_per_kwh,
                "stable_price_usd_per_kwh": price,
            }
            for c in priced
            for t, price in zip(c.trades, c.prices.prices, strict=True)
        ]
        write_csv(folder / "stable_prices.csv", pd.DataFrame(rows), float_format="%.9g")
    keys = {
        "intervals_checked": len(checks),
        "intervals_in_core": int(sum(c.in_core for c in checks)),
        "max_core_violation": float(max((c.max_violation for c in checks), default=0.0)),
        "ir_violations": int(sum(c.ir_violations for c in checks)),
    }
    summary_path = folder / SUMMARY_FILE
    summary = json.loads(summary_path.read_text())
    summary.update(keys)
    write_json(summary_path, summary)
    return keys
