"""The documentation site (mkdocs.yml, docs/): built strictly, every example executed, pages checked.

One ``mkdocs build --strict`` into a temporary folder (any warning fails it: a broken link, a
missing reference, a page left out of the navigation, an example that raises), then checks on the
built pages: every example ran and shows its figures, the formulation page is models/FORMULATION.md
with every section and Pyomo component, the CLI page has every command, the API page every public
name. The hooks' own rules (links of the included file, doctest blocks in docstrings) are tested
without a build. A headless-browser check opens the formulation page and an example's figure.

Without the ``docs`` extra the build tests skip; where skips are failures (``LEC_OPT_NO_SKIPS=1``,
set by ``.ci/run``, or ``CI=true``: tests/conftest.py) that skip fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter", "jupytext", "ipykernel")


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"lec_opt_docs_{name}", DOCS / "_hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _need_docs_extra() -> None:
    missing = [p for p in DOCS_PACKAGES if importlib.util.find_spec(p.split(".")[0]) is None]
    if missing:
        pytest.skip(f"the docs extra is not installed (no {', '.join(missing)}): pip install -e '.[docs]'")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built strictly from this checkout (every example executed)."""
    _need_docs_extra()
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPO_ROOT / "mkdocs.yml"),
            "--site-dir",
            str(out),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout[-4000:]}\n{run.stderr[-8000:]}"
    assert not re.search(r"^WARNING\s+-", run.stderr, re.MULTILINE), run.stderr[-8000:]  # strict already fails on these
    return out


def _text(html: str) -> str:
    return (
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
    )


# --- the built site ---------------------------------------------------------------------------


def test_there_are_at_least_the_five_examples():
    names = {p.stem for p in EXAMPLES}
    assert {
        "paper_day",
        "own_community",
        "priorities_criteria",
        "stability",
        "sweep_ksd",
        "size_ces",
        "hosting_capacity",
    } <= names


@pytest.mark.slow
@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_every_example_ran_and_shows_its_figures(site, example):
    page = site / "examples" / example / "index.html"
    assert page.is_file(), f"{example} is not a page of the site"
    html = page.read_text(encoding="utf-8")
    source = (DOCS / "examples" / f"{example}.py").read_text(encoding="utf-8")
    # every figure the script draws is in the page, as an embedded PNG
    drawn = source.count("plt.show()") + len(re.findall(r"display\(Image\(", source))
    assert drawn >= 1, f"{example} draws no figure"
    images = re.findall(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]{2000,})"', html)
    assert len(images) >= drawn, f"{example}: {len(images)} figures in the page, the script draws at least {drawn}"
    # executed: every code cell has its execution count, and none printed a traceback
    assert "Traceback" not in html
    counts = re.findall(r'jp-InputArea-prompt">In(?:&nbsp;|\s)*\[(\d*)\]', html)
    assert counts and counts == [str(i) for i in range(1, len(counts) + 1)], counts


@pytest.mark.slow
def test_the_sizing_example_states_the_best_capacity_at_both_ends_of_the_cited_range(site):
    text = _text((site / "examples" / "size_ces" / "index.html").read_text(encoding="utf-8"))
    assert "REopt" in text  # the prices' source is named
    for said in (
        "best capacity at $253/kWh and $968/kW",
        "best capacity at $420/kWh and $840/kW",
        "feeder, best capacity at $253/kWh and $968/kW",
    ):
        assert re.search(re.escape(said) + r": \d+ kWh, net benefit \$-?[\d,]+ a year", text), said


@pytest.mark.slow
def test_the_formulation_page_is_models_formulation_md(site):
    text = _text((site / "formulation" / "index.html").read_text(encoding="utf-8"))
    source = (REPO_ROOT / "models" / "FORMULATION.md").read_text(encoding="utf-8")
    headings = re.findall(r"^#{2,3} (.+)$", source, re.MULTILINE)
    assert len(headings) >= 10
    for heading in headings:
        assert _text(heading.replace("`", "")) in text, heading
    components = re.findall(
        r"^\| `(\w+)` \| (?:set|variable|constraint|objective|expression|parameter) \|", source, re.MULTILINE
    )
    assert len(components) >= 40
    for name in components:
        assert f" {name} " in text, name
    assert "x[i,j] ∈ [0, min(s_i, r_j)]" in text  # an equation, as written in the file


@pytest.mark.slow
def test_the_cli_page_has_every_command(site):
    import typer

    from lec_opt.cli import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="lec-opt")
    text = _text((site / "reference" / "cli" / "index.html").read_text(encoding="utf-8"))
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        assert f"lec-opt {name}" in text, name
        sub = command.context_class(command, info_name=name, parent=ctx)
        for param in command.get_params(sub):
            for opt in param.opts if param.param_type_name == "option" else ():
                assert opt in text, f"lec-opt {name} {opt}"
    assert "/work/" not in text and str(REPO_ROOT) not in text  # no machine's paths in the reference


@pytest.mark.slow
def test_the_api_page_documents_every_public_name(site):
    import lec_opt

    html = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'id="(lec_opt\.[\w.]+)"', html))
    for name in lec_opt.__all__:
        assert any(i.endswith(f".{name}") for i in ids), f"lec_opt.{name} is not in the API reference"
    assert "&gt;&gt;&gt;" not in html  # doctest lines became code blocks


@pytest.mark.slow
def test_the_site_loads_nothing_from_the_network(site):
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//', html), page


# --- the hooks ------------------------------------------------------------------------------------


def test_included_links_become_paths_and_web_links_stay():
    site_hooks = _hook("site")
    text = "see [the model](../lec_opt/model/build.py#L3), [§4](#4-the-interval-model) and [HiGHS](https://highs.dev)"
    out = site_hooks.unlink(text, Path("models"))
    assert out == "see the model (`lec_opt/model/build.py`), [§4](#4-the-interval-model) and [HiGHS](https://highs.dev)"
    assert site_hooks.unlink("![a figure](fig.png)", Path("models")) == "![a figure](fig.png)"


def test_an_undocumented_public_function_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text('"""A package."""\n')
    (package / "sub" / "__init__.py").write_text("")
    (package / "_private.py").write_text("def f():\n    pass\n")
    (package / "mod.py").write_text(
        '"""A module."""\n\n'
        "def bare():\n    pass\n\n"
        'def told():\n    """Told."""\n\n'
        "def _hidden():\n    pass\n\n"
        'class Thing:\n    """A thing."""\n\n'
        "    def __init__(self):\n        pass\n\n"
        "    def method(self):\n        pass\n\n"
        "    @property\n    def size(self):\n        return 1\n"
    )
    found = _hook("site").undocumented("pkg", tmp_path)
    assert found == ["pkg.mod.Thing.method", "pkg.mod.Thing.size", "pkg.mod.bare", "pkg.sub"]


def test_lec_opt_has_no_undocumented_public_function():
    assert _hook("site").undocumented("lec_opt", REPO_ROOT) == []


def test_scenario_key_types_read_as_written():
    from typing import Annotated, Literal

    type_name = _hook("site")._type_name
    assert type_name(str | None) == "str | None"
    assert type_name(Literal["ring", "feeder"]) == "'ring' | 'feeder'"
    assert type_name(Annotated[float, "ge=0"] | dict[int, Annotated[float, "ge=0"]]) == "float | dict[int, float]"
    keys = _hook("site").scenario_keys()
    assert "| `ces.k` | float | required | `1.0` |" in keys and "`" not in keys.split("| `base` |")[1].split("|")[1]


def test_an_include_of_a_missing_file_fails(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.md"):
        _hook("site").included(tmp_path, "nothing.md")


def test_doctest_lines_become_python_blocks():
    as_markdown = _hook("docstrings").as_markdown
    text = "Solve a day.\n\n>>> run = run_day(s)\n>>> run.steps[0]\n\nThen :func:`~lec_opt.day.run.run_day` again."
    assert as_markdown(text) == (
        "Solve a day.\n\n```python\nrun = run_day(s)\nrun.steps[0]\n```\n\nThen `lec_opt.day.run.run_day` again."
    )
    assert as_markdown("Text\n>>> x = 1\n...     y") == "Text\n\n```python\nx = 1\n    y\n```"


# --- in a browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(site):
    """The site over HTTP on a free local port, as ``mkdocs serve`` shows it (search needs http)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_the_formulation_and_an_example_in_a_headless_browser(served, tmp_path):
    from browser_support import headless_chrome

    from tests.test_report_browser import _screenshot

    driver = headless_chrome()
    try:
        driver.get(served + "formulation/")
        assert driver.title.startswith("Formulation")
        # the component table is a rendered table whose equation cells hold the file's equations
        rows = driver.execute_script(
            "return Array.from(document.querySelectorAll('article table tr')).map(r => Array.from(r.cells).map(c => c.innerText));"
        )
        p2p = [r for r in rows if r and r[0] == "p2p"]
        assert p2p and p2p[0][1] == "variable" and "x[i,j] ∈ [0, min(s_i, r_j)]" in p2p[0][2], p2p
        ring = [r for r in rows if r and r[0] == "dist(i, j)"]
        assert ring and "min(|i−j|, N−|i−j|)" in ring[0][2], ring  # escaped pipes inside a table cell
        headings = driver.execute_script("return Array.from(document.querySelectorAll('article h2')).length;")
        assert headings >= 10
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        _screenshot(driver, tmp_path / "docs_formulation.png", (1280, 900), mobile=False)

        driver.get(served + "examples/paper_day/")
        images = driver.execute_script(
            "return Array.from(document.querySelectorAll('article img')).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);"
        )
        assert len(images) >= 4
        for complete, width, height in images:
            assert complete and width > 300 and height > 100
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        _screenshot(driver, tmp_path / "docs_example.png", (1280, 900), mobile=False)
    finally:
        driver.quit()


def test_the_scenarios_guide_holds_the_table_of_every_key():
    """The table of scenario keys is written into docs/guides/scenarios.md (readable where the
    markdown is read, not only on the built site) and matches the schema; the strict build fails
    when it does not (python docs/_hooks/site.py writes it again)."""
    site = _hook("site")
    page = (DOCS / "guides" / "scenarios.md").read_text(encoding="utf-8")
    block = site.scenario_keys_block(page)
    assert block == site.scenario_keys() and "| `ces.k` | float | required |" in block
    site.check_scenario_keys(page)
    with pytest.raises(ValueError, match="python docs/_hooks/site.py"):
        site.check_scenario_keys(page.replace("| `ces.k` |", "| `ces.kk` |"))


@pytest.mark.slow
def test_the_hosting_example_shows_limits_off_enforced_and_both_rules(site):
    text = _text((site / "examples" / "hosting_capacity" / "index.html").read_text(encoding="utf-8"))
    assert re.search(r"Enforced, 10 kWp a household stays inside the band \(highest 1\.10\d\d p\.u\.\)", text)
    assert re.search(r"The CES at the far end avoids \d+\.\d kWh", text)
    least = re.search(r"least: (\d+\.\d) kWh curtailed, by (\d+) of 55 prosumers", text)
    equal = re.search(r"equal_share: (\d+\.\d) kWh curtailed, by (\d+) of 55 prosumers", text)
    assert least and equal
    assert float(least.group(1)) < float(equal.group(1))  # the least rule curtails least in all
    assert int(least.group(2)) < int(equal.group(2))  # and asks fewer prosumers
