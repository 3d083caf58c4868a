"""Files of a solved day: intervals.csv, trades.csv, settlement.csv, summary.json, scenario.toml.

Their names, columns and summary keys are those of the results schema (``lec_opt.io.schema``).

The folder is written whole (``lec_opt.io.results_folder``): into a partial folder beside it,
then swapped in with its manifest ``lec-opt.json``, so an interrupted run leaves the previous
complete folder or the new one, never a mixture. Apart from the timings in summary.json, the same
scenario gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lec_opt.day import limits_outputs
from lec_opt.day.day_parts import PERIODS, counts_by_period, day_periods, period_spans
from lec_opt.day.foresight import day_value_usd, interval_values_usd
from lec_opt.day.run import DayRun, Step
from lec_opt.day.selection import metrics_of
from lec_opt.io.atomic import write_csv, write_json
from lec_opt.io.results_folder import writing
from lec_opt.io.scenario_copy import write_scenario_file
from lec_opt.io.schema import (
    CURTAILMENT_FILE,
    INTERVAL_BACK,
    INTERVAL_FRONT,
    INTERVAL_MYOPIC,
    INTERVAL_PER_PRIORITY,
    INTERVALS_FILE,
    MYOPIC_TOTALS,
    SETTLEMENT,
    SETTLEMENT_FILE,
    SUMMARY_FILE,
    TOTALS,
    TRADE_DISTANCE,
    TRADES,
    TRADES_FILE,
    level_column,
    names,
    ordered,
    priority_column,
)
from lec_opt.io.schema import SummaryKey as K
from lec_opt.market.priorities import PRIORITIES
from lec_opt.paper import (
    CES_SOC_BAND,
    CONSUMER_BILL_RATIO,
    FIG12_PRIORITY_BY_PERIOD,
    PROSUMER_REVENUE_RATIO,
    compares_with_paper,
)


def totals(steps: list[Step], soc_initial: float) -> dict:
    """Energy and money of a path through the day: the values of the schema's ``TOTALS``, in order."""
    r = [s.result for s in steps]
    m = [s.settlement for s in steps]
    socs = [soc_initial] + [x.soc_end for x in r]
    out = {
        K.P2P_ENERGY: sum(x.p2p_kwh for x in r),
        K.GRID_IMPORT: sum(x.grid_import_kwh for x in r),
        K.GRID_EXPORT: sum(x.grid_export_kwh for x in r),
        K.CES_CHARGE: sum(x.ces_charge_kwh for x in r),
        K.CES_DISCHARGE: sum(x.ces_discharge_kwh for x in r),
        K.GRID_TO_CES: sum(x.grid_to_ces_kwh for x in r),
        K.EV: sum(x.snapshot.ev_kwh for x in r),
        K.EV_FROM_CES: sum(x.ces_to_ev_kwh for x in r),
        K.EV_FROM_GRID: sum(x.grid_to_ev_kwh for x in r),
        K.CES_SOC_MIN: min(socs),
        K.CES_SOC_MAX: max(socs),
        K.CES_SOC_END: socs[-1],
        K.PROSUMER_REVENUE_P2P: sum(float(x.revenue_usd.sum()) for x in m),
        K.PROSUMER_REVENUE_GRID_ONLY: sum(float(x.revenue_grid_only_usd.sum()) for x in m),
        K.CONSUMER_BILL_P2P: sum(float(x.bill_usd.sum()) for x in m),
        K.CONSUMER_BILL_GRID_ONLY: sum(float(x.bill_grid_only_usd.sum()) for x in m),
        K.EV_BILL: sum(x.ev_bill_usd for x in m),
        K.CES_CASH: sum(x.ces_cash_usd for x in m),
        K.CES_DEGRADATION: sum(x.ces_degradation_usd for x in m),
        K.COMMUNITY_SAVING: sum(x.community_saving_usd for x in m),
        K.SCORE: sum(s.scores[s.chosen] for s in steps),
        K.TRANSACTIONS: sum(x.transactions for x in r),
        K.FALLBACKS: sum(bool(x.fallback) for x in r),
    }
    revenue, bill = out[K.PROSUMER_REVENUE_GRID_ONLY], out[K.CONSUMER_BILL_GRID_ONLY]
    out[K.PROSUMER_REVENUE_RATIO] = out[K.PROSUMER_REVENUE_P2P] / revenue if revenue else None
    out[K.CONSUMER_BILL_RATIO] = out[K.CONSUMER_BILL_P2P] / bill if bill else None
    return ordered(TOTALS, out)


def _periods(run: DayRun) -> np.ndarray:
    return day_periods(run.day.pv_kwh.sum(axis=1))


def _foresight_summary(run: DayRun, periods: np.ndarray) -> dict:
    """The day value of each CES policy on the followed path, the gain, and where it is made."""
    deg = run.day.scenario.ces.degradation
    out = {
        K.CES_POLICY: run.day.scenario.ces.policy,
        K.DAY_VALUE: day_value_usd([s.result for s in run.steps], deg),
    }
    if run.myopic_steps is None:
        return out
    fore = interval_values_usd([s.result for s in run.steps], deg)
    myopic = interval_values_usd([s.result for s in run.myopic_steps], deg)
    myopic_totals = totals(run.myopic_steps, run.day.scenario.ces.soc_initial)
    out[K.MYOPIC_DAY_VALUE] = float(myopic.sum())
    out[K.FORESIGHT_DAY_VALUE] = float(fore.sum())
    out[K.FORESIGHT_GAIN] = float(fore.sum() - myopic.sum())
    out[K.FORESIGHT_GAIN_BY_PERIOD] = {w: float((fore - myopic)[periods == w].sum()) for w in PERIODS}
    out[K.MYOPIC_TOTALS] = {k: myopic_totals[k] for k in MYOPIC_TOTALS}
    return out


def summary(run: DayRun) -> dict:
    """summary.json's content: the day's totals, ratios, priority counts and the paper's values."""
    soc0 = run.day.scenario.ces.soc_initial
    out = totals(run.steps, soc0)
    out[K.PRIORITY_COUNTS] = {p: sum(s.chosen == p for s in run.steps) for p in PRIORITIES}
    periods = _periods(run)
    out[K.SELECTION_CRITERION] = list(metrics_of(run.day.scenario.selection))
    out[K.PERIOD_SPANS] = period_spans(periods, run.day.interval_minutes)
    steps_periods = periods[[s.index for s in run.steps]]  # the whole day's, or a part's (the service's export)
    out[K.PRIORITY_COUNTS_BY_PERIOD] = counts_by_period(steps_periods, [s.chosen for s in run.steps], PRIORITIES)
    out.update(_foresight_summary(run, periods))
    # an interval falls back when any priority solved in it had to (all are solved for the choice)
    out[K.FALLBACKS] = sum(any(r.fallback for r in s.results.values()) for s in run.steps)
    out[K.SINGLE_PRIORITY_TOTALS] = {p: totals(steps, soc0) for p, steps in run.single.items()}
    if limits_outputs.enforced(run):
        out[K.NETWORK_LIMITS] = limits_outputs.summary_block(run)
    out[K.SCENARIO] = run.day.scenario.name
    out[K.METHOD] = run.method
    out[K.PRIORITY] = run.priority
    out[K.INTERVALS] = len(run.steps)
    out[K.INTERVAL_MINUTES] = run.day.interval_minutes
    out[K.PAPER] = _paper_values() if compares_with_paper(run.day.data_dir) else None
    out[K.SOLVE_SECONDS] = run.solve_seconds
    out[K.MATCHING_SECONDS] = run.matching_seconds
    return out


def _paper_values() -> dict:
    """The paper's values summary.json carries beside lec-opt's, for a run on the paper's community."""
    return {
        K.PROSUMER_REVENUE_RATIO: PROSUMER_REVENUE_RATIO,
        K.CONSUMER_BILL_RATIO: CONSUMER_BILL_RATIO,
        K.CES_SOC_BAND: list(CES_SOC_BAND),
        K.PRIORITY_BY_PERIOD: {
            w: {"priority": p, "words": words} for w, (p, words) in FIG12_PRIORITY_BY_PERIOD.items()
        },
    }


def _priority_columns(step: Step) -> dict:
    """intervals.csv's columns of each priority solved in an interval, with its levels' bounds and gaps."""
    row = {}
    for p, pr in step.results.items():
        values = {
            "p2p_kwh": pr.p2p_kwh,
            "transactions": pr.transactions,
            "score": step.scores[p],
            "status": "|".join(lv.status for lv in pr.levels),
            "fallback": pr.fallback,
        }
        row.update({priority_column(name, p): value for name, value in ordered(INTERVAL_PER_PRIORITY, values).items()})
        for lv in pr.levels:  # a solved level's proven bound and relative gap (none for the greedy)
            if lv.bound is not None:
                row[level_column(lv.level, "bound", p)] = lv.bound
                row[level_column(lv.level, "gap", p)] = lv.gap
    return row


def _interval_row(run: DayRun, step: Step, period: str) -> dict:
    """One row of intervals.csv (the schema's ``INTERVAL_FRONT``, the priorities', ``INTERVAL_BACK``,
    with foresight ``INTERVAL_MYOPIC``)."""
    snap, r = step.result.snapshot, step.result
    deg = run.day.scenario.ces.degradation
    front = {
        "interval": step.index,
        "time": snap.start,
        "supply_kwh": snap.total_surplus_kwh,
        "demand_kwh": snap.total_deficit_kwh,
        "alpha_kwh": snap.alpha_kwh,
        "ev_kwh": snap.ev_kwh,
        "sellers": len(snap.sellers),
        "buyers": len(snap.buyers),
        "chosen": step.chosen,
        "period": period,
    }
    back = {
        "ces_charge_kwh": r.ces_charge_kwh,
        "ces_discharge_kwh": r.ces_discharge_kwh,
        "grid_to_ces_kwh": r.grid_to_ces_kwh,
        "ces_to_ev_kwh": r.ces_to_ev_kwh,
        "soc_start": r.soc_start,
        "soc_end": r.soc_end,
        "grid_import_kwh": r.grid_import_kwh,
        "grid_export_kwh": r.grid_export_kwh,
        "fallback": any(x.fallback for x in step.results.values()),
        "value_usd": day_value_usd([r], deg),
    }
    row = {**ordered(INTERVAL_FRONT, front), **_priority_columns(step), **ordered(INTERVAL_BACK, back)}
    if run.myopic_steps is not None:
        mr = run.myopic_steps[step.index].result
        myopic = {"soc_end_myopic": mr.soc_end, "value_usd_myopic": day_value_usd([mr], deg)}
        row.update(ordered(INTERVAL_MYOPIC, myopic))
    if step.network is not None:
        row.update(limits_outputs.interval_columns(step))
    return row


def interval_table(run: DayRun) -> pd.DataFrame:
    """intervals.csv: one row per interval (balance, each priority's matching with its levels'
    bounds and gaps, chosen, CES, grid)."""
    periods = _periods(run)
    return pd.DataFrame([_interval_row(run, s, periods[s.index]) for s in run.steps])


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
    columns = list(names(TRADES))
    frame = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    if not rows:
        frame = frame.astype({"interval": int, "chosen": bool, "seller": int, "buyer": int, "kwh": float})
        frame = frame.astype({"price_usd_per_kwh": float})
    distance = run.day.distance_m
    if distance is not None:  # a feeder: cable metres between the two peers (ring runs keep their columns)
        frame[TRADE_DISTANCE.name] = distance[frame.seller.to_numpy(int) - 1, frame.buyer.to_numpy(int) - 1]
    return frame


def settlement_table(run: DayRun) -> pd.DataFrame:
    """settlement.csv: per peer, energy and money over the day against grid-only."""
    m = [s.settlement for s in run.steps]
    n = run.day.n_peers
    add = lambda field: np.sum([getattr(x, field) for x in m], axis=0)  # noqa: E731
    sums = ("sold_p2p_kwh", "bought_p2p_kwh", "to_ces_kwh", "from_ces_kwh", "export_kwh", "import_kwh")
    sums += ("revenue_usd", "revenue_grid_only_usd", "bill_usd", "bill_grid_only_usd")
    columns = {
        "peer": np.arange(1, n + 1),
        "role": np.where(run.day.prosumer, "prosumer", "consumer"),
        "intervals_as_seller": add("is_seller").astype(int),
        "intervals_as_buyer": add("is_buyer").astype(int),
        **{name: add(name) for name in sums},
    }
    columns["saving_usd"] = (columns["revenue_usd"] - columns["revenue_grid_only_usd"]) + (
        columns["bill_grid_only_usd"] - columns["bill_usd"]
    )
    frame = pd.DataFrame(ordered(SETTLEMENT, columns))
    if limits_outputs.enforced(run):
        frame = frame.assign(**limits_outputs.settlement_columns(run))
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
        write_csv(folder / INTERVALS_FILE, interval_table(run), float_format="%.9g")
        write_csv(folder / TRADES_FILE, trade_table(run), float_format="%.9g")
        write_csv(folder / SETTLEMENT_FILE, settlement_table(run), float_format="%.9g")
        if limits_outputs.enforced(run):
            write_csv(folder / CURTAILMENT_FILE, limits_outputs.curtailment_table(run), float_format="%.9g")
        write_scenario_file(folder, scenario)
        write_json(folder / SUMMARY_FILE, summary(run))
    return out
