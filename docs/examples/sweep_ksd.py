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
# # Sweep k, S and d
#
# The CES utilities U01 (charging) and U02 (discharging) of the paper's eq. 2–3 have three
# parameters: the scaling factor **k**, the satisfaction factor **S** and the degradation cost
# **d**. A sweep solves the day once per point of a grid of scenario values and tabulates the
# outcome (`sweep.csv`), with a figure per swept field. From the command line:
#
# ```bash
# lec-opt sweep --scenario models/paper_30min.toml --method greedy \
#     --param ces.k=0.2:1.0:3 --param ces.S=0.001,0.01 --out results/sweep_kS
# ```
#
# Any scenario field can be swept (`PATH=VALUES`: a list `a,b,c` or a range `start:stop:count`);
# `--mode zip` pairs the values instead of taking every combination, and `--resume` continues a
# sweep that stopped.

# %%
import matplotlib.pyplot as plt

import lec_opt

scenario = lec_opt.load_scenario("paper_30min.toml")  # a shipped scenario, by name

# %% [markdown]
# ## k and S together
#
# Six points: k ∈ {0.2, 0.6, 1.0} × S ∈ {0.001, 0.01} 1/kWh. `executor="serial"` runs the points
# one after the other in this process (the default, `local`, spreads them over the cores).

# %%
ks = lec_opt.run_sweep(
    [lec_opt.parse_param("ces.k=0.2:1.0:3"), lec_opt.parse_param("ces.S=0.001,0.01")],
    scenario,
    method="greedy",
    executor="serial",
)
columns = ["ces.k", "ces.S", "ces_charge_kwh", "ces_discharge_kwh", "ces_soc_min", "ces_soc_max", "grid_import_kwh"]
ks[columns].round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
for s, group in ks.groupby("ces.S"):
    axes[0].plot(group["ces.k"], group["ces_charge_kwh"], marker="o", label=f"S = {s:g}")
    axes[1].plot(group["ces.k"], group["ces_soc_max"], marker="o", label=f"S = {s:g}")
axes[0].set_ylabel("energy into the CES over the day, kWh")
axes[1].set_ylabel("highest state of charge")
for ax in axes:
    ax.set_xlabel("k")
    ax.legend()
plt.show()

# %% [markdown]
# With k = 0.2 the utility of charging is too small to pay for the energy: the CES hardly charges,
# runs down to its lowest state of charge and the grid supplies the evening. A larger S (the
# satisfaction saturates sooner) makes the CES take less at each interval.
#
# ## The degradation cost d
#
# d is charged per kWh into and out of the CES. Near the spread between the grid's buy and sell
# prices (0.20 − 0.09 = 0.11 $/kWh) storing surplus stops paying, the CES stores less and more
# surplus goes to the grid. With `out=` (`--out`) a sweep writes its folder (`sweep.csv`,
# `sweep.json`, `points/` for `--resume`) and draws a figure per metric group against each swept
# field (`lec-opt report` draws them again).

# %%
d = lec_opt.run_sweep({"ces.degradation": [0.005, 0.05, 0.1]}, scenario, method="greedy", executor="serial")
d[["ces.degradation", "ces_charge_kwh", "ces_discharge_kwh", "grid_export_kwh", "grid_import_kwh"]].round(2)

# %%
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
for column, label in [
    ("ces_charge_kwh", "into the CES"),
    ("ces_discharge_kwh", "out of the CES"),
    ("grid_export_kwh", "exported"),
]:
    ax.plot(d["ces.degradation"], d[column], marker="o", label=label)
ax.set_xlabel("degradation cost d, $/kWh")
ax.set_ylabel("kWh over the day")
ax.legend()
plt.show()
