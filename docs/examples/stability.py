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
# # Check stability and find stable prices
#
# The paper's title promises cooperative game theory: in each interval the peers form a coalition
# that shares the money trading saves against the grid. A settlement is **stable** when it lies in
# the **core** of that game: no group of peers would do better trading on its own. `check_day`
# takes a solved day's folder and, for each interval, finds the most violated coalition (a
# separation MILP), counts individual-rationality violations, computes the least-core ε and
# Shapley values, and with `with_prices=True` looks for per-trade prices that put the interval
# in the core. `lec-opt game RESULTS_DIR --prices` does the same from the command line.
#
# The core check of a 100-player game takes one to a few seconds per interval, so this page checks three
# intervals of the greedy 30-minute day.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import lec_opt

scenario = lec_opt.load_scenario("paper_30min.toml")  # a shipped scenario, by name
run = lec_opt.run_day(scenario, method="greedy")
folder = lec_opt.write_day(run, Path(tempfile.mkdtemp()) / "day")

# %% [markdown]
# ## The core check
#
# Morning, afterafternoon and evening (interval indices of the 30-minute day):

# %%
intervals = [run.day.interval_at(h * 60) for h in (10, 14, 18)]
checks = lec_opt.check_day(folder, intervals=intervals, with_prices=True, samples=200)
pd.DataFrame([c.row() for c in checks]).set_index("time").T

# %% [markdown]
# `in_core` is False and `max_violation` (in $) is the most a coalition could gain by leaving: the
# settlement's prices (mid-market, or set from the asks and bids under priority C) share each trade's
# saving between seller and buyer, and a coalition of the side that is short of energy can do better. `least_core_epsilon` is the smallest uniform subsidy
# that would make the game's core non-empty (0: the core is not empty), and `shapley_distance` how
# far the settlement is from the Shapley values.

# %% [markdown]
# ## Stable prices
#
# Where the settlement is outside the core, `stable_prices` re-prices each executed trade (between
# the grid's sell and buy prices) so that the payoffs are in the core, moving as little money as
# possible. The community balance α = Σ surplus − Σ deficit of each checked interval, and the
# average price of its trades before and after:

# %%
pd.DataFrame(
    {
        c.time: {
            "alpha_kwh": run.steps[c.interval].result.snapshot.total_surplus_kwh
            - run.steps[c.interval].result.snapshot.total_deficit_kwh,
            "settled price, $/kWh (mean)": sum(t.price_usd_per_kwh * t.kwh for t in c.trades)
            / sum(t.kwh for t in c.trades),
            "stable price, $/kWh (mean)": sum(p * t.kwh for p, t in zip(c.prices.prices, c.trades))
            / sum(t.kwh for t in c.trades),
            "money moved, $": c.prices.money_moved,
        }
        for c in checks
    }
).round(4)

# %% [markdown]
# Each trade of the 14:00 interval at its settled price and at its stable price:

# %%
afternoon = checks[1]
trades = pd.DataFrame(
    {
        "seller": [t.seller for t in afternoon.trades],
        "buyer": [t.buyer for t in afternoon.trades],
        "kwh": [t.kwh for t in afternoon.trades],
        "price": [t.price_usd_per_kwh for t in afternoon.trades],
        "stable price": list(afternoon.prices.prices),
    }
)
print(f"{len(trades)} trades; money moved to reach the core: ${afternoon.prices.money_moved:.3f}")
trades.head(8).round(4)

# %%
fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
order = trades.sort_values("kwh", ascending=False).reset_index(drop=True)
ax.bar(order.index - 0.2, order["price"], width=0.4, label="settled")
ax.bar(order.index + 0.2, order["stable price"], width=0.4, label="stable (in the core)")
ax.axhline(scenario.tariffs.sell, color="grey", ls=":", label="grid sell price")
ax.axhline(scenario.tariffs.buy, color="grey", ls="--", label="grid buy price")
ax.set_xlabel(f"trade at {afternoon.time}, largest first")
ax.set_ylabel("$/kWh")
ax.set_ylim(0, scenario.tariffs.buy * 1.15)
ax.legend(ncol=2, fontsize=8)
plt.show()

# %% [markdown]
# When the community has more surplus than deficit (α > 0) the buyers are the scarce side: a
# coalition of buyers with a few sellers could pay the sellers no more than the grid's sell price,
# and the core gives most of the saving to the buyers; with α < 0 it is the other way round.
# `lec_opt.analysis.stability.write_stability(folder, checks)` writes these results as
# `stability.csv` and `stable_prices.csv` into the folder, and the report then draws the core
# violation per interval.
