"""Files of a solved day: intervals.csv, trades.csv, settlement.csv, summary.json, scenario.toml.

The folder is written whole (``lec_opt.io.results_folder``): into a partial folder beside it,
then swapped in with its manifest ``lec-opt.json``, so an interrupted run leaves the previous
complete folder or the new one, never a mixture. Apart from the timings in summary.json, the same
scenario gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.day.day_parts import PERIODS, counts_by_period, day_periods, period_spans
from lec_opt.day.foresight import day_value_usd, interval_values_usd
from lec_opt.day.run import DayRun, Step
from lec_opt.day.selection import metrics_of
from lec_opt.io.atomic import write_csv, write_json
from lec_opt.io.results_folder import writing
from lec_opt.io.scenario_copy import write_scenario_file
from lec_opt.market.priorities import PRIORITIES
from lec_opt.paper import (
    CES_SOC_BAND,
    CONSUMER_BILL_RATIO,
    FIG12_PRIORITY_BY_PERIOD,
    PROSUMER_REVENUE_RATIO,
    compares_with_paper,
)


def totals(steps: list[Step], soc_initial: float) -> dict:
    """Energy and money of a path through the day (the keys of summary.json)."""
    r = [s.result for s in steps]
    m = [s.settlement for s in steps]
    socs = [soc_initial] + [x.soc_end for x in r]
    out = {
        "p2p_energy_kwh": sum(x.p2p_kwh for x in r),
        "grid_import_kwh": sum(x.grid_import_kwh for x in r),
        "grid_export_kwh": sum(x.grid_export_kwh for x in r),
        "ces_charge_kwh": sum(x.ces_charge_kwh for x in r),
        "ces_discharge_kwh": sum(x.ces_discharge_kwh for x in r),
        "grid_to_ces_kwh": sum(x.grid_to_ces_kwh for x in r),
        "ev_kwh": sum(x.snapshot.ev_kwh for x in r),
        "ev_from_ces_kwh": sum(x.ces_to_ev_kwh for x in r),
        "ev_from_grid_kwh": sum(x.grid_to_ev_kwh for x in r),
        "ces_soc_min": min(socs),
        "ces_soc_max": max(socs),
        "ces_soc_end": socs[-1],
        "prosumer_revenue_p2p_usd": sum(float(x.revenue_usd.sum()) for x in m),
        "prosumer_revenue_grid_only_usd": sum(float(x.revenue_grid_only_usd.sum()) for x in m),
        "consumer_bill_p2p_usd": sum(float(x.bill_usd.sum()) for x in m),
        "consumer_bill_grid_only_usd": sum(float(x.bill_grid_only_usd.sum()) for x in m),
        "ev_bill_usd": sum(x.ev_bill_usd for x in m),
        "ces_cash_usd": sum(x.ces_cash_usd for x in m),
        "ces_degradation_usd": sum(x.ces_degradation_usd for x in m),
        "community_saving_usd": sum(x.community_saving_usd for x in m),
        "score": sum(s.scores[s.chosen] for s in steps),
        "transactions": sum(x.transactions for x in r),
        "fallbacks": sum(bool(x.fallback) for x in r),
    }
    revenue, bill = out["prosumer_revenue_grid_only_usd"], out["consumer_bill_grid_only_usd"]
    out["prosumer_revenue_ratio"] = out["prosumer_revenue_p2p_usd"] / revenue if revenue else None
    out["consumer_bill_ratio"] = out["consumer_bill_p2p_usd"] / bill if bill else None
    return out


def _periods(run: DayRun) -> np.ndarray:
    return day_periods(run.day.pv_kwh.sum(axis=1))


def _foresight_summary(run: DayRun, periods: np.ndarray) -> dict:
    """The day value of each CES policy on the followed path, the gain, and where it is made."""
    deg = run.day.scenario.ces.degradation
    out = {
        "ces_policy": run.day.scenario.ces.policy,
        "day_value_usd": day_value_usd([s.result for s in run.steps], deg),
    }
    if run.myopic_steps is None:
        return out
    fore = interval_values_usd([s.result for s in run.steps], deg)
    myopic = interval_values_usd([s.result for s in run.myopic_steps], deg)
    myopic_totals = totals(run.myopic_steps, run.day.scenario.ces.soc_initial)
    out.update(
        myopic_day_value_usd=float(myopic.sum()),
        foresight_day_value_usd=float(fore.sum()),
        foresight_gain_usd=float(fore.sum() - myopic.sum()),
        foresight_gain_by_period_usd={w: float((fore - myopic)[periods == w].sum()) for w in PERIODS},
        myopic_totals={
            k: myopic_totals[k]
            for k in (
                "grid_import_kwh",
                "grid_export_kwh",
                "grid_to_ces_kwh",
                "ces_charge_kwh",
                "ces_discharge_kwh",
                "ces_soc_min",
                "ces_soc_max",
                "ces_soc_end",
            )
        },
    )
    return out


def summary(run: DayRun) -> dict:
    """summary.json's content: the day's totals, ratios, priority counts and the paper's values."""
    soc0 = run.day.scenario.ces.soc_initial
    out = totals(run.steps, soc0)
    out["priority_counts"] = {p: sum(s.chosen == p for s in run.steps) for p in PRIORITIES}
    periods = _periods(run)
    out["selection_criterion"] = list(metrics_of(run.day.scenario.selection))
    out["period_spans"] = period_spans(periods, run.day.interval_minutes)
    out["priority_counts_by_period"] = counts_by_period(periods, [s.chosen for s in run.steps], PRIORITIES)
    out.update(_foresight_summary(run, periods))
    # an interval falls back when any priority solved in it had to (all are solved for the choice)
    out["fallbacks"] = sum(any(r.fallback for r in s.results.values()) for s in run.steps)
    out["single_priority_totals"] = {p: totals(steps, soc0) for p, steps in run.single.items()}
    out.update(
        scenario=run.day.scenario.name,
        method=run.method,
        priority=run.priority,
        intervals=run.day.n_intervals,
        interval_minutes=run.day.interval_minutes,
        paper=_paper_values() if compares_with_paper(run.day.data_dir) else None,
        solve_seconds=run.solve_seconds,
        matching_seconds=run.matching_seconds,
    )
    return out


def _paper_values() -> dict:
    """The paper's values summary.json carries beside lec-opt's, for a run on the paper's community."""
    return {
        "prosumer_revenue_ratio": PROSUMER_REVENUE_RATIO,
        "consumer_bill_ratio": CONSUMER_BILL_RATIO,
        "ces_soc_band": list(CES_SOC_BAND),
        "priority_by_period": {
            w: {"priority": p, "words": words} for w, (p, words) in FIG12_PRIORITY_BY_PERIOD.items()
        },
    }


def interval_table(run: DayRun) -> pd.DataFrame:
    """intervals.csv: one row per interval (balance, each priority's matching with its levels'
    bounds and gaps, chosen, CES, grid)."""
    rows = []
    periods = _periods(run)
    deg = run.day.scenario.ces.degradation
    for s in run.steps:
        snap = s.result.snapshot
        r = s.result
        row = {
            "interval": s.index,
            "time": snap.start,
            "supply_kwh": snap.total_surplus_kwh,
            "demand_kwh": snap.total_deficit_kwh,
            "alpha_kwh": snap.alpha_kwh,
            "ev_kwh": snap.ev_kwh,
            "sellers": len(snap.sellers),
            "buyers": len(snap.buyers),
            "chosen": s.chosen,
            "period": periods[s.index],
        }
        for p, pr in s.results.items():
            row[f"p2p_kwh_{p}"] = pr.p2p_kwh
            row[f"transactions_{p}"] = pr.transactions
            row[f"score_{p}"] = s.scores[p]
            row[f"status_{p}"] = "|".join(lv.status for lv in pr.levels)
            row[f"fallback_{p}"] = pr.fallback
            for lv in pr.levels:  # a solved level's proven bound and relative gap (none for the greedy)
                if lv.bound is not None:
                    row[f"level{lv.level}_bound_{p}"] = lv.bound
                    row[f"level{lv.level}_gap_{p}"] = lv.gap
        row.update(
            ces_charge_kwh=r.ces_charge_kwh,
            ces_discharge_kwh=r.ces_discharge_kwh,
            grid_to_ces_kwh=r.grid_to_ces_kwh,
            ces_to_ev_kwh=r.ces_to_ev_kwh,
            soc_start=r.soc_start,
            soc_end=r.soc_end,
            grid_import_kwh=r.grid_import_kwh,
            grid_export_kwh=r.grid_export_kwh,
            fallback=any(x.fallback for x in s.results.values()),
            value_usd=day_value_usd([r], deg),
        )
        if run.myopic_steps is not None:
            mr = run.myopic_steps[s.index].result
            row.update(soc_end_myopic=mr.soc_end, value_usd_myopic=day_value_usd([mr], deg))
        rows.append(row)
    return pd.DataFrame(rows)


def trade_table(run: DayRun, chosen_only: bool = False) -> pd.DataFrame:
    """Every trade of every priority solved in each interval (``chosen`` marks the aggregator's), or
    with ``chosen_only`` the trades that happened (the followed priority's)."""
    rows = [
        (s.index, s.result.snapshot.start, p, p == s.chosen, t.seller, t.buyer, t.kwh, t.price_usd_per_kwh)
        for s in run.steps
        for p, r in s.results.items()
        if not chosen_only or p == s.chosen
        for t in r.trades
    ]
    columns = ["interval", "time", "priority", "chosen", "seller", "buyer", "kwh", "price_usd_per_kwh"]
    frame = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    if not rows:
        frame = frame.astype({"interval": int, "chosen": bool, "seller": int, "buyer": int, "kwh": float})
        frame = frame.astype({"price_usd_per_kwh": float})
    distance = run.day.distance_m
    if distance is not None:  # a feeder: cable metres between the two peers (ring runs keep their columns)
        frame["distance_m"] = distance[frame.seller.to_numpy(int) - 1, frame.buyer.to_numpy(int) - 1]
    return frame


def settlement_table(run: DayRun) -> pd.DataFrame:
    """settlement.csv: per peer, energy and money over the day against grid-only."""
    m = [s.settlement for s in run.steps]
    n = run.day.n_peers
    add = lambda field: np.sum([getattr(x, field) for x in m], axis=0)  # noqa: E731
    frame = pd.DataFrame(
        {
            "peer": np.arange(1, n + 1),
            "role": np.where(run.day.prosumer, "prosumer", "consumer"),
            "intervals_as_seller": add("is_seller").astype(int),
            "intervals_as_buyer": add("is_buyer").astype(int),
            "sold_p2p_kwh": add("sold_p2p_kwh"),
            "bought_p2p_kwh": add("bought_p2p_kwh"),
            "to_ces_kwh": add("to_ces_kwh"),
            "from_ces_kwh": add("from_ces_kwh"),
            "export_kwh": add("export_kwh"),
            "import_kwh": add("import_kwh"),
            "revenue_usd": add("revenue_usd"),
            "revenue_grid_only_usd": add("revenue_grid_only_usd"),
            "bill_usd": add("bill_usd"),
            "bill_grid_only_usd": add("bill_grid_only_usd"),
        }
    )
    frame["saving_usd"] = (frame.revenue_usd - frame.revenue_grid_only_usd) + (
        frame.bill_grid_only_usd - frame.bill_usd
    )
    return frame


def default_out_dir(scenario_name: str, method: str, priority: str) -> Path:
    """``results/<scenario>-<method>-<priority>``, under the working folder."""
    return Path("results") / f"{scenario_name}-{method}-{priority}"


def write_day(run: DayRun, out: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Write the day's folder whole (``lec_opt.io.results_folder.writing``); returns the folder.

    >>> folder = write_day(run_day(load_scenario(), method="greedy"), "results/day")
    >>> pd.read_csv(folder / "intervals.csv").chosen.value_counts()

    A previous lec-opt folder at ``out`` is replaced as a whole; a non-empty folder lec-opt did
    not write is refused unless ``overwrite``.
    """
    out = Path(out) if out is not None else default_out_dir(run.day.scenario.name, run.method, run.priority)
    scenario = run.day.scenario.model_dump(mode="json", exclude={"base"})
    scenario["data"]["dir"] = str(run.day.data_dir)
    with writing(out, "day", scenario=scenario, overwrite=overwrite, command="python: lec_opt.write_day") as folder:
        write_csv(folder / "intervals.csv", interval_table(run), float_format="%.9g")
        write_csv(folder / "trades.csv", trade_table(run), float_format="%.9g")
        write_csv(folder / "settlement.csv", settlement_table(run), float_format="%.9g")
        write_scenario_file(folder, scenario)
        write_json(folder / "summary.json", summary(run))
    return out
