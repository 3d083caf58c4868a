"""The report of the default greedy day opened as its readers open it: in a real headless browser.

Debian's ``chromium`` driven by Selenium through the system ``chromedriver`` (nothing is downloaded:
the driver path is given and Selenium Manager is switched off). The page must load without a
console error, decode every figure, hold every section and table with its table of contents, show
summary.json's numbers, link to data files that are there, and fit a phone's width. Full-page
screenshots (wide and narrow) are saved under ``tmp_path`` and, when ``LEC_OPT_ARTEFACTS`` names a
folder, copied there.

On a developer machine without the browser the test skips; where skips are failures
(``LEC_OPT_NO_SKIPS=1``, set by ``.ci/run``, or ``CI=true``: tests/conftest.py) that skip fails.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from browser_support import WIDE, headless_chrome

from lec_opt.day.outputs import write_day
from lec_opt.io.schema import SummaryKey as K
from lec_opt.report import write_report

ARTEFACTS = os.environ.get("LEC_OPT_ARTEFACTS")
NARROW = (390, 844)  # a phone held upright, CSS pixels


@pytest.fixture(scope="module")
def browser():
    driver = headless_chrome(WIDE, "--hide-scrollbars")
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory, default_greedy_day) -> Path:
    """The default scenario's greedy day (``lec-opt solve-day --method greedy --report``)."""
    folder = write_day(default_greedy_day, tmp_path_factory.mktemp("browser") / "results")
    return write_report(folder)


def _screenshot(driver, path: Path, size: tuple[int, int], mobile: bool) -> tuple[int, int]:
    """A full-page PNG at a viewport of ``size`` CSS pixels; returns the page's (scroll width, height)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": mobile},
    )
    width, height = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];"
    )
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": max(width, size[0]), "height": height, "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    if ARTEFACTS:
        Path(ARTEFACTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(ARTEFACTS) / path.name)
    return width, height


TEXT_OF_TABLE = """
const t = document.querySelector(arguments[0]);
if (!t) return null;
return Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent));
"""


def test_the_report_in_a_headless_browser(browser, report, tmp_path):
    folder = report.parent
    summary = json.loads((folder / "summary.json").read_text())
    browser.get(report.as_uri())
    assert browser.title.startswith("lec-opt report: paper_5min, greedy")

    # no console error, every figure decoded
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.dataset.file]);"
    )
    figures = sorted(p.relative_to(folder).as_posix() for p in (folder / "figures").glob("*.png"))
    assert sorted(i[3] for i in images) == figures and len(figures) >= 9
    for complete, width, height, name in images:
        assert complete and width > 0 and height > 0, name

    # every section, its table and its line in the table of contents; captions name the paper's figure
    sections = browser.execute_script("return Array.from(document.querySelectorAll('section')).map(s => s.id);")
    assert sections == ["run", "summary", "priorities", "settlement", "figures", "files", "scenario"]
    toc = browser.execute_script(
        "return Array.from(document.querySelectorAll('nav.toc a')).map(a => a.getAttribute('href'));"
    )
    assert toc == [f"#{s}" for s in sections]
    for table in ("run", "summary", "priorities", "settlement"):
        rows = browser.execute_script(TEXT_OF_TABLE, f"section table.{table}")
        assert rows, f"table {table} missing or empty"
    captions = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure figcaption')).map(c => c.textContent);"
    )
    assert len(captions) == len(figures)
    assert all("Paper:" in c for c in captions), captions
    assert any("Fig. 12" in c for c in captions) and any("Figs. 10–11" in c for c in captions)

    # the run: versions and date from lec-opt.json
    run = dict(browser.execute_script(TEXT_OF_TABLE, "section table.run"))
    manifest = json.loads((folder / "lec-opt.json").read_text())
    for shown, version in manifest["software"].items():
        assert run[f"{shown} version"] == version
    assert run["run date"].startswith(manifest["written_utc"][:10]) and run["scenario"] == "paper_5min"

    # the summary's numbers are summary.json's, the paper's beside them
    shown = {row[0].strip(): row[1:] for row in browser.execute_script(TEXT_OF_TABLE, "section table.summary")}
    paper = summary[K.PAPER]
    expected = {
        "prosumer revenue, P2P / grid-only": [format(summary[K.PROSUMER_REVENUE_RATIO], ".3f"), "1.61"],
        "bills of all peers (consumer bill ratio), P2P / grid-only": [
            format(summary[K.CONSUMER_BILL_RATIO], ".3f"),
            "0.72",
        ],
        "P2P energy, kWh": [format(summary[K.P2P_ENERGY], ".1f"), ""],
        "transactions": [str(summary[K.TRANSACTIONS]), ""],
        "community saving, $": [format(summary[K.COMMUNITY_SAVING], ".2f"), ""],
        "aggregator score, $": [format(summary[K.SCORE], ".2f"), ""],
        "grid import / export, kWh": [f"{summary[K.GRID_IMPORT]:.1f} / {summary[K.GRID_EXPORT]:.1f}", ""],
        "priority chosen A / B / C (intervals)": [
            " / ".join(str(summary[K.PRIORITY_COUNTS].get(p, 0)) for p in "ABC"),
            "",
        ],
    }
    for label, cells in expected.items():
        assert shown[label] == cells, label
    assert format(paper[K.PROSUMER_REVENUE_RATIO], ".2f") == "1.61"
    priorities = browser.execute_script(TEXT_OF_TABLE, "section table.priorities")
    score_row = next(r for r in priorities if r[0] == "aggregator score, $")
    assert score_row[1] == format(summary[K.SCORE], ".2f")
    assert score_row[2:] == [format(t[K.SCORE], ".2f") for t in summary[K.SINGLE_PRIORITY_TOTALS].values()]

    # links to the data files beside the report, each there
    links = browser.execute_script("return Array.from(document.querySelectorAll('section#files a')).map(a => a.href);")
    names = [Path(unquote(urlparse(link).path)).name for link in links]
    for name in ("intervals.csv", "trades.csv", "settlement.csv", "summary.json", "scenario.toml"):
        assert name in names
    for link in links:
        assert Path(unquote(urlparse(link).path)).is_file(), link

    # wide and narrow (phone) full-page screenshots; the narrow page does not scroll sideways
    wide = tmp_path / "report_wide.png"
    width, height = _screenshot(browser, wide, WIDE, mobile=False)
    assert width <= WIDE[0] and height > WIDE[1]
    narrow = tmp_path / "report_narrow.png"
    width, height = _screenshot(browser, narrow, NARROW, mobile=True)
    assert width <= NARROW[0], f"the page is {width} px wide on a {NARROW[0]} px screen"
    img_widths = browser.execute_script("return Array.from(document.images).map(i => i.getBoundingClientRect().right);")
    assert max(img_widths) <= NARROW[0]
    for path in (wide, narrow):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 50_000
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
