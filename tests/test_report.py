"""Figures and the HTML report of a results folder: valid PNGs of a known size, a self-contained
report that embeds every figure, figure 9 when stability.csv / sweep.csv exist, errors before drawing."""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import error_of, mark_complete
from matplotlib.image import imread

from lec_opt import InputError, LecOptError
from lec_opt.day.outputs import write_day
from lec_opt.io.schema import DAY_FILES
from lec_opt.io.shipped import MODELS_DIR
from lec_opt.report import DPI, FIGSIZE, default_ring_interval, fig_demand_pv, fig_ring, render_figures, write_report

REPO = Path(__file__).resolve().parents[1]

SCENARIO = MODELS_DIR / "paper_30min.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KIND = {  # figure file name prefix -> FIGSIZE key
    "01_demand_pv": "demand_pv",
    "02_ev_demand": "ev",
    "03_surplus_deficit": "surplus_deficit",
    "04_ces": "ces",
    "05_p2p_priorities": "p2p",
    "06_transactions": "transactions",
    "07_ring": "ring",
    "08_settlement": "settlement",
    "09_core_violation": "stability",
    "10_selection": "selection",
    "11_foresight_soc": "foresight",
}
DAY_FIGURES = [
    "01_demand_pv",
    "02_ev_demand",
    "03_surplus_deficit",
    "04_ces",
    "05_p2p_priorities",
    "06_transactions",
    "07_ring",
    "08_settlement",
    "10_selection",
]


def expected_size(path: Path) -> tuple[int, int]:
    kind = next(v for k, v in KIND.items() if path.name.startswith(k))
    w, h = FIGSIZE[kind]
    return round(w * DPI), round(h * DPI)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR", path.name
    return struct.unpack(">II", data[16:24])


def sweep_size(panels: int) -> tuple[int, int]:
    """A sweep figure (``write_sweep_figures``): 4.2 x 3.4 inches a panel, three panels a row, 100 dpi."""
    ncols = min(3, panels)
    nrows = math.ceil(panels / ncols)
    return round((4.2 * ncols + 1.0) * 100), round((3.4 * nrows + 0.8) * 100)


def assert_good_png(path: Path, size: tuple[int, int] | None = None) -> None:
    """A PNG of ``size`` pixels (default: its FIGSIZE), not blank; ``size`` for the sweep figures."""
    size = size or expected_size(path)
    assert path.is_file() and path.stat().st_size > 5000, path
    assert png_size(path) == size, path.name
    pixels = imread(path)
    assert pixels.shape[:2] == size[::-1]
    assert float(pixels[..., :3].std()) > 0.02, f"{path.name} looks blank"


@pytest.fixture(scope="module")
def day_folder(tmp_path_factory, greedy_30min_day) -> Path:
    """The 48-interval greedy day (paper_30min), all three priorities, written as solve-day would."""
    return write_day(greedy_30min_day, tmp_path_factory.mktemp("day") / "results")


def copy_of(day_folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(day_folder, target, ignore=shutil.ignore_patterns("figures", "report.html"))
    return target


@pytest.fixture(scope="module")
def rendered(day_folder: Path) -> list[Path]:
    return render_figures(day_folder)


def test_every_figure_is_a_valid_png_of_its_fixed_size(rendered, day_folder):
    assert [p.name.rsplit("_t", 1)[0] if p.name.startswith("07_ring") else p.stem for p in rendered] == DAY_FIGURES
    assert all(p.parent == day_folder / "figures" for p in rendered)
    for path in rendered:
        assert_good_png(path)
    assert png_size(rendered[0]) == (1100, 500)  # FIGSIZE * DPI, spelled out once
    assert not list((day_folder / "figures").glob(".*.tmp"))  # atomic writes leave no temporary files


def test_no_title_runs_off_its_figure(day_folder, tmp_path, monkeypatch):
    """Every figure's titles fit inside it as saved (figure 10's long title once ran off the image):
    checked on each figure just before ``save`` writes it, and ``fit_titles`` is what makes them fit."""
    from lec_opt.report import drawing

    real_fit, outside, before = drawing.fit_titles, {}, {}

    def checked_fit(fig):
        before[len(before)] = drawing.texts_outside(fig)
        real_fit(fig)
        outside[len(outside)] = drawing.texts_outside(fig)

    monkeypatch.setattr(drawing, "fit_titles", checked_fit)
    paths = render_figures(day_folder, out_dir=tmp_path)
    assert len(outside) == len(paths) and not any(outside.values()), outside
    assert any(before.values()), "no title was too wide before fitting: the check proves nothing on this day"


def test_the_default_ring_interval_has_the_most_p2p_under_the_chosen_priority(day_folder, rendered):
    iv = pd.read_csv(day_folder / "intervals.csv")
    chosen_p2p = np.array([row[f"p2p_kwh_{row['chosen']}"] for _, row in iv.iterrows()])
    t = int(np.argmax(chosen_p2p))
    assert chosen_p2p[t] > 0
    assert default_ring_interval(day_folder) == t
    assert rendered[6].name == f"07_ring_t{t:03d}_{iv.at[t, 'chosen']}.png"


def test_a_chosen_ring_interval_and_priority_and_an_interval_outside_the_day(day_folder, tmp_path):
    path = fig_ring(day_folder, interval=0, out_dir=tmp_path)  # midnight: no sun, no trades, still a figure
    assert path.name.startswith("07_ring_t000_")
    assert_good_png(path)
    assert fig_ring(day_folder, interval=24, priority="C", out_dir=tmp_path).name == "07_ring_t024_C.png"
    assert (
        fig_demand_pv(day_folder, out_dir=tmp_path) == tmp_path / "01_demand_pv.png"
    )  # each figure function returns its path
    with pytest.raises(LecOptError, match="outside 0..47"):
        fig_ring(day_folder, interval=48, out_dir=tmp_path)
    with pytest.raises(LecOptError, match="outside 0..47"):
        render_figures(day_folder, interval=-1, out_dir=tmp_path)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(attrs)
        for key in ("src", "href"):
            if attrs.get(key) and not attrs[key].startswith(("data:", "#")):
                self.external.append(attrs[key])

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def test_the_html_report_is_self_contained_and_embeds_every_figure(day_folder, tmp_path):
    folder = copy_of(day_folder, tmp_path)
    report = write_report(folder)
    assert report == folder / "report.html"
    page = parse(report)
    figures = sorted((folder / "figures").glob("*.png"))
    assert len(figures) == 9 and len(page.imgs) == 9
    # the only links out of the page: the data files next to it, each there
    assert sorted(page.external) == sorted(DAY_FILES + ("lec-opt.json",)), page.external
    assert all((folder / name).is_file() for name in page.external)
    for img, fig in zip(page.imgs, figures):
        assert img["data-file"] == f"figures/{fig.name}"
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1]) == fig.read_bytes()
        assert img.get("alt")
    text = "".join(page.text)
    assert page.tags.count("table") >= 3
    assert "1.61" in text and "0.72" in text  # the paper's ratios beside ours
    assert 'name = "paper_30min"' in text and "[ces]" in text  # the scenario used
    assert "pre" in page.tags


def test_png_format_writes_the_figures_only(tmp_path):
    folder = tmp_path / "sweep"
    folder.mkdir()
    pd.DataFrame({"network_fee": [0.0, 0.001, 0.002], "score": [60.0, 58.0, 55.0]}).to_csv(
        folder / "sweep.csv", index=False
    )
    mark_complete(folder)
    assert write_report(folder, "png") == folder / "figures"
    assert [p.name for p in (folder / "figures").glob("*.png")] == ["sweep_money_network_fee.png"]
    assert not (folder / "report.html").exists()
    with pytest.raises(LecOptError, match="format must be"):
        write_report(folder, "pdf")


def _stability(n: int) -> pd.DataFrame:
    t = np.arange(n)
    violation = np.where(t % 7 == 3, 0.01 * (1 + t % 5), 0.0)
    return pd.DataFrame(
        {
            "interval": t,
            "players": 10 + t % 9,
            "in_core": violation <= 0,
            "max_violation": violation,
            "coalitions_checked": 2 ** (t % 9),
        }
    )


def _sweep_wide() -> pd.DataFrame:
    """sweep.csv as ``run_sweep`` writes it: the swept fields, ``series``, metrics, ``status``/``error``."""
    rows = []
    for capacity in (300, 600, 900, 1200):
        for buy in (0.15, 0.2, 0.25):
            rows.append(
                {
                    "ces.capacity_kwh": capacity,
                    "tariffs.buy": buy,
                    "series": f"tariffs.buy={buy}",
                    "p2p_energy_kwh": 300 + capacity / 10 - 100 * buy,
                    "ces_soc_max": 0.8,
                    "prosumer_revenue_ratio": 1.5 + capacity / 5000 + buy,
                    "consumer_bill_ratio": 0.8 - capacity / 9000 - buy,
                    "status": "ok",
                    "error": None,
                }
            )
    return pd.DataFrame(rows)


SWEEP_PANELS = {"energy": 1, "soc": 1, "ratios": 2}  # the metric groups of _sweep_wide, panels each


def test_figure_9_core_violation_and_sweeps_when_their_files_exist(day_folder, tmp_path):
    folder = copy_of(day_folder, tmp_path)
    _stability(48).to_csv(folder / "stability.csv", index=False)
    _sweep_wide().to_csv(folder / "sweep.csv", index=False)
    page = parse(write_report(folder))
    names = sorted(p.name for p in (folder / "figures").glob("*.png"))
    sweeps = [f"sweep_{group}_{field}.png" for field in ("ces.capacity_kwh", "tariffs.buy") for group in SWEEP_PANELS]
    assert names[8:] == ["09_core_violation.png", "10_selection.png", *sorted(sweeps)]
    assert_good_png(folder / "figures" / "09_core_violation.png")
    for name in sweeps:
        assert_good_png(folder / "figures" / name, sweep_size(SWEEP_PANELS[name.split("_")[1]]))
    assert [img["data-file"] for img in page.imgs] == [f"figures/{n}" for n in names[:10] + sweeps]
    assert "in the core" in "".join(page.text)


def test_a_folder_with_only_a_wide_sweep_csv_gets_the_sweep_figures(tmp_path):
    folder = tmp_path / "sweep"
    folder.mkdir()
    pd.DataFrame(
        {"network_fee": [0.0, 0.001, 0.002], "score": [60.0, 58.0, 55.0], "transactions": [100, 90, 80]}
    ).to_csv(folder / "sweep.csv", index=False)
    mark_complete(folder)
    names = ["sweep_money_network_fee.png", "sweep_counts_network_fee.png"]
    assert [p.name for p in render_figures(folder)] == names
    for name in names:
        assert_good_png(folder / "figures" / name, sweep_size(1))
    page = parse(write_report(folder))
    assert [img["data-file"] for img in page.imgs] == [f"figures/{n}" for n in names]
    assert "against one swept field" in "".join(page.text)  # the sweep figures' caption


def test_a_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="results folder not found") as err:
        write_report(tmp_path / "nowhere")
    assert err.value.file == str(tmp_path / "nowhere")


@pytest.mark.parametrize("missing", DAY_FILES)
def test_a_missing_file_is_named_before_anything_is_drawn(day_folder, tmp_path, missing):
    folder = copy_of(day_folder, tmp_path)
    (folder / missing).unlink()
    with pytest.raises(InputError, match="file not found") as err:
        write_report(folder)
    assert err.value.file == str(folder / missing)
    assert not (folder / "figures").exists() and not (folder / "report.html").exists()


def test_a_missing_column_or_a_bad_extra_file_is_named(day_folder, tmp_path, edit_csv):
    folder = copy_of(day_folder, tmp_path)
    edit_csv(folder / "settlement.csv", lambda rows: [row[:-6] for row in rows])  # drops the money columns
    with pytest.raises(InputError, match="missing column") as err:
        render_figures(folder)
    assert err.value.file == str(folder / "settlement.csv") and err.value.field == "revenue_usd"
    shutil.copy(day_folder / "settlement.csv", folder / "settlement.csv")
    (folder / "stability.csv").write_text("interval,players\n0,3\n")
    with pytest.raises(InputError, match="max_violation"):
        render_figures(folder)
    (folder / "stability.csv").unlink()
    (folder / "sweep.csv").write_text("score,transactions\n60,100\n")  # metrics, no swept field
    with pytest.raises(InputError, match="no swept field") as err:
        render_figures(folder)
    assert err.value.file == str(folder / "sweep.csv") and err.value.field == "score"
    (folder / "sweep.csv").write_text("ces.k,score\n")
    with pytest.raises(InputError, match="no rows") as err:
        render_figures(folder)
    assert err.value.file == str(folder / "sweep.csv")
    assert not (folder / "figures").exists()


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lec_opt", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def test_cli_report_writes_report_html(day_folder, tmp_path):
    folder = copy_of(day_folder, tmp_path)
    result = _cli("report", folder, "--interval", "30")
    assert result.returncode == 0, result.stderr
    assert (folder / "report.html").is_file() and "report.html" in result.stdout
    assert (folder / "figures" / f"07_ring_t030_{pd.read_csv(folder / 'intervals.csv').at[30, 'chosen']}.png").is_file()
    assert len(parse(folder / "report.html").imgs) == 9
    missing = _cli("report", tmp_path / "nowhere")
    assert missing.returncode == 2 and error_of(missing.stderr) and "Traceback" not in missing.stderr


def test_cli_solve_day_report_writes_figures_and_report(tmp_path):
    out = tmp_path / "day"
    result = _cli("solve-day", "--scenario", SCENARIO, "--method", "greedy", "--out", out, "--report")
    assert result.returncode == 0, result.stderr
    assert len(list((out / "figures").glob("*.png"))) == 9
    assert len(parse(out / "report.html").imgs) == 9


def test_cli_solve_day_with_foresight_reports_both_soc_paths(tmp_path):
    out = tmp_path / "day"
    result = _cli(
        "solve-day", "--scenario", SCENARIO, "--method", "greedy", "--ces-policy", "foresight", "--out", out, "--report"
    )
    assert result.returncode == 0, result.stderr
    assert "foresight gain" in result.stdout and "midday peak" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ces_policy"] == "foresight" and summary["foresight_gain_usd"] >= -1e-7
    assert (out / "figures" / "11_foresight_soc.png").is_file()
    assert [img["data-file"] for img in parse(out / "report.html").imgs][-1] == "figures/11_foresight_soc.png"
    bad = _cli("solve-day", "--scenario", SCENARIO, "--method", "greedy", "--ces-policy", "oracle", "--out", out)
    assert bad.returncode == 2 and "--ces-policy" in bad.stderr


def _section_ids(path: Path) -> list[str]:
    class Sections(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.ids: list[str] = []
            self.toc: list[str] = []
            self.in_toc = False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "section":
                self.ids.append(attrs["id"])
            if tag == "nav":
                self.in_toc = True
            if tag == "a" and self.in_toc:
                self.toc.append(attrs["href"])

        def handle_endtag(self, tag):
            if tag == "nav":
                self.in_toc = False

    page = Sections()
    page.feed(path.read_text(encoding="utf-8"))
    assert page.toc == [f"#{i}" for i in page.ids]  # the table of contents lists every section, in order
    return page.ids


def test_each_kind_of_run_adds_its_sections_and_the_run_names_its_versions_and_date(day_folder, tmp_path):
    folder = copy_of(day_folder, tmp_path)
    report = write_report(folder)
    day = ["run", "summary", "priorities", "settlement", "figures", "files", "scenario"]
    assert _section_ids(report) == day
    manifest = json.loads((folder / "lec-opt.json").read_text())
    text = report.read_text(encoding="utf-8")
    for shown, version in manifest["software"].items():  # lec-opt, Pyomo and HiGHS, as the run recorded them
        assert f"<td>{shown} version</td><td>{version}</td>" in text
    assert set(manifest["software"]) == {"lec-opt", "Pyomo", "HiGHS (highspy)"}
    date = manifest["written_utc"]
    assert f"<td>run date</td><td>{date[:10]} {date[11:16]} UTC</td>" in text
    assert "Paper: Fig. 12." in text and "Paper: Figs. 10–11." in text  # captions name the paper's figure
    assert '<meta name="viewport"' in text

    _stability(48).to_csv(folder / "stability.csv", index=False)
    _sweep_wide().to_csv(folder / "sweep.csv", index=False)
    report = write_report(folder)
    assert _section_ids(report) == day[:4] + ["game", "sweep"] + day[4:]
    assert json.loads((folder / "lec-opt.json").read_text())["written_utc"] == date  # the run's date, kept
    links = parse(report).external
    assert "stability.csv" in links and "sweep.csv" in links
    text = report.read_text(encoding="utf-8")
    assert "<td>swept: ces.capacity_kwh</td><td>300, 600, 900, 1200</td>" in text


def test_a_sweep_folder_report_has_the_run_the_sweep_and_its_figures(tmp_path):
    folder = tmp_path / "sweep"
    folder.mkdir()
    _sweep_wide().to_csv(folder / "sweep.csv", index=False)
    mark_complete(folder)
    report = write_report(folder)
    assert _section_ids(report) == ["run", "sweep", "figures", "files"]
    text = report.read_text(encoding="utf-8")
    assert "<td>runs</td><td>12</td>" in text and "<td>runs that failed</td><td>0</td>" in text
    assert parse(report).external == ["sweep.csv", "lec-opt.json"]
