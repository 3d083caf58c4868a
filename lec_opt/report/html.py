"""The self-contained ``report.html`` of a results folder (``lec-opt report``, ``solve-day --report``).

``write_report`` reads the folder (``lec_opt.io.results``), draws its figures into ``figures/``
(``lec_opt.report.figures``) and writes one HTML page: the day's summary beside the paper, each
priority all day, the settlement by role, the cooperative game when ``stability.csv`` exists,
every figure embedded as a PNG data URI with its caption, and the scenario used. No file outside
the page is referenced. A folder holding only ``sweep.csv`` gets the sweep figures alone. The
folder is updated whole (``lec_opt.io.results_folder``): ``figures/`` and ``report.html`` are
written into a copy that is swapped in, so a reader sees the folder before or after the report.
"""

from __future__ import annotations

import base64
import html
import shutil
from pathlib import Path

import pandas as pd

from lec_opt.errors import LecOptError
from lec_opt.io.atomic import write_text
from lec_opt.io.results import Results, in_core, load_results
from lec_opt.io.results import SummaryKey as K
from lec_opt.io.results_folder import writing
from lec_opt.report.drawing import FIGURES_DIR
from lec_opt.report.figures import render_figures
from lec_opt.report.summary import cell, day_summary_rows, priority_rows, run_label

REPORT_FILE = "report.html"
FORMATS = ("html", "png")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
.note { color: #666; font-size: 0.9em; }
"""

CAPTIONS = {
    "01": "Demand of all peers and PV generation over the day, kW (cf. paper Fig. 3).",
    "02": "EV charging demand, kW, and whether the CES or the grid supplied it (cf. paper Fig. 4).",
    "03": "Community surplus (sellers) and deficit (buyers) per interval, kW, and the balance α (cf. paper Fig. 5).",
    "04": "CES charge and discharge per interval, kW, and its state of charge (cf. paper Fig. 6).",
    "05": "P2P energy traded per interval under priorities A, B and C, kWh per interval; the band marks the aggregator's choice.",
    "06": "P2P transactions per interval under each priority.",
    "07": "Trades of one interval on the ring: edge width proportional to kWh traded (the paper's trade-pairing figures).",
    "08": "Per-peer revenue of prosumers and bill of consumers over the day, P2P vs grid-only (cf. paper Figs. 13–15).",
    "09_core": "Largest core violation per interval of the cooperative game (stability.csv).",
    "10": "The aggregator's chosen priority in each interval and its counts by period of the day, beside the paper's description (cf. paper Fig. 12).",
    "11": "CES state of charge under the paper's myopic rule and with perfect foresight, and the cumulative gain of foresight.",
    "12": "Lowest and highest phase voltage of the feeder per interval (unbalanced three-phase power flow, network.csv) against EN 50160's ±10 % band, and the largest line loading.",
    "13": "The feeder in the interval furthest from 1 p.u.: buses coloured by their lowest phase voltage, peers as sellers or buyers, the CES and EV chargers, and that interval's trades from seller to buyer (width proportional to kWh).",
    "sweep_": "A sweep's metrics against one swept field (sweep.csv): one panel per metric, one line per value of the other swept fields.",
}


def _caption(name: str) -> str:
    keys = [k for k in CAPTIONS if name.startswith(k)]
    return CAPTIONS[max(keys, key=len)] if keys else ""


def _table(header: list[str], rows: list) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def _settlement_rows(st: pd.DataFrame) -> list[list[str]]:
    rows = []
    for role in ("prosumer", "consumer"):
        part = st[st["role"] == role]
        if not len(part):
            continue
        row = [f"{role}s ({len(part)})"]
        for col, spec in (
            ("sold_p2p_kwh", ".1f"),
            ("bought_p2p_kwh", ".1f"),
            ("revenue_usd", ".2f"),
            ("revenue_grid_only_usd", ".2f"),
            ("bill_usd", ".2f"),
            ("bill_grid_only_usd", ".2f"),
            ("saving_usd", ".2f"),
        ):
            row.append(cell(float(part[col].sum()), spec) if col in part.columns else "")
        rows.append(row)
    return rows


def _img(path: Path, base: Path) -> str:
    """The figure embedded; ``base``: the folder its ``data-file`` path is relative to."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name
    caption = _caption(path.name)
    return (
        f'<figure id="{html.escape(path.stem)}">\n<img src="data:image/png;base64,{data}" '
        f'alt="{html.escape(path.stem)}" data-file="{html.escape(rel)}">\n'
        f"<figcaption>{html.escape(rel)}: {html.escape(caption)}</figcaption>\n</figure>\n"
    )


def report_html(res: Results, figures: list[Path], base: Path | None = None) -> str:
    """The self-contained report: summary tables, every figure embedded, the scenario text.

    ``base``: the folder the figures were written into (default: the results folder).
    """
    label = run_label(res.summary, res.dir.name) if res.summary is not None else res.dir.name
    title = f"lec-opt report: {label}"
    parts = [
        (
            f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        )
    ]
    parts.append(
        f'<p class="note">Results folder <code>{html.escape(str(res.dir))}</code>. Peer-to-peer energy trading '
        "in a local energy community after Malik et al., IJEPES 137 (2022) 107865.</p>\n"
    )
    if res.summary is not None:
        s = res.summary
        parts.append(
            f"<p>{html.escape(str(s.get(K.INTERVALS, res.n_intervals)))} intervals of "
            f"{html.escape(str(s.get(K.INTERVAL_MINUTES, '?')))} minutes, method {html.escape(str(s.get(K.METHOD, '?')))}, "
            f"priority {html.escape(str(s.get(K.PRIORITY, '?')))}.</p>\n"
        )
        parts.append("<h2>Summary: lec-opt beside the paper</h2>\n")
        parts.append(_table(["", "lec-opt", "paper"], day_summary_rows(s)))
        header, rows = priority_rows(s)
        parts.append("<h2>Each priority all day</h2>\n")
        parts.append(_table(header, rows))
    if res.settlement is not None:
        parts.append("<h2>Settlement by role (day totals)</h2>\n")
        parts.append(
            _table(
                [
                    "",
                    "sold P2P, kWh",
                    "bought P2P, kWh",
                    "revenue, $",
                    "revenue grid-only, $",
                    "bill, $",
                    "bill grid-only, $",
                    "saving, $",
                ],
                _settlement_rows(res.settlement),
            )
        )
    if res.stability is not None:
        st = res.stability
        parts.append("<h2>Cooperative game</h2>\n")
        parts.append(
            _table(
                ["", "value"],
                [
                    ["intervals checked", str(len(st))],
                    ["in the core", str(int(in_core(st).sum()))],
                    ["largest core violation, $", cell(float(st["max_violation"].max()), ".4g")],
                ],
            )
        )
    network = (res.summary or {}).get("network")
    if network is not None:
        parts.append("<h2>Power flows on the feeder (network.csv)</h2>\n")
        parts.append(
            _table(
                ["", "value"],
                [
                    ["intervals (flows that did not converge)", f"{network['intervals']} ({network['failed_flows']})"],
                    ["lowest phase voltage, p.u.", cell(network["v_min_pu"], ".4f")],
                    ["highest phase voltage, p.u.", cell(network["v_max_pu"], ".4f")],
                    ["worst voltage unbalance, %", cell(network["unbalance_max_percent"], ".3f")],
                    ["largest line loading, %", cell(network["line_loading_max_percent"], ".1f")],
                    ["largest transformer loading, %", cell(network["trafo_loading_max_percent"], ".1f")],
                    ["losses, kWh", cell(network["losses_kwh"], ".2f")],
                    ["intervals with a bus outside EN 50160 ±10 %", str(network["intervals_outside_en50160"])],
                ],
            )
        )
    parts.append("<h2>Figures</h2>\n")
    parts += [_img(p, base if base is not None else res.dir) for p in figures]
    if res.scenario_text is not None:
        parts.append("<h2>Scenario used (scenario.toml)</h2>\n")
        parts.append(f"<pre>{html.escape(res.scenario_text)}</pre>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def write_report(results_dir: str | Path, fmt: str = "html", interval: int | None = None) -> Path:
    """Write ``figures/*.png`` and, for ``fmt="html"``, a self-contained ``report.html``.

    >>> write_report("results/paper_5min-greedy-best")        # -> .../report.html
    >>> write_report("results/paper_5min-greedy-best", "png")  # -> .../figures

    Returns the report's path (html) or the figures folder (png).
    """
    if fmt not in FORMATS:
        raise LecOptError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    res = load_results(results_dir)
    with writing(res.dir, update=True, command="python: lec_opt.write_report") as folder:
        shutil.rmtree(folder / FIGURES_DIR, ignore_errors=True)  # the figures are drawn again, all of them
        (folder / REPORT_FILE).unlink(missing_ok=True)
        paths = render_figures(res, interval, folder / FIGURES_DIR)
        if fmt == "html":
            write_text(folder / REPORT_FILE, report_html(res, paths, folder))
    return res.dir / (REPORT_FILE if fmt == "html" else FIGURES_DIR)
