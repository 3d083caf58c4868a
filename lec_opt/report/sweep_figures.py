"""Figure 9b: a sweep's metrics against each swept field, drawn from ``sweep.csv``.

The report draws the same figures as the sweep itself: ``lec_opt.analysis.sweep``'s
``write_sweep_figures`` (``figures/sweep_<group>_<field>.png``), the one place sweep figures are drawn.
"""

from __future__ import annotations

from pathlib import Path

from lec_opt.analysis.sweep.figures import write_sweep_figures
from lec_opt.errors import InputError
from lec_opt.io.results import Results
from lec_opt.io.schema import SWEEP_FILE
from lec_opt.report.drawing import FIGURES_DIR, as_results


def fig_sweeps(results: Results | str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """9b. ``sweep_<group>_<field>.png`` in ``out_dir`` (default the folder's ``figures/``); returns the paths."""
    res = as_results(results)
    if res.sweep is None:
        raise InputError(res.dir / SWEEP_FILE, "file not found (written by the sweep command)")
    return write_sweep_figures(res.sweep, Path(out_dir) if out_dir is not None else res.dir / FIGURES_DIR)
