"""The tables of a day's summary.json, as rows of text: the CLI prints them, the report renders them.

``day_summary_rows`` puts lec-opt's day beside the paper's values (the ratios of revenue and
bill to grid-only, the CES state-of-charge band); ``priority_rows`` puts the run beside each
priority held all day. A key missing from summary.json (or a ratio without a denominator) is an
empty cell.
"""

from __future__ import annotations

import math

from lec_opt.io.schema import PRIORITIES
from lec_opt.io.schema import SummaryKey as K


def cell(value, spec: str = ".3f") -> str:
    """A number as text; None and non-finite numbers as ""; text and booleans as they are."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, (bool, str)):
        return str(value)
    return format(value, spec)


def _count(value) -> str:
    return cell(value, "d") if isinstance(value, int) else cell(value)


def _joined(summary: dict, keys: tuple[str, ...], spec: str, sep: str = " / ") -> str:
    """Several values in one cell, e.g. ``12.3 / 4.5``; empty when none is there."""
    cells = [cell(summary.get(k), spec) for k in keys]
    return sep.join(cells) if any(cells) else ""


def run_label(summary: dict, default_name: str = "?") -> str:
    """``scenario, method, priority P``: which run a summary belongs to."""
    return (
        f"{summary.get(K.SCENARIO, default_name)}, {summary.get(K.METHOD, '?')}, "
        f"priority {summary.get(K.PRIORITY, '?')}"
    )


def day_summary_rows(summary: dict) -> list[tuple[str, ...]]:
    """(what, lec-opt's value, the paper's value or "") for each line of the day's summary; without the
    paper's column for a community that is not the paper's (summary.json has no ``paper`` values)."""
    s = summary
    paper = s.get(K.PAPER) or {}
    band = paper.get(K.CES_SOC_BAND) or [None, None]
    counts = s.get(K.PRIORITY_COUNTS) or {}
    rows = [
        (
            "prosumer revenue, P2P / grid-only",
            cell(s.get(K.PROSUMER_REVENUE_RATIO)),
            cell(paper.get(K.PROSUMER_REVENUE_RATIO), ".2f"),
        ),
        (
            "bills of all peers (consumer bill ratio), P2P / grid-only",
            cell(s.get(K.CONSUMER_BILL_RATIO)),
            cell(paper.get(K.CONSUMER_BILL_RATIO), ".2f"),
        ),
        (
            "CES state of charge, min – max",
            _joined(s, (K.CES_SOC_MIN, K.CES_SOC_MAX), ".2f", " – "),
            f"{cell(band[0], '.2f')} – {cell(band[1], '.2f')}" if band[0] is not None else "",
        ),
        (
            "prosumer revenue P2P / grid-only, $",
            _joined(s, (K.PROSUMER_REVENUE_P2P, K.PROSUMER_REVENUE_GRID_ONLY), ".2f"),
            "",
        ),
        ("consumer bill P2P / grid-only, $", _joined(s, (K.CONSUMER_BILL_P2P, K.CONSUMER_BILL_GRID_ONLY), ".2f"), ""),
        ("P2P energy, kWh", cell(s.get(K.P2P_ENERGY), ".1f"), ""),
        ("grid import / export, kWh", _joined(s, (K.GRID_IMPORT, K.GRID_EXPORT), ".1f"), ""),
        ("CES charge / discharge, kWh", _joined(s, (K.CES_CHARGE, K.CES_DISCHARGE), ".1f"), ""),
        ("grid into CES, kWh", cell(s.get(K.GRID_TO_CES), ".1f"), "0"),
        ("EV demand / from CES / from grid, kWh", _joined(s, (K.EV, K.EV_FROM_CES, K.EV_FROM_GRID), ".1f"), ""),
        ("priority chosen A / B / C (intervals)", " / ".join(str(counts.get(p, 0)) for p in PRIORITIES), ""),
        *_period_rows(s),
        ("transactions", _count(s.get(K.TRANSACTIONS)), ""),
        ("intervals that fell back to greedy", _count(s.get(K.FALLBACKS)), ""),
        ("community saving, $", cell(s.get(K.COMMUNITY_SAVING), ".2f"), ""),
        ("aggregator score, $", cell(s.get(K.SCORE), ".2f"), ""),
    ]
    for p, totals in (s.get(K.SINGLE_PRIORITY_TOTALS) or {}).items():
        rows.append((f"aggregator score with {p} all day, $", cell(totals.get(K.SCORE), ".2f"), ""))
    rows += _foresight_rows(s)
    rows.append(("solve time, s", cell(s.get(K.SOLVE_SECONDS), ".1f"), ""))
    return rows if paper else [row[:2] for row in rows]


def _period_rows(s: dict) -> list[tuple[str, str, str]]:
    """Chosen A / B / C in each period of the day, beside the priority the paper describes there."""
    by_period = s.get(K.PRIORITY_COUNTS_BY_PERIOD) or {}
    spans = s.get(K.PERIOD_SPANS) or {}
    paper = (s.get(K.PAPER) or {}).get(K.PRIORITY_BY_PERIOD) or {}
    rows = []
    for period, counts in by_period.items():
        described = paper.get(period) or {}
        words = described.get("words", "")
        if words and counts.get(described.get("priority"), 0) == 0:
            words += f" (chosen 0 times here: models/FORMULATION.md §7 says when {described['priority']} wins)"
        span = f" {spans[period]}" if period in spans else ""
        rows.append((f"  {period}{span}", " / ".join(str(counts.get(p, 0)) for p in PRIORITIES), words))
    return rows


def _foresight_rows(s: dict) -> list[tuple[str, str, str]]:
    """The day value under each CES policy and the gain of foresight (when the day was solved so)."""
    if s.get(K.FORESIGHT_GAIN) is None:
        return []
    rows = [
        ("day value, myopic CES (the paper's rule), $", cell(s.get(K.MYOPIC_DAY_VALUE), ".2f"), ""),
        ("day value, CES with perfect foresight, $", cell(s.get(K.FORESIGHT_DAY_VALUE), ".2f"), ""),
        ("foresight gain, $", cell(s.get(K.FORESIGHT_GAIN), ".3f"), ""),
    ]
    for period, gain in (s.get(K.FORESIGHT_GAIN_BY_PERIOD) or {}).items():
        rows.append((f"  foresight gain in the {period}, $", cell(gain, ".3f"), ""))
    return rows


PRIORITY_TABLE = (  # (what, key, format) of the run and of each priority held all day
    ("aggregator score, $", K.SCORE, ".2f"),
    ("P2P energy, kWh", K.P2P_ENERGY, ".1f"),
    ("transactions", K.TRANSACTIONS, "d"),
    ("grid import, kWh", K.GRID_IMPORT, ".1f"),
    ("grid export, kWh", K.GRID_EXPORT, ".1f"),
    ("prosumer revenue ratio", K.PROSUMER_REVENUE_RATIO, ".3f"),
    ("consumer bill ratio", K.CONSUMER_BILL_RATIO, ".3f"),
    ("CES SoC min", K.CES_SOC_MIN, ".2f"),
    ("CES SoC max", K.CES_SOC_MAX, ".2f"),
)


def priority_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows: the run beside each priority held all day (``single_priority_totals``)."""
    single = summary.get(K.SINGLE_PRIORITY_TOTALS) or {}
    header = ["", f"this run ({summary.get(K.PRIORITY, '?')})"] + [f"{p} all day" for p in single]
    rows = []
    for label, key, spec in PRIORITY_TABLE:
        rows.append([label] + [cell(totals.get(key), spec) for totals in (summary, *single.values())])
    return header, rows
