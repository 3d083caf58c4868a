"""Parts of the day (night, morning shoulder, midday peak, afternoon shoulder, evening) from the sun.

The paper describes its Fig. 12 by periods (§5.5): A "at the beginning of the day and towards the
end", B "in the peak hours", C "during the daytime". lec-opt finds them in the community's PV
generation g(t) of the day itself, so they follow the data (a winter day has a short daytime):
daylight runs from the first to the last interval with g ≥ ``DAYLIGHT_SHARE``·max g; night is
before it, evening after it, and daylight is cut into three equal thirds: morning shoulder,
midday peak, afternoon shoulder (models/FORMULATION.md §7). Thirds, not a threshold on g: east
and west roofs make the default day's PV nearly flat from 07:00 to 18:00, so "where g is high"
would be most of the day. (The parts of one day; ``lec_opt.period`` is a run of many days.)
"""

from __future__ import annotations

import numpy as np

PERIODS = ("night", "morning shoulder", "midday peak", "afternoon shoulder", "evening")
DAYLIGHT_SHARE = 0.05


def day_periods(pv_kwh: np.ndarray) -> np.ndarray:
    """The period (one of ``PERIODS``) of every interval, from the community's PV per interval.

    Without any PV the first half of the day is night and the second evening.
    """
    g = np.asarray(pv_kwh, dtype=float)
    n = len(g)
    out = np.empty(n, dtype=object)
    top = float(g.max()) if n else 0.0
    if top <= 0.0:
        out[: n // 2], out[n // 2 :] = "night", "evening"
        return out
    lit = np.flatnonzero(g >= DAYLIGHT_SHARE * top)
    t0, t1 = int(lit[0]), int(lit[-1]) + 1  # daylight is [t0, t1)
    cut1, cut2 = t0 + round((t1 - t0) / 3), t0 + round(2 * (t1 - t0) / 3)
    out[:t0] = "night"
    out[t0:cut1] = "morning shoulder"
    out[cut1:cut2] = "midday peak"
    out[cut2:t1] = "afternoon shoulder"
    out[t1:] = "evening"
    return out


def period_spans(periods: np.ndarray, interval_minutes: int) -> dict[str, str]:
    """``{period: "HH:MM–HH:MM"}`` for the periods that occur (each is one contiguous run)."""
    out = {}
    for w in PERIODS:
        idx = np.flatnonzero(periods == w)
        if len(idx):
            a, b = idx[0] * interval_minutes, (idx[-1] + 1) * interval_minutes
            out[w] = f"{a // 60:02d}:{a % 60:02d}–{b // 60:02d}:{b % 60:02d}"
    return out


def counts_by_period(periods: np.ndarray, chosen, priorities: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """How often each priority was chosen in each period: ``{period: {priority: count}}``."""
    chosen = np.asarray(chosen, dtype=object)
    return {w: {p: int(np.sum((periods == w) & (chosen == p))) for p in priorities} for w in PERIODS}
