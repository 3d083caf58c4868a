# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reproduce the paper's day and its figures
#
# The shipped community is the paper's: 100 peers on a ring, the odd ones prosumers with 5 kWp of
# rooftop PV, 15 EV chargers and a community energy storage (CES) run by an aggregator. This example
# solves its day, compares the paper's two headline ratios (prosumer revenue 1.61× and consumer
# bill 0.72× of grid-only) with ours, and draws the paper's figures.
#
# The site runs it with the greedy matching and 30-minute intervals (`models/paper_30min.toml`) so it
# takes seconds; `lec-opt solve-day` (the MILP, 5-minute intervals) is the full run. From the command
# line the same is:
#
# ```bash
# lec-opt solve-day --scenario models/paper_30min.toml --method greedy --report --out results/day
# ```

# %%
import json
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

import lec_opt
from lec_opt.io.results import load_results
from lec_opt.report import fig_ces, fig_demand_pv, fig_p2p_priorities, fig_settlement

scenario = lec_opt.load_scenario("paper_30min.toml")  # a shipped scenario, by name
print(scenario.name, "-", scenario.description)
print(f"{scenario.intervals_per_day} intervals of {scenario.interval_minutes} minutes")

# %% [markdown]
# ## Solve the day
#
# `run_day` matches every interval under each priority (A, B, C), lets the aggregator choose one per
# interval, walks the CES state of charge through the day and settles every peer's money.

# %%
run = lec_opt.run_day(scenario, method="greedy")
folder = lec_opt.write_day(run, Path(tempfile.mkdtemp()) / "paper_day")
sorted(p.name for p in folder.iterdir())

# %% [markdown]
# ## The headline numbers beside the paper's
#
# `summary.json` holds the day's totals; its `paper` entry holds the paper's published values.

# %%
summary = json.loads((folder / "summary.json").read_text())
paper = summary["paper"]
pd.DataFrame(
    {
        "lec-opt": [summary["prosumer_revenue_ratio"], summary["consumer_bill_ratio"]],
        "paper": [paper["prosumer_revenue_ratio"], paper["consumer_bill_ratio"]],
    },
    index=["prosumer revenue, P2P / grid-only", "consumer bill, P2P / grid-only"],
).round(3)

# %%
pd.Series(
    {
        "P2P energy, kWh": summary["p2p_energy_kwh"],
        "transactions": summary["transactions"],
        "grid import, kWh": summary["grid_import_kwh"],
        "grid export, kWh": summary["grid_export_kwh"],
        "community saving, $": summary["community_saving_usd"],
        "CES SoC range": f"{summary['ces_soc_min']:.2f}–{summary['ces_soc_max']:.2f}",
        "intervals under A / B / C": " / ".join(str(summary["priority_counts"].get(p, 0)) for p in "ABC"),
    }
)

# %% [markdown]
# ## The paper's figures
#
# Each figure of the report is a function of the results folder (`lec_opt.report`); here are four:
# demand and PV over the day (the paper's Fig. 3), the CES flows and state of charge (Fig. 6), the
# P2P energy each priority would trade with the aggregator's choice marked (Figs. 7–9) and every
# peer's revenue or bill against grid-only (Figs. 10–11). `lec_opt.write_report(folder)` (or
# `lec-opt report DIR`) draws all of them into `figures/` and writes a self-contained
# `report.html` beside them (the [report guide](../guides/report.md) lists them).

# %%
results = load_results(folder)  # the folder read once, for the four figures
for draw in (fig_demand_pv, fig_ces, fig_p2p_priorities, fig_settlement):
    display(Image(filename=str(draw(results)), width=720))

# %% [markdown]
# ## Interval by interval
#
# `intervals.csv` has one row per interval: supply, demand, the community balance α, the chosen
# priority, each priority's P2P energy, the CES flows and SoC and the grid.

# %%
intervals = pd.read_csv(folder / "intervals.csv")
columns = ["time", "supply_kwh", "demand_kwh", "alpha_kwh", "chosen", "p2p_kwh_A", "p2p_kwh_B", "p2p_kwh_C", "soc_end"]
intervals[columns].iloc[12:44:4].round(2)
