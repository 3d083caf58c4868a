"""The figures of a solved day's peers: 8 the settlement per peer (revenue and bills against grid
only), and 9 the core violation per interval when the game check wrote ``stability.csv``. Each
function takes a results folder (or its path) and returns the PNG it wrote."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lec_opt.errors import InputError
from lec_opt.io.results import Results, in_core
from lec_opt.io.schema import STABILITY_FILE, SummaryKey
from lec_opt.report.day_figures import paper_values
from lec_opt.report.drawing import as_results, headroom, new_figure, out_path, save, time_axis


def _summary_ratio(res: Results, key: str) -> str:
    """summary.json's ratio ``key`` as the console shows it ("?" without a summary)."""
    value = (res.summary or {}).get(key)
    return "?" if value is None else f"{value:.2f}"


def fig_settlement(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """8. Per-peer revenue of prosumers and bill of consumers, P2P vs grid-only, $ per day (paper Figs. 13–15)."""
    res = as_results(results)
    st = res.settlement
    paper = paper_values(res)
    fig = new_figure("settlement")
    axes = fig.subplots(2, 1)
    panels = (
        (
            "prosumer",
            "revenue_usd",
            "revenue_grid_only_usd",
            "revenue",
            SummaryKey.PROSUMER_REVENUE_RATIO,
            "cf. paper Figs. 13–14",
        ),
        ("consumer", "bill_usd", "bill_grid_only_usd", "bill", SummaryKey.CONSUMER_BILL_RATIO, "cf. paper Fig. 15"),
    )
    for ax, (role, p2p_col, grid_col, word, ratio_key, ref) in zip(axes, panels):
        rows = st[st["role"] == role]
        x = np.arange(len(rows))
        ax.bar(
            x - 0.2,
            rows[grid_col],
            width=0.4,
            color="#9e9e9e",
            label=f"grid only (all {role}s: ${rows[grid_col].sum():.2f})",
        )
        ax.bar(
            x + 0.2,
            rows[p2p_col],
            width=0.4,
            color="#1f77b4" if role == "prosumer" else "#ff7f0e",
            label=f"with P2P trading and CES (all {role}s: ${rows[p2p_col].sum():.2f})",
        )
        ratio = rows[p2p_col].sum() / rows[grid_col].sum() if rows[grid_col].sum() else float("nan")
        title = f"{role.capitalize()}s' {word} per peer over the day: P2P / grid-only = {ratio:.2f}"
        if role == "consumer":  # summary.json's ratio counts every peer's bill (prosumers buy at night too)
            title = f"Consumers' (no PV) bills: P2P / grid-only = {ratio:.2f}; all peers' bills {_summary_ratio(res, ratio_key)}"
        if paper.get(ratio_key) is not None:
            title += f" (paper {paper[ratio_key]:.2f}; {ref})"
        ax.set_title(title, fontsize=11)
        ax.set_ylabel(f"{word} ($ per day)")
        step = max(1, math.ceil(len(rows) / 25))
        ax.set_xticks(x[::step])
        ax.set_xticklabels(rows["peer"].to_numpy()[::step])
        ax.set_xlabel(f"{role} (peer number)")
        ax.set_xlim(-0.7, max(len(rows), 1) - 0.3)
        ax.grid(True, axis="y", alpha=0.3)
        headroom(ax, float(max(rows[grid_col].max(), rows[p2p_col].max())) if len(rows) else 1.0, frac=0.25)
        ax.legend(loc="upper right", fontsize=9, ncol=2)
        if not len(rows):
            ax.text(0.5, 0.5, f"no {role}s in this community", ha="center", va="center", transform=ax.transAxes)
    return save(fig, out_path(res, out_dir, "08_settlement.png"))


def fig_stability(results: Results | str | Path, out_dir: str | Path | None = None) -> Path:
    """9a. Core violation per interval (cooperative game; from stability.csv)."""
    res = as_results(results)
    if res.stability is None:
        raise InputError(res.dir / STABILITY_FILE, "file not found (written by the game check)")
    st = res.stability.sort_values("interval")
    idx = st["interval"].to_numpy(dtype=int)
    if len(idx) and (idx.min() < 0 or idx.max() >= res.n_intervals):
        raise InputError(res.dir / STABILITY_FILE, f"interval outside 0..{res.n_intervals - 1}", field="interval")
    viol = st["max_violation"].to_numpy(dtype=float)
    core = in_core(st)
    mid = (idx + 0.5) * res.hours
    fig = new_figure("stability")
    ax = fig.subplots()
    ax.vlines(mid, 0, viol, color=np.where(core, "#2ca02c", "#d62728"), lw=1.2)
    ax.scatter(
        mid[core], viol[core], s=14, color="#2ca02c", zorder=3, label=f"in the core ({int(core.sum())} intervals)"
    )
    ax.scatter(
        mid[~core],
        viol[~core],
        s=14,
        color="#d62728",
        zorder=3,
        label=f"not in the core ({int((~core).sum())} intervals)",
    )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("largest core violation ($ per interval)")
    ax.set_title(f"Core stability of the chosen allocation: {len(st)} intervals checked")
    if "players" in st.columns:
        ax2 = ax.twinx()
        ax2.plot(mid, st["players"].to_numpy(dtype=float), color="#7f7f7f", lw=0.9, ls=":", label="players")
        ax2.set_ylabel("players in the game (count)", color="#7f7f7f")
        ax2.set_ylim(bottom=0)
        ax2.legend(loc="upper right", fontsize=9)
    ax.legend(loc="upper left", fontsize=9)
    time_axis(ax, res)
    return save(fig, out_path(res, out_dir, "09_core_violation.png"))
