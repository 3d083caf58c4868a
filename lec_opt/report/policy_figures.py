"""The figures of the aggregator's choice and the CES policy (``figures/10..11_*.png``).

10 the chosen priority over the day and its counts by period, beside the paper's Fig. 12;
11 the CES state of charge under the myopic rule and with perfect foresight, when the day was
solved with ``ces.policy = "foresight"``. Each function takes a results folder (or its path) and
returns the PNG it wrote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lec_opt.errors import InputError
from lec_opt.io.results import Results
from lec_opt.io.schema import INTERVALS_FILE, SummaryKey
from lec_opt.report.drawing import (
    PRIORITY_COLOURS,
    PRIORITY_NAMES,
    as_results,
    new_figure,
    out_path,
    save,
    time_axis,
)

_PERIOD_SHADES = {
    "night": "#e8e8f4",
    "morning shoulder": "#fff4d6",
    "midday peak": "#ffe3a3",
    "afternoon shoulder": "#fff4d6",
    "evening": "#e8e8f4",
}


def fig_selection(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """10. The aggregator's chosen priority over the day and its counts by period, beside the paper (Fig. 12)."""
    from lec_opt.day.day_parts import PERIODS, counts_by_period, day_periods
    from lec_opt.paper import FIG12_PRIORITY_BY_PERIOD

    res = as_results(results)
    chosen = res.intervals["chosen"].astype(str).to_numpy()
    periods = day_periods(res.day.pv_kwh.sum(axis=1))
    priorities = res.priorities
    fig = new_figure("selection")
    ax, bars = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    e = res.edges
    for w in PERIODS:
        idx = np.flatnonzero(periods == w)
        if len(idx):
            ax.axvspan(e[idx[0]], e[idx[-1] + 1], color=_PERIOD_SHADES[w], lw=0)
            ax.text((e[idx[0]] + e[idx[-1] + 1]) / 2, len(priorities) - 0.45, w, ha="center", va="top", fontsize=8)
    level = {p: k for k, p in enumerate(priorities)}
    mid = (np.arange(len(chosen)) + 0.5) * res.hours
    for p in priorities:
        on = chosen == p
        ax.scatter(
            mid[on], np.full(on.sum(), level[p]), s=10, marker="s", color=PRIORITY_COLOURS[p], label=f"{p} ({on.sum()})"
        )
    ax.set_yticks(range(len(priorities)))
    ax.set_yticklabels([PRIORITY_NAMES[p] for p in priorities])
    ax.set_ylim(-0.6, len(priorities) - 0.3)
    criterion = " → ".join((res.summary or {}).get(SummaryKey.SELECTION_CRITERION) or []) or "?"
    ax.set_title(f"Priority chosen by the aggregator in each interval (criterion: {criterion}; cf. paper Fig. 12)")
    time_axis(ax, res)
    counts = counts_by_period(periods, chosen, tuple(priorities))
    x = np.arange(len(PERIODS))
    width = 0.8 / len(priorities)
    for k, p in enumerate(priorities):
        heights = [counts[w][p] for w in PERIODS]
        paper = [FIG12_PRIORITY_BY_PERIOD[w][0] == p for w in PERIODS]
        bars.bar(
            x + (k - (len(priorities) - 1) / 2) * width,
            heights,
            width=width,
            color=PRIORITY_COLOURS[p],
            edgecolor=["black" if on else "none" for on in paper],
            linewidth=1.8,
            label=p,
        )
    bars.set_xticks(x)
    bars.set_xticklabels([f"{w}\n(paper: {FIG12_PRIORITY_BY_PERIOD[w][0]})" for w in PERIODS])
    bars.set_ylabel("intervals chosen")
    bars.set_title(
        "Chosen priority by period; black outline: the priority the paper's §5.5 describes there", fontsize=10
    )
    bars.legend(loc="upper center", fontsize=9, ncol=len(priorities))
    bars.grid(True, axis="y", alpha=0.3)
    return save(fig, out_path(res, out_dir, "10_selection.png"))


def fig_foresight(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """11. The CES state of charge under the myopic rule and with foresight, and the cumulative gain."""
    res = as_results(results)
    iv = res.intervals
    if "soc_end_myopic" not in iv.columns:
        raise InputError(
            res.dir / INTERVALS_FILE,
            "no myopic path (solve the day with ces.policy = 'foresight')",
            field="soc_end_myopic",
        )
    ces = res.day.scenario.ces
    e = res.edges
    fore = np.append(ces.soc_initial, iv["soc_end"].to_numpy(dtype=float)) * 100
    myopic = np.append(ces.soc_initial, iv["soc_end_myopic"].to_numpy(dtype=float)) * 100
    gain = np.cumsum(iv["value_usd"].to_numpy(dtype=float) - iv["value_usd_myopic"].to_numpy(dtype=float))
    fig = new_figure("foresight")
    ax, ax_gain = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ax.axhspan(ces.soc_min * 100, ces.soc_max * 100, color="#1f77b4", alpha=0.07, lw=0)
    ax.axhline(
        ces.grid_recharge_threshold * 100,
        color="#7f7f7f",
        ls=":",
        lw=1,
        label=f"grid recharge at SoC ≤ {ces.grid_recharge_threshold:.0%}",
    )
    ax.plot(
        e, myopic, color="#d62728", lw=1.6, label=f"myopic (the paper's rule): {myopic.min():.1f}–{myopic.max():.1f} %"
    )
    ax.plot(e, fore, color="black", lw=1.6, ls="--", label=f"perfect foresight: {fore.min():.1f}–{fore.max():.1f} %")
    ax.set_ylabel("state of charge (%)")
    ax.set_ylim(0, 100)
    total = (res.summary or {}).get(SummaryKey.FORESIGHT_GAIN)
    ax.set_title(
        "CES state of charge: myopic rule vs the day's schedule with perfect foresight"
        + (f" (gain ${total:.2f})" if total is not None else "")
    )
    ax.legend(loc="lower left", fontsize=9)
    time_axis(ax, res, label=False)
    ax_gain.stairs(gain, e, color="#2ca02c", lw=1.6, label="cumulative day value, foresight − myopic ($)")
    ax_gain.axhline(0, color="black", lw=0.6)
    ax_gain.set_ylabel("$")
    ax_gain.legend(loc="upper left", fontsize=9)
    time_axis(ax_gain, res)
    return save(fig, out_path(res, out_dir, "11_foresight_soc.png"))
