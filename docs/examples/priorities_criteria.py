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
# # Compare the priorities and the aggregator's criteria
#
# In every interval sellers and buyers are matched under one of three priorities: **A** biggest
# surplus meets biggest demand, **B** nearest on the ring, **C** lowest ask meets highest bid. The
# aggregator solves all three and executes one, by a **criterion** (`[selection] criterion` in the
# scenario). This example looks at one interval under each priority, then at the day, then at how
# the criterion changes the aggregator's choices.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import lec_opt

scenario = lec_opt.load_scenario("paper_30min.toml")  # a shipped scenario, by name

# %% [markdown]
# ## One interval under A, B and C
#
# `solve_interval(..., priority="all")` returns a result per priority. At noon every priority trades
# nearly all the P2P energy there is (the first lexicographic level maximises it); they differ in
# who trades with whom: B pairs neighbours, C pairs by price and leaves pairs whose bid is below the
# ask untraded.

# %%
noon = lec_opt.solve_interval(scenario, interval="12:00", priority="all", method="greedy")
n = scenario.community.n_peers or 100


def ring_hops(trade) -> int:
    d = abs(trade.seller - trade.buyer)
    return min(d, n - d)


pd.DataFrame(
    {
        p: {
            "P2P energy, kWh": r.p2p_kwh,
            "transactions": r.transactions,
            "mean ring distance, hops (per kWh)": sum(ring_hops(t) * t.kwh for t in r.trades) / r.p2p_kwh,
            "to the CES, kWh": float(np.sum(r.seller_to_ces_kwh)),
            "from the grid, kWh": float(np.sum(r.grid_to_buyer_kwh)),
        }
        for p, r in noon.items()
    }
).round(2)

# %% [markdown]
# ## The day: the aggregator's choice against each priority alone
#
# `run_day` solves every interval under all three priorities; `priority="best"` follows the
# aggregator's choice, and `DayRun.single` holds each priority followed all day.

# %%
run = lec_opt.run_day(scenario, method="greedy")
chosen = pd.Series([s.chosen for s in run.steps], index=[run.day.start(s.index) for s in run.steps])
paths = {"aggregator's choice": run.steps, **{f"{p} all day": run.single[p] for p in "ABC"}}
pd.DataFrame(
    {
        name: {
            "P2P energy, kWh": sum(s.result.p2p_kwh for s in steps),
            "transactions": sum(s.result.transactions for s in steps),
            "sellers' revenue, $": sum(float(np.sum(s.settlement.revenue_usd)) for s in steps),
            "buyers' bill, $": sum(float(np.sum(s.settlement.bill_usd)) for s in steps),
        }
        for name, steps in paths.items()
    }
).round(2)

# %%
fig, ax = plt.subplots(figsize=(8, 2.4), layout="constrained")
colours = {"A": "tab:blue", "B": "tab:orange", "C": "tab:green"}
hours = np.arange(len(chosen)) * scenario.interval_hours
ax.bar(hours, 1, width=scenario.interval_hours, align="edge", color=[colours[p] for p in chosen])
for p, c in colours.items():
    ax.bar([], [], color=c, label=f"priority {p}")
ax.set_xlim(0, 24)
ax.set_xticks(range(0, 25, 3))
ax.set_yticks([])
ax.set_xlabel("hour of the day")
ax.set_title("priority the aggregator executes (criterion: paper)")
ax.legend(ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.45), frameon=False)
plt.show()

# %% [markdown]
# ## The aggregator's criteria
#
# The default criterion, `paper`, is the paper's §5.5: prosumer revenue, then fewest transactions.
# Others are one metric or a list compared lexicographically. A sweep over
# `selection.criterion` solves the day once per criterion and tabulates the outcome.

# %%
criteria = ["paper", "community_saving", "consumer_savings", "p2p_energy", "transactions"]
table = lec_opt.run_sweep({"selection.criterion": criteria}, scenario, method="greedy", executor="serial")
table.set_index("selection.criterion")[
    [
        "priority_A",
        "priority_B",
        "priority_C",
        "p2p_energy_kwh",
        "transactions",
        "prosumer_revenue_ratio",
        "consumer_bill_ratio",
        "community_saving_usd",
    ]
].round(3)

# %%
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
counts = table.set_index("selection.criterion")[["priority_A", "priority_B", "priority_C"]]
counts.columns = ["A", "B", "C"]
counts.plot.barh(stacked=True, ax=ax, color=[colours[p] for p in "ABC"])
ax.set_xlabel("intervals in which the priority is executed")
ax.set_ylabel("")
ax.invert_yaxis()
plt.show()
