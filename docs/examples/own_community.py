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
# # Put your own community in
#
# A community is a **data folder** (profiles and bids as CSV files) and a **scenario** (a TOML file
# saying who is a prosumer, the tariffs, the CES and the market rules). This example builds both for
# a small street: eight households, three of them with rooftop PV, one EV charger, a 30 kWh
# community battery, a time-of-use tariff and each household's own ask and bid. Replace the made-up
# profiles with your own measurements: the file formats are all there is to it (the
# [scenarios guide](../guides/scenarios.md) lists every file and key).

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import lec_opt

folder = Path(tempfile.mkdtemp()) / "our_street"
data = folder / "data"
data.mkdir(parents=True)

# %% [markdown]
# ## The data folder
#
# Profiles are `time,peer_1,…,peer_N` tables in kW (the mean over each step); `time` is the start of
# each step, any step that divides a day. Here: hourly values, which lec-opt resamples to the trading
# interval conserving energy. Every peer has a PV column (kW per kWp of its roof), so the scenario
# decides who is a prosumer.

# %%
rng = np.random.default_rng(7)  # seeded: the same folder every run
hours = np.arange(24)
times = [f"{h:02d}:00" for h in hours]
n = 8

shape = 0.25 + 0.35 * np.exp(-((hours - 8) ** 2) / 3) + 0.9 * np.exp(-((hours - 19) ** 2) / 4)
load = np.column_stack([shape * rng.uniform(0.6, 1.5) + rng.uniform(0, 0.1, 24) for _ in range(n)])
sun = np.clip(np.cos((hours + 0.5 - 13) / 7 * np.pi / 2), 0, None) ** 1.5
pv = np.column_stack([0.8 * sun * rng.uniform(0.85, 1.0) for _ in range(n)])
ev = np.where((hours >= 18) & (hours <= 21), 3.7, 0.0)[:, None]


def table(values: np.ndarray, prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame(values.round(4), columns=[f"{prefix}{k}" for k in range(1, values.shape[1] + 1)])
    frame.insert(0, "time", times)
    return frame


table(load, "peer_").to_csv(data / "load_kw.csv", index=False)
table(pv, "peer_").to_csv(data / "pv_kw_per_kwp.csv", index=False)
table(ev, "ev_").to_csv(data / "ev_kw.csv", index=False)
bids = pd.DataFrame(
    {
        "peer": range(1, n + 1),
        "ask": rng.uniform(0.11, 0.15, n).round(3),
        "bid": rng.uniform(0.17, 0.24, n).round(3),
    }
)
bids.to_csv(data / "bids_asks.csv", index=False)
bids

# %% [markdown]
# A time-of-use tariff is one more table, `time,buy,sell` in $/kWh (averaged over each interval):
# cheap nights, an expensive evening peak.

# %%
buy = np.where(hours < 7, 0.15, np.where((hours >= 16) & (hours < 21), 0.32, 0.22))
pd.DataFrame({"time": times, "buy": buy, "sell": 0.08}).to_csv(folder / "tariff.csv", index=False)

# %% [markdown]
# ## The scenario
#
# A scenario may start from another with `base` and state only what it changes; paths are relative
# to the file that names them, and a bare name that is not a file beside it is a shipped scenario
# (`base = "paper_30min.toml"`). Here every section that describes the street is given, and the
# market and solver settings are the paper's.

# %%
(folder / "our_street.toml").write_text(
    """
base = "paper_30min.toml"
name = "our_street"
description = "Eight households, three with PV, one EV charger, a 30 kWh battery"

[data]
dir = "data"

[community]
n_peers = 8
prosumers = [1, 4, 6]
pv_kwp = {1 = 4.0, 4 = 6.0, 6 = 3.5}

[tariffs]
file = "tariff.csv"

[ces]
capacity_kwh = 30.0
soc_initial = 0.4
charge_power_kw = 7.0
discharge_power_kw = 7.0
"""
)
scenario = lec_opt.load_scenario(folder / "our_street.toml")
scenario.community

# %% [markdown]
# Bad input stops before any work, with the file, the row and the field. A bid row with a
# misspelt price, for instance:

# %%
broken = folder / "broken"
broken.mkdir()
for name in ("load_kw.csv", "pv_kw_per_kwp.csv", "ev_kw.csv"):
    (broken / name).write_bytes((data / name).read_bytes())
(broken / "bids_asks.csv").write_text((data / "bids_asks.csv").read_text().replace("0.1", "O.1", 1))
try:
    lec_opt.run_day(scenario.with_data_dir(broken), method="greedy")
except lec_opt.InputError as err:
    print(err)

# %% [markdown]
# ## Solve the day
#
# The greedy matching is the paper's own; `method="milp"` solves every interval's lexicographic
# model with HiGHS instead (a street this size takes seconds either way).

# %%
run = lec_opt.run_day(scenario, method="milp", workers=1)
out = lec_opt.write_day(run, folder / "results")
settlement = pd.read_csv(out / "settlement.csv")
settlement

# %% [markdown]
# Each household's bill (a negative bill is revenue) with P2P trading and the CES, against the grid
# alone:

# %%
fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
x = settlement["peer"]
grid_only = settlement["bill_grid_only_usd"] - settlement["revenue_grid_only_usd"]
with_p2p = settlement["bill_usd"] - settlement["revenue_usd"]
ax.bar(x - 0.2, grid_only, width=0.4, label="grid only")
ax.bar(x + 0.2, with_p2p, width=0.4, label="with P2P and the CES")
ax.axhline(0, color="black", lw=0.8)
ax.set_xlabel("household (peer)")
ax.set_ylabel("net bill over the day, $")
ax.set_xticks(x)
ax.legend()
plt.show()
