"""The results schema: the files lec-opt writes, the fields of a summary and the tables' columns.

Named once, here, for the writers (``lec_opt.day.outputs``, ``lec_opt.period.outputs``,
``lec_opt.analysis.sweep.table``, the game check, the power flows) and the reader
(``lec_opt.io.results``): the file names of a day's, a period's and a sweep's folder; the day's
totals in summary.json (``TOTALS``: each with its unit and whether it adds up over days, in the
order summary.json gives them) and the other keys readers look up (``SummaryKey``); the columns
of intervals.csv, trades.csv, settlement.csv and the network tables (``required``: a reader
refuses a file without it; the others are newer or optional); and the layout of sweep.csv.
A writer orders its values with ``ordered``, which refuses a value the schema does not name.
This module imports nothing of lec-opt: every layer may read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PRIORITIES = ("A", "B", "C")  # the priorities results name (as lec_opt.market.priorities)


@dataclass(frozen=True)
class Field:
    """One summary key or table column: its name, unit, meaning, and whether it adds up over days
    (``additive``) and a reader needs it (``required``)."""

    name: str
    unit: str  # "kWh", "USD", "fraction" (of the CES capacity), "ratio", "count", "intervals", "" (text)
    what: str
    additive: bool = False
    required: bool = True

    @property
    def integer(self) -> bool:
        """The value is a whole number (a count of transactions, fallbacks or intervals)."""
        return self.unit in ("count", "intervals")


def names(fields: Iterable[Field]) -> tuple[str, ...]:
    """The names of ``fields``, in order."""
    return tuple(f.name for f in fields)


def ordered(fields: Iterable[Field], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` in the order of ``fields``; a KeyError names a field without a value, a
    ValueError a value the fields do not name (a writer and its schema must agree)."""
    fields = tuple(fields)
    extra = set(values) - set(names(fields))
    if extra:
        raise ValueError(f"values the schema does not name: {sorted(extra)}")
    return {f.name: values[f.name] for f in fields}


# --- files -----------------------------------------------------------------------------------

MANIFEST_FILE = "lec-opt.json"  # who wrote a results folder (lec_opt.io.results_folder)
SCENARIO_FILE = "scenario.toml"
SUMMARY_FILE = "summary.json"
FIGURES_DIR = "figures"
REPORT_FILE = "report.html"  # lec_opt.report.html
# a day's folder
INTERVALS_FILE = "intervals.csv"
TRADES_FILE = "trades.csv"
SETTLEMENT_FILE = "settlement.csv"
DAY_FILES = (INTERVALS_FILE, TRADES_FILE, SETTLEMENT_FILE, SUMMARY_FILE, SCENARIO_FILE)
STABILITY_FILE = "stability.csv"  # the cooperative game check (lec_opt.analysis.stability)
NETWORK_FILE = "network.csv"  # power flows of a feeder day (lec_opt.network.powerflow)
VOLTAGES_FILE = "voltages.parquet"  # every peer's voltage in every interval of a feeder day (or period)
LINES_FILE = "lines.csv"  # each line's highest loading of a feeder day
CURTAILMENT_FILE = "curtailment.csv"  # each peer's curtailed PV per interval, [network] limits enforced
# a period's folder
DAYS_FILE = "days.csv"
PERIOD_INTERVALS_FILE = "intervals.parquet"
PERIOD_TRADES_FILE = "trades.parquet"
PERIOD_NETWORK_FILES = {"intervals": "network.parquet", "voltages": VOLTAGES_FILE, "lines": "lines.parquet"}
# a sweep's folder
SWEEP_FILE = "sweep.csv"

# what each file of a day's folder holds (the report links them)
DESCRIPTIONS = {
    INTERVALS_FILE: "one row per interval: surplus, deficit, CES, EV, P2P energy under each priority, the choice",
    TRADES_FILE: "every trade: interval, priority, seller, buyer, kWh, price",
    SETTLEMENT_FILE: "per peer: revenue or bill with P2P and grid-only",
    SUMMARY_FILE: "the day's totals (the numbers of the summary tables)",
    SCENARIO_FILE: "the scenario used, complete",
    STABILITY_FILE: "per interval: the cooperative game's core check",
    NETWORK_FILE: "per interval: the feeder's power flow",
    VOLTAGES_FILE: "per interval and peer: the voltage at the peer's bus and phase",
    LINES_FILE: "per line: its highest loading of the day and when",
    SWEEP_FILE: "one row per run of the sweep: the swept fields and the metrics",
    MANIFEST_FILE: "who wrote the folder, with which versions, when",
}


# --- summary.json ----------------------------------------------------------------------------


class SummaryKey:
    """Keys of summary.json (a day's: ``lec_opt.day.outputs.summary``; a period's adds its own)."""

    SCENARIO = "scenario"
    METHOD = "method"
    PRIORITY = "priority"
    INTERVALS = "intervals"
    INTERVAL_MINUTES = "interval_minutes"
    PAPER = "paper"  # the paper's values: the two ratios and CES_SOC_BAND
    CES_SOC_BAND = "ces_soc_band"
    PROSUMER_REVENUE_RATIO = "prosumer_revenue_ratio"
    CONSUMER_BILL_RATIO = "consumer_bill_ratio"
    CES_SOC_MIN = "ces_soc_min"
    CES_SOC_MAX = "ces_soc_max"
    CES_SOC_END = "ces_soc_end"
    PROSUMER_REVENUE_P2P = "prosumer_revenue_p2p_usd"
    PROSUMER_REVENUE_GRID_ONLY = "prosumer_revenue_grid_only_usd"
    CONSUMER_BILL_P2P = "consumer_bill_p2p_usd"
    CONSUMER_BILL_GRID_ONLY = "consumer_bill_grid_only_usd"
    EV_BILL = "ev_bill_usd"
    CES_CASH = "ces_cash_usd"
    CES_DEGRADATION = "ces_degradation_usd"
    COMMUNITY_SAVING = "community_saving_usd"
    SCORE = "score"
    P2P_ENERGY = "p2p_energy_kwh"
    GRID_IMPORT = "grid_import_kwh"
    GRID_EXPORT = "grid_export_kwh"
    CES_CHARGE = "ces_charge_kwh"
    CES_DISCHARGE = "ces_discharge_kwh"
    GRID_TO_CES = "grid_to_ces_kwh"
    EV = "ev_kwh"
    EV_FROM_CES = "ev_from_ces_kwh"
    EV_FROM_GRID = "ev_from_grid_kwh"
    PRIORITY_COUNTS = "priority_counts"
    PRIORITY_COUNTS_BY_PERIOD = "priority_counts_by_period"
    PERIOD_SPANS = "period_spans"
    PRIORITY_BY_PERIOD = "priority_by_period"  # in PAPER: {period: {"priority", "words"}}
    SELECTION_CRITERION = "selection_criterion"
    CES_POLICY = "ces_policy"
    DAY_VALUE = "day_value_usd"
    MYOPIC_DAY_VALUE = "myopic_day_value_usd"
    FORESIGHT_DAY_VALUE = "foresight_day_value_usd"
    FORESIGHT_GAIN = "foresight_gain_usd"
    FORESIGHT_GAIN_BY_PERIOD = "foresight_gain_by_period_usd"
    MYOPIC_TOTALS = "myopic_totals"
    TRANSACTIONS = "transactions"
    FALLBACKS = "fallbacks"
    SINGLE_PRIORITY_TOTALS = "single_priority_totals"
    NETWORK_LIMITS = "network_limits"  # [network] limits enforced: lec_opt.day.limits_outputs.summary_block
    SOLVE_SECONDS = "solve_seconds"
    MATCHING_SECONDS = "matching_seconds"


K = SummaryKey
# the totals of a path through the day, in summary.json's order (lec_opt.day.outputs.totals)
TOTALS = (
    Field(K.P2P_ENERGY, "kWh", "energy traded peer to peer", additive=True),
    Field(K.GRID_IMPORT, "kWh", "energy bought from the grid", additive=True),
    Field(K.GRID_EXPORT, "kWh", "energy sold to the grid", additive=True),
    Field(K.CES_CHARGE, "kWh", "energy into the CES", additive=True),
    Field(K.CES_DISCHARGE, "kWh", "energy out of the CES (E_dis)", additive=True),
    Field(K.GRID_TO_CES, "kWh", "energy the CES took from the grid", additive=True),
    Field(K.EV, "kWh", "the EVs' demand", additive=True),
    Field(K.EV_FROM_CES, "kWh", "EV demand met by the CES", additive=True),
    Field(K.EV_FROM_GRID, "kWh", "EV demand met by the grid", additive=True),
    Field(K.CES_SOC_MIN, "fraction", "the CES's lowest state of charge"),
    Field(K.CES_SOC_MAX, "fraction", "the CES's highest state of charge"),
    Field(K.CES_SOC_END, "fraction", "the CES's state of charge at the end"),
    Field(K.PROSUMER_REVENUE_P2P, "USD", "prosumers' revenue with P2P", additive=True),
    Field(K.PROSUMER_REVENUE_GRID_ONLY, "USD", "prosumers' revenue selling to the grid only", additive=True),
    Field(K.CONSUMER_BILL_P2P, "USD", "peers' bills with P2P", additive=True),
    Field(K.CONSUMER_BILL_GRID_ONLY, "USD", "peers' bills buying from the grid only", additive=True),
    Field(K.EV_BILL, "USD", "the EVs' bill", additive=True),
    Field(K.CES_CASH, "USD", "the CES's cash", additive=True),
    Field(K.CES_DEGRADATION, "USD", "the CES's degradation cost", additive=True),
    Field(K.COMMUNITY_SAVING, "USD", "the community's saving against grid-only", additive=True),
    Field(K.SCORE, "score", "the aggregator's score of the chosen matchings", additive=True),
    Field(K.TRANSACTIONS, "count", "P2P trades", additive=True),
    Field(K.FALLBACKS, "intervals", "intervals whose matching fell back", additive=True),
    Field(K.PROSUMER_REVENUE_RATIO, "ratio", "prosumers' revenue, P2P / grid-only (None without one)"),
    Field(K.CONSUMER_BILL_RATIO, "ratio", "peers' bills, P2P / grid-only (None without one)"),
)
# the totals of the myopic path summary.json gives beside the foresight's
MYOPIC_TOTALS = (
    K.GRID_IMPORT,
    K.GRID_EXPORT,
    K.GRID_TO_CES,
    K.CES_CHARGE,
    K.CES_DISCHARGE,
    K.CES_SOC_MIN,
    K.CES_SOC_MAX,
    K.CES_SOC_END,
)
TIMING = (K.SOLVE_SECONDS, K.MATCHING_SECONDS)  # vary run to run

# --- a period's days.csv: a day's totals and these ----------------------------------------------

DAY_ROW_FIELDS = (
    Field("ces_soc_start", "fraction", "the CES's state of charge at the start of the day"),
    Field("ces_full_cycles", "cycles", "CES full-cycle equivalents: E_dis over the capacity", additive=True),
    *(Field(f"chosen_{p}", "intervals", f"intervals choosing priority {p}", additive=True) for p in PRIORITIES),
)
# what adds up over days, in the order a period's summary gives it
ADDITIVE = tuple(f for f in (*TOTALS, *DAY_ROW_FIELDS) if f.additive)

# --- intervals.csv -----------------------------------------------------------------------------

# before the priorities' columns
INTERVAL_FRONT = (
    Field("interval", "count", "the interval's index: 0, 1, 2 ..."),
    Field("time", "", "its start, HH:MM"),
    Field("supply_kwh", "kWh", "the willing sellers' surplus"),
    Field("demand_kwh", "kWh", "the willing buyers' deficit"),
    Field("alpha_kwh", "kWh", "alpha: what P2P trading can at most move"),
    Field("ev_kwh", "kWh", "the EVs' demand"),
    Field("sellers", "count", "peers with a surplus", required=False),
    Field("buyers", "count", "peers with a deficit", required=False),
    Field("chosen", "", "the priority the aggregator chose"),
    Field("period", "", "the part of the day (lec_opt.day.day_parts)", required=False),
)
# one of each per priority solved, named ``priority_column(name, p)``
INTERVAL_PER_PRIORITY = (
    Field("p2p_kwh", "kWh", "energy traded P2P under the priority"),
    Field("transactions", "count", "its trades"),
    Field("score", "score", "the aggregator's score of its matching", required=False),
    Field("status", "", "each level's solver status, joined by |", required=False),
    Field("fallback", "", "its matching fell back", required=False),
)
# per solved level (none for the greedy), named ``level_column(level, name, p)``
INTERVAL_PER_LEVEL = (
    Field("bound", "", "the level's proven bound", required=False),
    Field("gap", "ratio", "the level's relative gap", required=False),
)
# after the priorities' columns
INTERVAL_BACK = (
    Field("ces_charge_kwh", "kWh", "energy into the CES"),
    Field("ces_discharge_kwh", "kWh", "energy out of the CES"),
    Field("grid_to_ces_kwh", "kWh", "energy the CES took from the grid"),
    Field("ces_to_ev_kwh", "kWh", "EV demand met by the CES"),
    Field("soc_start", "fraction", "the CES's state of charge at the start"),
    Field("soc_end", "fraction", "... and at the end"),
    Field("grid_import_kwh", "kWh", "energy bought from the grid", required=False),
    Field("grid_export_kwh", "kWh", "energy sold to the grid", required=False),
    Field("fallback", "", "any priority's matching fell back", required=False),
    Field("value_usd", "USD", "the interval's value on the followed path", required=False),
)
# with foresight, the myopic path's
INTERVAL_MYOPIC = (
    Field("soc_end_myopic", "fraction", "the myopic path's state of charge at the end", required=False),
    Field("value_usd_myopic", "USD", "the interval's value on the myopic path", required=False),
)
INTERVAL_LIMITS = (  # with [network] limits = "enforced" (lec_opt.day.network_limits)
    Field("curtailed_kwh", "kWh", "PV the community curtailed to keep the network's limits", required=False),
    Field("network_status", "", "within, kept, residual or infeasible (models/FORMULATION.md §13)", required=False),
    Field("network_rounds", "count", "level-0 solves the interval needed", required=False),
    Field("voltage_excess_pu", "p.u.", "how far the AC flow is outside the voltage band", required=False),
    Field("loading_excess_percent", "%", "how far a cable or the transformer is over its limit", required=False),
)
INTERVAL_COLUMNS = names(f for f in (*INTERVAL_FRONT, *INTERVAL_BACK) if f.required)  # a reader needs these


def priority_column(name: str, priority: str) -> str:
    """The name of a per-priority column of intervals.csv, e.g. ``p2p_kwh_A``."""
    return f"{name}_{priority}"


def level_column(level: int, name: str, priority: str) -> str:
    """The name of a per-level column of intervals.csv, e.g. ``level3_gap_A``."""
    return f"level{level}_{name}_{priority}"


# --- trades.csv, settlement.csv, stability.csv -------------------------------------------------

TRADES = (
    Field("interval", "count", "the interval's index"),
    Field("time", "", "its start, HH:MM", required=False),
    Field("priority", "", "the priority whose matching holds the trade"),
    Field("chosen", "", "the aggregator chose that priority"),
    Field("seller", "count", "the selling peer (1-based)"),
    Field("buyer", "count", "the buying peer (1-based)"),
    Field("kwh", "kWh", "energy traded"),
    Field("price_usd_per_kwh", "USD/kWh", "the trade's price", required=False),
)
TRADE_DISTANCE = Field("distance_m", "m", "cable metres between the peers (a feeder)", required=False)
TRADE_COLUMNS = names(f for f in TRADES if f.required)
SETTLEMENT = (
    Field("peer", "count", "the peer (1-based)"),
    Field("role", "", "prosumer or consumer"),
    Field("intervals_as_seller", "intervals", "intervals the peer sold in", required=False),
    Field("intervals_as_buyer", "intervals", "intervals the peer bought in", required=False),
    Field("sold_p2p_kwh", "kWh", "energy sold P2P", required=False),
    Field("bought_p2p_kwh", "kWh", "energy bought P2P", required=False),
    Field("to_ces_kwh", "kWh", "energy sold to the CES", required=False),
    Field("from_ces_kwh", "kWh", "energy bought from the CES", required=False),
    Field("export_kwh", "kWh", "energy sold to the grid", required=False),
    Field("import_kwh", "kWh", "energy bought from the grid", required=False),
    Field("revenue_usd", "USD", "revenue with P2P"),
    Field("revenue_grid_only_usd", "USD", "revenue selling to the grid only"),
    Field("bill_usd", "USD", "bill with P2P"),
    Field("bill_grid_only_usd", "USD", "bill buying from the grid only"),
    Field("saving_usd", "USD", "revenue gained plus bill saved against grid-only", required=False),
)
SETTLEMENT_LIMITS = (  # with [network] limits = "enforced"
    Field("curtailed_kwh", "kWh", "PV the peer curtailed for the network", required=False),
    Field(
        "limits_cost_usd",
        "USD",
        "revenue the network's limits cost the peer: without them (same SoC) minus with them",
        required=False,
    ),
)
SETTLEMENT_COLUMNS = names(f for f in SETTLEMENT if f.required)
CURTAILMENT_COLUMNS = ("interval", "time", "peer", "curtailed_kwh", "lost_revenue_usd")
STABILITY_COLUMNS = ("interval", "max_violation")

# --- the network tables (lec_opt.network.tables) -----------------------------------------------

NETWORK_COLUMNS = ("interval", "converged", "v_min_pu", "v_max_pu", "line_loading_max_percent", "losses_kwh")
VOLTAGE_COLUMNS = ("interval", "time", "peer", "bus", "phase", "v_pu")
LINE_COLUMNS = ("line", "loading_max_percent", "interval", "time")

# --- sweep.csv: the swept fields, [series], the metrics, other summary keys, TIMING, TRAILER ------

SERIES = "series"
TRAILER = ("status", "error", "hash")


def priority_count_column(priority: str) -> str:
    """sweep.csv's column of the intervals choosing ``priority``."""
    return f"priority_{priority}"


def alone_column(priority: str, key: str) -> str:
    """sweep.csv's column of a total of ``priority`` held all day."""
    return f"alone_{priority}_{key}"


# the metric columns of sweep.csv, in this order; any other scalar key of a summary follows them
SWEEP_METRICS = (
    K.P2P_ENERGY,
    K.GRID_IMPORT,
    K.GRID_EXPORT,
    K.CES_CHARGE,
    K.CES_DISCHARGE,
    K.CES_SOC_MIN,
    K.CES_SOC_MAX,
    K.PROSUMER_REVENUE_RATIO,
    K.CONSUMER_BILL_RATIO,
    K.CES_SOC_END,
    K.GRID_TO_CES,
    K.EV,
    K.EV_FROM_CES,
    K.EV_FROM_GRID,
    K.PROSUMER_REVENUE_P2P,
    K.PROSUMER_REVENUE_GRID_ONLY,
    K.CONSUMER_BILL_P2P,
    K.CONSUMER_BILL_GRID_ONLY,
    K.EV_BILL,
    K.CES_CASH,
    K.CES_DEGRADATION,
    K.COMMUNITY_SAVING,
    K.SCORE,
    *(priority_count_column(p) for p in PRIORITIES),
    K.TRANSACTIONS,
    K.FALLBACKS,
    *(alone_column(p, K.SCORE) for p in PRIORITIES),
    *(alone_column(p, K.P2P_ENERGY) for p in PRIORITIES),
)


def swept_columns(columns: Iterable[str]) -> list[str]:
    """The swept fields of sweep.csv's columns (a DataFrame is its columns): those before ``series``
    or the first metric."""
    known = {SERIES, *SWEEP_METRICS, *TIMING, *TRAILER}
    out = []
    for column in columns:
        if column in known:
            break
        out.append(str(column))
    return out
