"""The built distributions install and run outside the checkout.

What is checked, against the repository root ``Path(__file__).parents[1]``:

* A wheel built straight from the tree (``pip wheel``) and a wheel built from the sdist
  (``python -m build``: sdist first, then the wheel from that sdist) hold the same files, so the
  sdist is complete; both hold every module of ``lec_opt/`` and every shipped scenario and data
  file (``models/``, ``data/``) under ``lec_opt/_shipped/``, so pyproject's explicit
  ``packages`` list misses no sub-package.
* The sdist's wheel, installed with ``--no-deps`` into a fresh venv, is the ``lec_opt`` that venv
  imports (from its own site-packages, not the checkout), and its scenarios and data are the
  installed package data.
* From an empty folder, that venv's ``lec-opt solve-day --method greedy`` writes the five files of
  a 288-interval day, and ``lec-opt data info --json`` describes the shipped community.

Builds run WITHOUT build isolation: the build backend (setuptools>=77, from pyproject's
``[build-system]``) and the ``build`` front end must be importable in the test environment. That
keeps the test offline and fast (build isolation would download setuptools from the package index
once per build, three times here). A Python 3.11 venv starts with setuptools 65 (from ensurepip),
too old for pyproject's ``license = "MIT"``, so the test extra must list ``build`` and
``setuptools>=77``; when either is missing the test FAILS (it never skips) and says so.

The builds run on a copy of the tree (without .git, build/, *.egg-info, caches, results): building
in place would write build/ and lec_opt.egg-info into the checkout, and a stale build/lib/ would
leak modules that no longer exist into the wheel.

The fresh venv sees the test environment's third-party packages (pyomo, highspy, pandas ...)
through one ``.pth`` file listing that environment's site-packages folders. A path line of a
``.pth`` file is only appended to sys.path: the ``.pth`` files inside that folder are not read, so
the editable install's finder (``__editable__.lec_opt-*.pth``) stays inactive. The test checks
that before installing the wheel: ``lec_opt`` is then not importable in the venv at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # three builds and a fresh venv

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600  # seconds per command; the whole test takes well under a minute

# not copied to the build tree: at the root, and (second set) anywhere
_SKIP_AT_ROOT = {".git", "build", "dist", "results", ".venv", "venv", ".hypothesis", ".pytest_cache", ".ruff_cache"}
_SKIP_ANYWHERE = {"__pycache__", ".ipynb_checkpoints"}


@dataclass
class Installed:
    tree_wheel: Path
    sdist: Path
    sdist_wheel: Path
    python: Path  # the fresh venv's interpreter
    script: Path  # its lec-opt console script
    site: Path  # its site-packages
    env: dict[str, str]


def _run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command; fail the test with its full output unless it exits 0."""
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"exit code {proc.returncode}: {' '.join(map(str, cmd))}\n(cwd {cwd})\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}",
            pytrace=False,
        )
    return proc


def _require_build_tools() -> None:
    """setuptools>=77 and build in this environment, or a failure that says what to install."""
    problems = []
    try:
        have = version("setuptools")
        if int(re.match(r"\d+", have).group()) < 77:
            problems.append(f"setuptools {have} is installed, pyproject's [build-system] needs setuptools>=77")
    except PackageNotFoundError:
        problems.append("setuptools is not installed")
    try:
        version("build")
    except PackageNotFoundError:
        problems.append("the 'build' front end is not installed")
    if problems:
        pytest.fail(
            "test_install builds without build isolation and needs, in the test environment: "
            + "; ".join(problems)
            + '. pyproject\'s test extra should list "build>=1.2" and '
            '"setuptools>=77" (then: pip install -e ".[test]").',
            pytrace=False,
        )


def _copy_tree(dest: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in _SKIP_ANYWHERE or n.endswith((".egg-info", ".pyc"))}
        if Path(folder).resolve() == ROOT:
            skip |= _SKIP_AT_ROOT & set(names)
        return skip

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {folder}, found {[p.name for p in found]}"
    return found[0]


def _site_dirs_of_this_env() -> list[str]:
    """The site-packages folders of the running environment (third-party packages live there).

    Wherever that environment lives: the README's ``.venv`` is inside the checkout. Only folders named
    site-packages (or dist-packages) are taken, never the checkout itself, and a ``.pth`` path line does
    not run the ``.pth`` files inside it, so the checkout's ``lec_opt`` (an editable install's finder)
    stays hidden: the fixture checks that ``lec_opt`` is not importable before the wheel goes in."""
    candidates = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    candidates += [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    out = []
    for p in candidates:
        path = Path(p).resolve()
        if path.is_dir() and str(path) not in out:
            out.append(str(path))
    return out


def _probe(installed_python: Path, env: dict[str, str], cwd: Path, code: str) -> dict:
    return json.loads(_run([installed_python, "-c", code], cwd=cwd, env=env).stdout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    _require_build_tools()
    base = tmp_path_factory.mktemp("install")

    # 1. sdist, then a wheel from the sdist; then a wheel straight from the tree
    src = _copy_tree(base / "src")
    dist = base / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, src], cwd=base)
    tree = base / "tree-wheel"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            tree,
            src,
        ],
        cwd=base,
    )

    # 2. a fresh venv that sees this environment's third-party packages but not the checkout
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=base)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV")
    }
    env.update(
        PYTHONNOUSERSITE="1",
        VIRTUAL_ENV=str(venv),
        MPLBACKEND="Agg",
        PATH=os.pathsep.join([str(bindir), env.get("PATH", "")]),
    )
    empty = base / "empty"
    empty.mkdir()
    site = Path(
        _probe(python, env, empty, "import json, sysconfig; print(json.dumps(sysconfig.get_paths()['purelib']))")
    )
    parent_dirs = _site_dirs_of_this_env()
    pth = site / "_parent_env.pth"
    pth.write_text("".join(f"{p}\n" for p in parent_dirs), encoding="utf-8")

    before = _probe(
        python,
        env,
        empty,
        (
            "import importlib.util as u, json, sys; print(json.dumps({"
            "'lec_opt': u.find_spec('lec_opt') is not None, 'pyomo': u.find_spec('pyomo') is not None, "
            "'finders': [type(f).__module__ for f in sys.meta_path]}))"
        ),
    )
    assert before["pyomo"], f"the fresh venv does not see this environment's packages via {parent_dirs}"
    assert not before["lec_opt"], "lec_opt is importable in the fresh venv before installing the wheel"
    assert not any("editable" in f for f in before["finders"]), before["finders"]

    # 3. the wheel built from the sdist, installed without dependencies and without an index. The
    # .pth is out of the way meanwhile, or pip would see the editable lec-opt 0.1.0 of this
    # environment as already installed.
    sdist_wheel = _one(dist, "lec_opt-*.whl")
    pth.rename(pth.with_suffix(".off"))
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", sdist_wheel], cwd=base)
    pth.with_suffix(".off").rename(pth)
    script = bindir / ("lec-opt.exe" if os.name == "nt" else "lec-opt")
    assert script.is_file(), f"no console script {script} after installing {sdist_wheel.name}"
    return Installed(
        tree_wheel=_one(tree, "lec_opt-*.whl"),
        sdist=_one(dist, "lec_opt-*.tar.gz"),
        sdist_wheel=sdist_wheel,
        python=python,
        script=script,
        site=site,
        env=env,
    )


def _empty_dir(tmp_path: Path) -> Path:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return cwd


def test_wheels_from_tree_and_from_sdist_are_complete(installed: Installed) -> None:
    with zipfile.ZipFile(installed.tree_wheel) as z:
        from_tree = set(z.namelist())
    with zipfile.ZipFile(installed.sdist_wheel) as z:
        from_sdist = set(z.namelist())
    assert from_tree == from_sdist, (
        f"only in the tree's wheel: {sorted(from_tree - from_sdist)}; "
        f"only in the sdist's wheel: {sorted(from_sdist - from_tree)}"
    )

    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "lec_opt").rglob("*.py") if "__pycache__" not in p.parts}
    shipped = {
        f"lec_opt/_shipped/{p.relative_to(ROOT).as_posix()}"
        for pattern in ("models/*.toml", "models/*.md", "data/*/*.csv", "data/*/*.json")
        for p in ROOT.glob(pattern)
    }
    assert "lec_opt/_shipped/models/paper_5min.toml" in shipped
    assert "lec_opt/_shipped/data/paper_day/manifest.json" in shipped
    missing = sorted((modules | shipped) - from_sdist)
    assert not missing, f"the wheel lacks {missing} (pyproject's packages / package-data?)"


def test_installed_package_is_the_wheel_with_its_data(installed: Installed, tmp_path: Path) -> None:
    where = _probe(
        installed.python,
        installed.env,
        _empty_dir(tmp_path),
        (
            "import json, lec_opt, lec_opt.io.shipped as s; from importlib.metadata import distribution; "
            "print(json.dumps({'lec_opt': lec_opt.__file__, 'scenario': str(s.DEFAULT_SCENARIO), "
            "'data': str(s.DEFAULT_DATA), 'models_dir': str(s.MODELS_DIR), 'data_dir': str(s.DATA_DIR), "
            "'dist': str(distribution('lec-opt').locate_file(''))}))"
        ),
    )
    package = installed.site / "lec_opt"
    for key, value in where.items():
        path = Path(value).resolve()
        assert not path.is_relative_to(ROOT), f"{key} comes from the checkout: {path}"
        assert path.exists(), f"{key}: {path} does not exist"
        inside = installed.site if key == "dist" else package
        assert path.is_relative_to(inside.resolve()), f"{key}: {path} is not under {inside}"
    assert Path(where["scenario"]).name == "paper_5min.toml"
    assert (Path(where["data"]) / "manifest.json").is_file()


def test_solve_day_greedy_from_an_empty_folder(installed: Installed, tmp_path: Path) -> None:
    cwd = _empty_dir(tmp_path)
    _run([installed.script, "solve-day", "--method", "greedy", "--out", "out"], cwd=cwd, env=installed.env)
    out = cwd / "out"
    for name in ("intervals.csv", "trades.csv", "settlement.csv", "summary.json", "scenario.toml"):
        assert (out / name).is_file(), f"solve-day wrote no {name}: {sorted(p.name for p in out.iterdir())}"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["intervals"] == 288 and summary["method"] == "greedy", summary
    assert len((out / "intervals.csv").read_text(encoding="utf-8").splitlines()) == 1 + 288
    assert sorted(p.name for p in cwd.iterdir()) == ["out"], "solve-day wrote outside --out"


def test_data_info_from_an_empty_folder(installed: Installed, tmp_path: Path) -> None:
    proc = _run([installed.script, "data", "info", "--json"], cwd=_empty_dir(tmp_path), env=installed.env)
    info = json.loads(proc.stdout)
    assert info["intervals"] == 288 and info["n_peers"] == 100, info
