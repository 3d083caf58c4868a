"""What every figure of the report shares: fixed sizes, the Agg canvas, atomic PNGs, axes and colours.

Every figure has a fixed size (``FIGSIZE`` inches at ``DPI``), so its PNG is
``FIGSIZE[kind] * DPI`` pixels. Figures are plain ``matplotlib.figure.Figure`` objects drawn with
the Agg canvas: no display, no pyplot state. Files are written atomically.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # never switch the backend under an interactive session
    matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure

from lec_opt.io.atomic import atomic_open
from lec_opt.io.results import Results, load_results
from lec_opt.io.schema import FIGURES_DIR

DPI = 100
FIGSIZE: dict[str, tuple[float, float]] = {  # inches; pixels = inches * DPI
    "demand_pv": (11.0, 5.0),
    "ev": (11.0, 5.0),
    "surplus_deficit": (11.0, 5.0),
    "ces": (11.0, 7.0),
    "p2p": (11.0, 6.0),
    "transactions": (11.0, 6.0),
    "ring": (10.0, 8.0),
    "settlement": (12.0, 8.0),
    "stability": (11.0, 6.0),
    "voltage_band": (11.0, 6.0),
    "feeder_map": (10.0, 9.0),
    "peer_voltages": (11.0, 7.0),
    "feeder_cables": (10.0, 9.0),
    "curtailment": (11.0, 6.5),
    "selection": (12.0, 7.0),
    "foresight": (11.0, 7.0),
}

PRIORITY_COLOURS = {"A": "#1f77b4", "B": "#ff7f0e", "C": "#2ca02c"}
PRIORITY_NAMES = {
    "A": "A: biggest surplus to biggest demand",
    "B": "B: nearest on the ring",
    "C": "C: lowest ask to highest bid",
}


def as_results(results: Results | str | Path) -> Results:
    """A results folder already read, or its path (read and checked now)."""
    return results if isinstance(results, Results) else load_results(results)


def new_figure(kind: str) -> Figure:
    """A new figure of a fixed size (``FIGSIZE[kind]``) at the report's DPI."""
    return Figure(figsize=FIGSIZE[kind], dpi=DPI, layout="constrained")


def _titles(fig: Figure) -> list:
    """The figure's title and every axes' titles (the texts a long label can push off the image)."""
    titles = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        titles += [ax.title, ax._left_title, ax._right_title]
    return [t for t in titles if t.get_text()]


def texts_outside(fig: Figure) -> list[str]:
    """The titles of ``fig`` that reach past its edges once laid out (none, for a figure ``save`` wrote)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    width = fig.bbox.width
    return [
        t.get_text() for t in _titles(fig) if t.get_window_extent().x0 < -0.5 or t.get_window_extent().x1 > width + 0.5
    ]


def fit_titles(fig: Figure) -> None:
    """Wrap every title wider than the figure onto as many lines as it needs (then laid out again)."""
    import textwrap

    for _ in range(3):
        long = set(texts_outside(fig))
        if not long:
            return
        for title in _titles(fig):
            text = title.get_text()
            if text in long:  # a title is centred on its axes: the room is twice the nearer edge's distance
                box = title.get_window_extent()
                room = 2 * min((box.x0 + box.x1) / 2, fig.bbox.width - (box.x0 + box.x1) / 2)
                share = 0.95 * room / max(box.width, 1.0)
                lines = [
                    line for part in text.split("\n") for line in textwrap.wrap(part, max(int(len(part) * share), 10))
                ]
                title.set_text("\n".join(lines))


def save(fig: Figure, path: Path) -> Path:
    """Render to memory, then write the PNG atomically; the figure is cleared afterwards. Titles wider
    than the figure are wrapped first (``fit_titles``)."""
    buffer = io.BytesIO()
    try:
        fit_titles(fig)
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        fig.clear()
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


def out_path(results: Results, out_dir: str | Path | None, name: str) -> Path:
    """``name`` in ``out_dir``, by default the folder's ``figures/``."""
    folder = Path(out_dir) if out_dir is not None else results.dir / FIGURES_DIR
    return folder / name


def time_axis(ax, res: Results, label: bool = True) -> None:
    """Hours of the day on the x axis, every 3 hours (every hour for a day under 6 hours)."""
    end = res.edges[-1]
    step = 3 if end > 6 else 1
    ticks = np.arange(0, end + 1e-9, step)
    ax.set_xlim(0, end)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{int(t):02d}:00" for t in ticks])
    if label:
        ax.set_xlabel(f"time of day ({res.day.interval_minutes}-min intervals)")
    ax.grid(True, alpha=0.3)


def headroom(ax, top: float, bottom: float = 0.0, frac: float = 0.3) -> None:
    """Y range with room above the data for a legend in the upper corner."""
    top = top if top > 0 else 1.0
    ax.set_ylim(bottom, top + frac * (top - bottom))


def kw(res: Results, kwh) -> np.ndarray:
    """Energy per interval (kWh) as the interval's mean power (kW)."""
    return np.asarray(kwh, dtype=float) / res.hours
