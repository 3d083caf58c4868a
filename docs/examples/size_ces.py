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
# # Size the CES at its price
#
# Without a price a bigger community battery always looks better: the community's saving only
# grows with the capacity. This example prices the CES, sweeps its capacity under the paper's
# operating rules, and names the capacity with the largest net benefit: first on the shipped
# community, then on the IEEE European LV feeder's community.
#
# **The prices.** A public range of installed prices for a battery of this size, split into a
# part per kWh of capacity and a part per kW of power, as NREL's REopt tool takes them:
#
# | source | $/kWh | $/kW |
# |---|---|---|
# | REopt API v2 `StorageInputs` defaults (battery replaced after 10 years) | 420 | 840 |
# | REopt.jl `ElectricStorage` defaults before REopt's ATB 2025 update (NREL's announcement "Updated Costs for Battery, PV, and Wind") | 253 | 968 |
#
# We sweep at the low end ($253/kWh, $968/kW) and then price the same operation at the high end.
# A lifetime of 10 years is REopt's battery replacement year. The 5 % discount rate and no yearly
# O&M are this example's assumptions: put your own in `[ces.cost]`. The CES keeps the scenario's
# 100 kW of charge and discharge power, so its power capital ($96,800) is the same at every
# capacity: it lowers every net benefit alike and does not move the best capacity.
#
# **The period.** A sweep point here is a period of 7 synthetic days from 17 March 2025 (the data
# generator's profiles for those dates), scaled to a year by 365 / 7. A week at the spring
# equinox has close to the year's mean day length and PV, so it stands for the year better than
# a June week would. The whole year is the full answer: `--days 365 --start 2025-01-01` on the
# command below (about 50 times the work).

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Image, display

import lec_opt
from lec_opt.analysis.sizing import annualised_cost_usd, best_point

folder = Path(tempfile.mkdtemp())
LOW_END = {"energy_usd_per_kwh": 253.0, "power_usd_per_kw": 968.0}
HIGH_END = {"energy_usd_per_kwh": 420.0, "power_usd_per_kw": 840.0}
priced = folder / "priced.toml"
priced.write_text(
    'base = "paper_5min.toml"\n'  # a shipped scenario, by name
    'name = "paper_priced_ces"\n'
    "[period]\n"
    'start = "2025-03-17"\n'
    "days = 7\n"
    "[ces.cost]\n"
    f"energy_usd_per_kwh = {LOW_END['energy_usd_per_kwh']}\n"
    f"power_usd_per_kw = {LOW_END['power_usd_per_kw']}\n"
    "lifetime_years = 10\n"
    "discount_rate = 0.05\n",
    encoding="utf-8",
)
scenario = lec_opt.load_scenario(priced)

# %% [markdown]
# ## The shipped community
#
# Five capacities from 25 to 400 kWh, then three golden-section steps between the best point's
# neighbours (`refine=3`, each step one more sweep point). The same from the command line:
#
# ```bash
# lec-opt sweep --scenario priced.toml --param ces.capacity_kwh=25:400:5 --method greedy \
#     --refine 3 --out results/sizing
# ```

# %%
table = lec_opt.run_sweep(
    {"ces.capacity_kwh": "25:400:5"}, scenario, method="greedy", executor="serial", out=folder / "sizing", refine=3
)
columns = [
    "ces.capacity_kwh",
    "community_saving_per_year_usd",
    "ces_annualised_cost_usd",
    "net_benefit_per_year_usd",
    "ces_charge_kwh",
    "ev_share_of_ces_discharge",
]
table.sort_values("ces.capacity_kwh")[columns].round(2)

# %%
best = best_point(table)
print(
    f"best capacity at $253/kWh and $968/kW: {best['ces.capacity_kwh']:.0f} kWh, "
    f"net benefit ${best['net_benefit_per_year_usd']:,.0f} a year "
    f"(saving ${best['community_saving_per_year_usd']:,.0f} − CES ${best['ces_annualised_cost_usd']:,.0f} a year)"
)

# %% [markdown]
# The sweep's sizing figure: the saving, the CES's annualised cost and the net benefit against the
# capacity with the best point marked, and beside them what the CES's cycles and grid charging
# come from (the EV chargers are fed through the CES, so a small store cycles many times).

# %%
display(Image(filename=str(folder / "sizing" / "figures" / "sweep_sizing_ces.capacity_kwh.png")))

# %% [markdown]
# ## The other end of the range
#
# The price does not change how the market runs, so the same points priced at $420/kWh and
# $840/kW give the high end's net benefit without solving again.

# %%
ok = table[table["status"] == "ok"].sort_values("ces.capacity_kwh")
high = scenario.model_copy(
    update={"ces": scenario.ces.model_copy(update={"cost": scenario.ces.cost.model_copy(update=HIGH_END)})}
)
high_cost = [
    annualised_cost_usd(high.ces.model_copy(update={"capacity_kwh": float(c)}))[1] for c in ok["ces.capacity_kwh"]
]
high_net = ok["community_saving_per_year_usd"].to_numpy() - high_cost
k = int(high_net.argmax())
print(
    f"best capacity at $420/kWh and $840/kW: {ok['ces.capacity_kwh'].iloc[k]:.0f} kWh, "
    f"net benefit ${high_net[k]:,.0f} a year"
)

fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
ax.plot(ok["ces.capacity_kwh"], ok["community_saving_per_year_usd"], marker="o", label="community saving")
ax.plot(ok["ces.capacity_kwh"], ok["net_benefit_per_year_usd"], marker="o", label="net benefit, $253/kWh, $968/kW")
ax.plot(ok["ces.capacity_kwh"], high_net, marker="o", label="net benefit, $420/kWh, $840/kW")
ax.axhline(0.0, color="grey", linewidth=0.8)
ax.set_xlabel("CES capacity, kWh")
ax.set_ylabel("$ a year")
ax.legend(fontsize=8)
plt.show()

# %%
if (ok["net_benefit_per_year_usd"] < 0).all() and (high_net < 0).all():
    print("At both ends of the range the CES costs more a year than the community saves with it, at every capacity.")
else:
    print("At the low end of the range the best capacity pays for itself.")

# %% [markdown]
# The saving counts what the community keeps against buying everything from the grid, P2P trading
# included, so the CES's own added saving is smaller than the saving shown. The best capacity is
# where a further kWh adds less saving a year than its share of the capital.
#
# ## A feeder
#
# The same on the IEEE European LV feeder's 55 peers (`ieee_lv_feeder.toml`, a 500 kWh, 55 kW
# CES by default): three capacities over two days, no refinement, to keep this page quick.

# %%
feeder = folder / "feeder_priced.toml"
feeder.write_text(
    priced.read_text(encoding="utf-8")
    .replace('"paper_5min.toml"', '"ieee_lv_feeder.toml"')
    .replace("paper_priced_ces", "feeder_priced_ces")
    .replace("days = 7", "days = 2"),
    encoding="utf-8",
)
on_feeder = lec_opt.run_sweep(
    {"ces.capacity_kwh": "50:450:3"},
    feeder,
    method="greedy",
    executor="serial",
    out=folder / "feeder_sizing",
    figures=False,
)
best = best_point(on_feeder)
print(
    f"feeder, best capacity at $253/kWh and $968/kW: {best['ces.capacity_kwh']:.0f} kWh, "
    f"net benefit ${best['net_benefit_per_year_usd']:,.0f} a year"
)
on_feeder[columns].round(2)
