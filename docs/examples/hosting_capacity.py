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
# # How much PV can the feeder host?
#
# The IEEE European LV Test Feeder's 55 households, every one a prosumer, with more and more PV
# per roof: at each size the market runs its day (greedy, 15-minute intervals) and every interval
# gets its unbalanced power flow. Twice: with the network's limits **off** (the market ignores the
# feeder, the flows only report) and **enforced** (every interval keeps EN 50160's 0.90–1.10 p.u.
# band and the cable and transformer ratings through the least PV curtailment and the CES,
# `models/FORMULATION.md` §13). Off, the table shows what breaks the band; enforced, what keeping
# it costs. From the command line:
#
# ```bash
# lec-opt sweep --scenario models/ieee_lv_high_pv.toml --param community.pv_kwp=4:10:3 \
#     --param network.limits=off,enforced --method greedy --power-flow --out results/hosting
# ```

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import lec_opt
from lec_opt.report.curtailment_figures import distance_from_source_m

base = lec_opt.load_scenario("ieee_lv_high_pv.toml")  # every peer a prosumer (10 kWp as shipped)
scenario = base.model_copy(update={"interval_minutes": 15})
table = lec_opt.run_sweep(
    {"community.pv_kwp": "4:10:3", "network.limits": ["off", "enforced"]},
    scenario,
    method="greedy",
    executor="serial",
    power_flow=True,
    out=Path(tempfile.mkdtemp()) / "hosting",
    figures=False,
)
off = table[table["network.limits"] == "off"].set_index("community.pv_kwp")
on = table[table["network.limits"] == "enforced"].set_index("community.pv_kwp")
planner = off[["v_max_pu", "bus_minutes_outside_en50160", "line_loading_max_percent"]].join(
    on[["v_max_pu", "bus_minutes_outside_en50160", "curtailed_kwh", "curtailed_percent_of_pv", "limits_cost_usd"]],
    lsuffix=" (off)",
    rsuffix=" (enforced)",
)
planner.round(3)

# %%
fig, (volts, curtailed) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
volts.plot(off.index, off["v_max_pu"], marker="o", label="limits off")
volts.plot(on.index, on["v_max_pu"], marker="s", label="limits enforced")
volts.axhline(1.10, color="k", linestyle="--", label="EN 50160's 1.10 p.u.")
volts.set_xlabel("PV per household, kWp")
volts.set_ylabel("highest voltage of the day, p.u.")
volts.legend()
curtailed.bar(on.index, on["curtailed_percent_of_pv"], width=1.2)
curtailed.set_xlabel("PV per household, kWp")
curtailed.set_ylabel("PV curtailed to keep the band, %")
plt.show()

# %%
inside = off[off["bus_minutes_outside_en50160"] == 0]
host = inside.index.max() if len(inside) else None
print(
    f"With no curtailment the feeder keeps every bus inside EN 50160 up to {host:g} kWp a household on this day"
    if host is not None
    else "No PV size of the sweep keeps every bus inside EN 50160 on this day without curtailment"
)
top = on.index.max()
print(
    f"Enforced, {top:g} kWp a household stays inside the band (highest {on.loc[top, 'v_max_pu']:.4f} p.u.) "
    f"by curtailing {on.loc[top, 'curtailed_kwh']:.1f} kWh, {on.loc[top, 'curtailed_percent_of_pv']:.2f} % of the PV, "
    f"which changes the prosumers' revenue by ${-on.loc[top, 'limits_cost_usd']:.2f}"
)

# %% [markdown]
# Cables and the transformer stay far below their ratings while the voltage leaves the band: on
# this feeder voltage, not current, limits the PV. The voltage rises most at the far end of the
# long branches, where the prosumers' export flows furthest, so that is where the least
# curtailment falls.
#
# ## Where the CES helps
#
# The CES is a lever too: charging at noon lowers the voltage around its bus. At the transformer
# the source holds the voltage and the CES cannot lower it; down the feeder it can. The same
# 10 kWp day with the CES at the transformer, mid-feeder (bus 452, 140 m of cable) and at the far
# end (bus 882, 296 m):

# %%
at_bus = {"transformer": "1", "mid-feeder": "452", "far end": "882"}
enforced = scenario.model_copy(update={"network": scenario.network.model_copy(update={"limits": "enforced"})})
ces_table = lec_opt.run_sweep(
    {"network.ces_bus": list(at_bus.values())},
    enforced,
    method="greedy",
    executor="serial",
    out=Path(tempfile.mkdtemp()) / "ces_bus",
    figures=False,
).set_index("network.ces_bus")
ces_table.index = list(at_bus)
ces_table[["curtailed_kwh", "curtailed_percent_of_pv", "limits_cost_usd", "ces_charge_kwh"]].round(3)

# %%
fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained")
ax.bar(ces_table.index, ces_table["curtailed_kwh"])
ax.set_ylabel("PV curtailed in the day, kWh")
ax.set_title("10 kWp a household: the CES's bus")
plt.show()
avoided = ces_table.loc["transformer", "curtailed_kwh"] - ces_table.loc["far end", "curtailed_kwh"]
print(f"The CES at the far end avoids {avoided:.1f} kWh of the curtailment it leaves at the transformer")

# %% [markdown]
# ## Who gives up what: `least` against `equal_share`
#
# `curtailment = "least"` (the default) curtails as little PV as the limits allow, so it falls on the
# houses at the far end of the long branches, whose export raises the voltage most.
# `"equal_share"` asks every seller for the same share of its surplus: more PV is lost in all, but
# no house carries it alone. The same 10 kWp day, CES at the transformer, under both rules; each
# prosumer's curtailment against its cable distance from the transformer:

# %%
per_rule = {}
for rule in ("least", "equal_share"):
    network = enforced.network.model_copy(update={"curtailment": rule})
    run = lec_opt.run_day(enforced.model_copy(update={"network": network}), method="greedy")
    per_rule[rule] = sum(s.network.curtailed_kwh for s in run.steps)
metres = distance_from_source_m(run.day)
fig, ax = plt.subplots(figsize=(9, 3.5), layout="constrained")
for rule, marker in (("least", "o"), ("equal_share", "s")):
    ax.scatter(metres, per_rule[rule], marker=marker, label=f"{rule}: {per_rule[rule].sum():.1f} kWh in all")
ax.set_xlabel("cable distance of the prosumer's bus from the transformer, m")
ax.set_ylabel("PV curtailed in the day, kWh")
ax.legend()
plt.show()
for rule, kwh in per_rule.items():
    print(
        f"{rule}: {kwh.sum():.1f} kWh curtailed, by {int((kwh > 1e-6).sum())} of {kwh.size} prosumers; "
        f"the most by one prosumer {kwh.max():.2f} kWh"
    )
