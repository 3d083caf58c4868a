"""The self-contained ``report.html`` of a results folder (``lec-opt report``, ``solve-day --report``).

``write_report`` reads the folder (``lec_opt.io.results``), draws its figures into ``figures/``
(``lec_opt.report.figures``) and writes one HTML page, readable on a phone: a table of contents;
the run (scenario, method, the lec-opt, Pyomo and HiGHS versions and the run date from
``lec-opt.json``); the day's summary beside the paper, each priority all day, the settlement by
role; the cooperative game when ``stability.csv`` exists, the feeder's power flows when
``network.csv`` does, the sweep when ``sweep.csv`` does; every figure embedded as a PNG data URI
with a caption saying what to look at and which figure of the paper it corresponds to; links to
the data files beside the report; and the scenario used. The figures are inside the page; the
only links out of it are those to the data files in the same folder. A folder holding only
``sweep.csv`` gets the run, the sweep and its figures. The
folder is updated whole (``lec_opt.io.results_folder``): ``figures/`` and ``report.html`` are
written into a copy that is swapped in, so a reader sees the folder before or after the report.
"""

from __future__ import annotations

import base64
import html
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lec_opt.errors import LecOptError
from lec_opt.io.atomic import write_text
from lec_opt.io.provenance import SOFTWARE
from lec_opt.io.results import Results, in_core, load_results
from lec_opt.io.results_folder import writing
from lec_opt.io.schema import DESCRIPTIONS, FIGURES_DIR, REPORT_FILE, swept_columns
from lec_opt.io.schema import SummaryKey as K
from lec_opt.report.captions import caption_of
from lec_opt.report.figures import render_figures
from lec_opt.report.summary import cell, day_summary_rows, priority_rows, run_label

FORMATS = ("html", "png")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; overflow-wrap: anywhere; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
nav.toc { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 0.5em 1em; display: inline-block; }
nav.toc ol { margin: 0.3em 0; padding-left: 1.5em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
table.pairs td:first-child { background: #f7f7f7; }
table.run td { text-align: left; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; max-width: 60em; }
.paper-ref { color: #06c; }
code { overflow-wrap: anywhere; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; overflow-wrap: anywhere; }
.note { color: #666; font-size: 0.9em; }
@media (max-width: 640px) {
  body { margin: 0.5em auto; padding: 0 0.5em; font-size: 15px; }
  h1 { font-size: 1.3em; }
  th, td { padding: 0.2em 0.35em; font-size: 0.9em; }
  nav.toc { display: block; }
}
"""


# the files a report links to, when they are next to it: name -> what it holds (the results schema's)
FILES = DESCRIPTIONS


@dataclass(frozen=True)
class Section:
    """One ``<section>`` of the page and its line in the table of contents."""

    id: str
    title: str
    body: str


def _table(header: list[str] | None, rows: list, cls: str = "") -> str:
    """A table in a box that scrolls sideways on a narrow screen; ``header`` None: rows of (what, value)."""
    head = (
        ""
        if header is None
        else "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>\n"
    )
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>\n" for row in rows)
    classes = " ".join(c for c in (cls, "pairs" if header is None else "") if c)
    attr = f' class="{classes}"' if classes else ""
    return f'<div class="scroll"><table{attr}>\n{head}<tbody>\n{body}</tbody>\n</table></div>\n'


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


def _img(number: int, path: Path, base: Path) -> str:
    """Figure ``number`` embedded, with its caption; ``base``: the folder its ``data-file`` path is relative to."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name
    paper, what = caption_of(path.name)
    paper_ref = f' <span class="paper-ref">Paper: {html.escape(paper)}.</span>' if paper else ""
    return (
        f'<figure id="{html.escape(path.stem)}">\n<img src="data:image/png;base64,{data}" '
        f'alt="Figure {number}: {html.escape(path.stem)}" data-file="{html.escape(rel)}">\n'
        f"<figcaption><strong>Figure {number}.</strong> {html.escape(what)}{paper_ref} "
        f"<code>{html.escape(rel)}</code></figcaption>\n</figure>\n"
    )


def _run_date(manifest: dict) -> str:
    stamp = manifest.get("written_utc")
    return f"{stamp[:10]} {stamp[11:16]} UTC" if isinstance(stamp, str) and len(stamp) >= 16 else "not recorded"


def _run_section(res: Results) -> Section:
    """Which run this is: scenario, method, the software versions and the run date (from lec-opt.json)."""
    manifest = res.manifest or {}
    s = res.summary or {}
    rows = []
    if res.summary is not None:
        rows += [
            ["scenario", str(s.get(K.SCENARIO, "?"))],
            ["method", str(s.get(K.METHOD, "?"))],
            ["priority", str(s.get(K.PRIORITY, "?"))],
            [
                "intervals",
                f"{s.get(K.INTERVALS, res.n_intervals)} of {s.get(K.INTERVAL_MINUTES, '?')} minutes",
            ],
        ]
    rows.append(["kind of folder", str(manifest.get("kind", "?"))])
    software = manifest.get("software") or {}
    for shown in SOFTWARE:
        version = software.get(shown) or (manifest.get("lec_opt_version") if shown == "lec-opt" else None)
        rows.append([f"{shown} version", str(version or "not recorded")])
    rows.append(["run date", _run_date(manifest)])
    rows.append(["command", str(manifest.get("command", "not recorded"))])
    rows.append(["results folder", str(res.dir)])
    body = (
        _table(None, rows, "run")
        + '<p class="note">Peer-to-peer energy trading in a local energy community after Malik et al., '
        "IJEPES 137 (2022) 107865. The versions and the date are those of the run that wrote the folder "
        "(lec-opt.json).</p>\n"
    )
    return Section("run", "The run", body)


def _day_sections(res: Results) -> list[Section]:
    out = []
    if res.summary is not None:
        s = res.summary
        rows = day_summary_rows(s)
        if len(rows[0]) == 3:  # the paper's community: its values beside ours
            title, note = (
                "Summary: lec-opt beside the paper",
                (
                    '<p class="note">The paper column holds the values Malik et al. report (empty where the paper '
                    "gives none).</p>\n"
                ),
            )
        else:
            title, note = "Summary", ""
        out.append(Section("summary", title, note + _table(["", "lec-opt", "paper"][: len(rows[0])], rows, "summary")))
        header, rows = priority_rows(s)
        out.append(Section("priorities", "Each priority all day", _table(header, rows, "priorities")))
    if res.settlement is not None:
        header = [
            "",
            "sold P2P, kWh",
            "bought P2P, kWh",
            "revenue, $",
            "revenue grid-only, $",
            "bill, $",
            "bill grid-only, $",
            "saving, $",
        ]
        out.append(
            Section(
                "settlement",
                "Settlement by role (day totals)",
                _table(header, _settlement_rows(res.settlement), "settlement"),
            )
        )
    if res.stability is not None:
        st = res.stability
        rows = [
            ["intervals checked", str(len(st))],
            ["in the core", str(int(in_core(st).sum()))],
            ["largest core violation, $", cell(float(st["max_violation"].max()), ".4g")],
        ]
        out.append(Section("game", "Cooperative game (stability.csv)", _table(["", "value"], rows, "game")))
    return out


def _network_section(res: Results) -> Section | None:
    network = (res.summary or {}).get("network")
    if network is None:
        return None
    rows = [
        ["intervals (flows that did not converge)", f"{network['intervals']} ({network['failed_flows']})"],
        ["lowest phase voltage, p.u.", cell(network["v_min_pu"], ".4f")],
        ["highest phase voltage, p.u.", cell(network["v_max_pu"], ".4f")],
        ["worst voltage unbalance, %", cell(network["unbalance_max_percent"], ".3f")],
        ["largest line loading, %", cell(network["line_loading_max_percent"], ".1f")],
        ["largest transformer loading, %", cell(network["trafo_loading_max_percent"], ".1f")],
        ["losses, kWh", cell(network["losses_kwh"], ".2f")],
        ["intervals with a bus outside EN 50160 ±10 %", str(network["intervals_outside_en50160"])],
    ]
    from lec_opt.report.network_figures import feeder_has_coordinates

    if not feeder_has_coordinates(res):
        rows.append(
            ["feeder map and cables", "not drawn: the network's buses have no coordinates (net.bus.geo in pandapower)"]
        )
    return Section("network", "Power flows on the feeder (network.csv)", _table(["", "value"], rows, "network"))


def _sweep_section(res: Results) -> Section | None:
    if res.sweep is None:
        return None
    sweep = res.sweep
    fields = swept_columns(sweep)
    rows = [["runs", str(len(sweep))]]
    for field in fields:
        column = sweep[field].dropna()
        values = sorted(column.unique().tolist(), key=float if pd.api.types.is_numeric_dtype(column) else str)
        rows.append([f"swept: {field}", ", ".join(cell(v, "g") for v in values)])
    if "status" in sweep.columns:
        rows.append(["runs that failed", str(int((sweep["status"].astype(str) != "ok").sum()))])
    return Section("sweep", "Parameter sweep (sweep.csv)", _table(["", "value"], rows, "sweep"))


def _files_section(res: Results) -> Section | None:
    present = [name for name in FILES if (res.dir / name).is_file()]
    if not present:
        return None
    items = "".join(
        f'<li><a href="{html.escape(name)}">{html.escape(name)}</a>: {html.escape(FILES[name])}</li>\n'
        for name in present
    )
    note = '<p class="note">The files next to this report, in the results folder.</p>\n'
    return Section("files", "Data files", f'{note}<ul class="files">\n{items}</ul>\n')


def report_html(res: Results, figures: list[Path], base: Path | None = None) -> str:
    """The self-contained report: a table of contents, the run, the summary tables, every figure
    embedded with its caption, links to the data files beside the report, the scenario text.

    Each kind of run adds its sections when its files are there (a day, the game, the feeder's
    power flows, a sweep). ``base``: the folder the figures were written into (default: the results folder).
    """
    label = run_label(res.summary, res.dir.name) if res.summary is not None else res.dir.name
    title = f"lec-opt report: {label}"
    sections = [_run_section(res), *_day_sections(res), _network_section(res), _sweep_section(res)]
    if figures:
        where = base if base is not None else res.dir
        body = "".join(_img(i, p, where) for i, p in enumerate(figures, start=1))
        sections.append(Section("figures", "Figures", body))
    sections.append(_files_section(res))
    if res.scenario_text is not None:
        sections.append(
            Section("scenario", "Scenario used (scenario.toml)", f"<pre>{html.escape(res.scenario_text)}</pre>\n")
        )
    sections = [s for s in sections if s is not None]
    toc = "".join(f'<li><a href="#{s.id}">{html.escape(s.title)}</a></li>\n' for s in sections)
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f'<nav class="toc" id="contents" aria-label="Contents"><strong>Contents</strong>\n<ol>\n{toc}</ol>\n</nav>\n'
    ]
    for s in sections:
        parts.append(f'<section id="{s.id}">\n<h2>{html.escape(s.title)}</h2>\n{s.body}</section>\n')
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
