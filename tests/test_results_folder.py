"""Results folders: never lose a user's files, never leave a half-written result.

- every folder lec-opt writes carries ``lec-opt.json`` (state complete, written last); readers
  (report, game, sweep --resume) refuse anything else and say why;
- ``--out``: an existing file is an error, a non-empty folder lec-opt did not write is refused
  unless ``--overwrite``, a previous lec-opt folder is replaced as a whole (partial folder + swap);
- one writer at a time (a lock naming the other run; a dead run's lock is taken over);
- every path argument of every command, found by walking the CLI: a clear ``error:`` line and
  exit status 2, never a traceback, the previous results intact (a full disk included);
- kill -9 at many moments of ``solve-day``, ``sweep`` and ``report``: the ``--out`` folder is
  absent, the previous complete result or the new complete result, and the same command then
  succeeds. The assertions are about the folder's state, whatever moment the kill hit.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import pandas as pd
import pytest
import typer
from conftest import make_data_folder, small_scenario_dict, to_toml
from helpers import day_digest, error_of
from helpers import run_cli as cli

from lec_opt.cli import app
from lec_opt.cli.paths import PATH_ROLES
from lec_opt.errors import InputError, LecOptError
from lec_opt.io import folder_swap
from lec_opt.io import results_folder as rf
from lec_opt.io.paths import check_out_path
from lec_opt.io.results_folder import RESULTS_MANIFEST, partial_dir, read_manifest, require_complete

ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


# --- a small community and running the CLI ------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A 4-peer community at 60-minute intervals: ``scenario.toml`` beside its ``data/``."""
    root = tmp_path_factory.mktemp("small")
    make_data_folder(root / "data")
    (root / "scenario.toml").write_text(to_toml({**small_scenario_dict(), "interval_minutes": 60}))
    return root / "scenario.toml"


@pytest.fixture(scope="module")
def day_a(small, tmp_path_factory) -> Path:
    """A complete day folder (priority A), written by the CLI."""
    out = tmp_path_factory.mktemp("day_a") / "day"
    code, _, err = cli("solve-day", "-s", small, "--method", "greedy", "--priority", "A", "--out", out)
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def feeder_day(small, tmp_path_factory) -> Path:
    """A complete feeder day folder: the small community on the five-bus feeder of
    tests/test_network.py, 240-minute intervals, greedy."""
    from tests.test_network import five_bus_feeder

    root = tmp_path_factory.mktemp("feeder")
    shutil.copytree(small.parent / "data", root / "data")
    five_bus_feeder(root / "net.json")
    doc = small_scenario_dict()
    doc |= {
        "interval_minutes": 240,
        "community": {**doc.get("community", {}), "topology": "feeder"},
        "network": {"file": "net.json", "ces_bus": "B1", "ev_buses": ["B2", "B4"]},
    }
    (root / "scenario.toml").write_text(to_toml(doc))
    out = root / "day"
    code, _, err = cli("solve-day", "-s", root / "scenario.toml", "--method", "greedy", "--out", out)
    assert code == 0, err
    return out


def assert_refused(result: tuple[int, str, str], *needles) -> None:
    code, out, err = result
    assert code == 2, (code, out, err)
    err = error_of(err)
    assert "Traceback" not in err and "Traceback" not in out
    for needle in needles:
        assert str(needle) in err, (needle, err)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative path -> bytes); {} when it does not exist."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    """The lock, partial and old folders a run keeps beside ``out`` while it writes."""
    return sorted(p.name for p in out.parent.glob(f".{out.name}.lec-opt.*"))


def assert_complete(folder: Path, kind: str) -> dict:
    """A complete folder: its manifest says so and lists exactly the files that are there."""
    manifest = require_complete(folder, (kind,))
    assert manifest["state"] == "complete" and manifest["lec_opt_version"]
    assert set(manifest["files"]) == set(snapshot(folder)) - {RESULTS_MANIFEST}
    return manifest


# --- what the issue found ------------------------------------------------------------------------


def test_a_folder_of_the_users_files_is_refused_and_kept(small, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "summary.json").write_text('{"mine": true}\n')
    (notes / "ideas.txt").write_text("ring of 12\n")
    before = snapshot(notes)
    assert_refused(cli("solve-day", "-s", small, "--method", "greedy", "--out", notes), notes, "--overwrite")
    assert snapshot(notes) == before and leftovers(notes) == []
    # --overwrite replaces the folder as a whole
    code, _, err = cli("solve-day", "-s", small, "--method", "greedy", "--out", notes, "--overwrite")
    assert code == 0, err
    assert "ideas.txt" not in snapshot(notes) and json.loads((notes / "summary.json").read_text())["method"] == "greedy"
    assert_complete(notes, "day")


def test_an_existing_file_is_an_error_not_a_traceback(small, tmp_path):
    target = tmp_path / "some_file"
    target.write_text("keep me\n")
    assert_refused(cli("solve-day", "-s", small, "--method", "greedy", "--out", target), target, "is a file")
    assert target.read_text() == "keep me\n"


def test_a_previous_result_is_replaced_as_a_whole(small, day_a, tmp_path):
    out = tmp_path / "day"
    shutil.copytree(day_a, out)
    for update in (["game", out, "--samples", "20"], ["report", out, "--format", "png"]):  # files of the old run only
        code, _, err = cli(*update)
        assert code == 0, err
    listed = read_manifest(out)["files"]
    assert "stability.csv" in listed and any(f.startswith("figures/") for f in listed)
    code, _, err = cli("solve-day", "-s", small, "--method", "greedy", "--priority", "B", "--out", out)
    assert code == 0, err
    manifest = assert_complete(out, "day")
    assert sorted(snapshot(out)) == sorted([*manifest["files"], RESULTS_MANIFEST])
    assert "stability.csv" not in manifest["files"] and not (out / "figures").exists()
    assert json.loads((out / "summary.json").read_text())["priority"] == "B"
    assert manifest["command"].startswith("lec-opt solve-day") and manifest["scenario_hash"]
    assert leftovers(out) == []


def test_the_users_files_in_a_lec_opt_folder_are_never_deleted(small, day_a, tmp_path):
    """A spreadsheet put into a results folder: report and game keep it (unlisted), writing the folder
    again is refused naming it, before any work; only --overwrite replaces the folder and it."""
    out = tmp_path / "day"
    shutil.copytree(day_a, out)
    (out / "my_analysis.xlsx").write_bytes(b"PK mine")
    (out / "notes").mkdir()
    (out / "notes" / "ideas.txt").write_text("a bigger battery?\n")
    code, _, err = cli("report", out, "--format", "png")
    assert code == 0, err
    assert (out / "my_analysis.xlsx").read_bytes() == b"PK mine" and (out / "notes" / "ideas.txt").is_file()
    assert rf.foreign_files(out) == ["my_analysis.xlsx", "notes/ideas.txt"]
    assert "my_analysis.xlsx" not in read_manifest(out)["files"]
    before = snapshot(out)
    again = ["solve-day", "-s", small, "--method", "greedy", "--priority", "B", "--out", out]
    assert_refused(cli(*again), out, "my_analysis.xlsx, notes/ideas.txt", "would delete them", "--overwrite")
    assert snapshot(out) == before and leftovers(out) == []
    code, _, err = cli(*again, "--overwrite")
    assert code == 0, err
    assert rf.foreign_files(out) == [] and not (out / "my_analysis.xlsx").exists()


def test_the_manifest_records_version_scenario_command_and_state(small, day_a):
    manifest = json.loads((day_a / RESULTS_MANIFEST).read_text())
    assert manifest["kind"] == "day" and manifest["state"] == "complete"
    assert manifest["command"] == f"lec-opt solve-day -s {small} --method greedy --priority A --out {day_a}"
    import lec_opt

    assert manifest["lec_opt_version"] == lec_opt.__version__
    assert len(manifest["scenario_hash"]) == 64
    assert manifest["files"] == ["intervals.csv", "scenario.toml", "settlement.csv", "summary.json", "trades.csv"]


def test_the_swap_without_an_atomic_exchange(small, day_a, tmp_path, monkeypatch):
    """Where renameat2 is missing the old folder is renamed away first: the result is the same."""
    monkeypatch.setattr(folder_swap, "exchange", lambda a, b: False)
    out = tmp_path / "day"
    shutil.copytree(day_a, out)
    code, _, err = cli("solve-day", "-s", small, "--method", "greedy", "--priority", "C", "--out", out)
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["priority"] == "C" and leftovers(out) == []


@pytest.mark.parametrize("partial_complete", [True, False])
def test_a_swap_killed_half_way_is_finished_or_rolled_back(day_a, tmp_path, partial_complete):
    """Killed between the two renames of the fallback swap: the next run finds ``out`` missing, the
    old folder beside it and the new one complete (finish) or not (roll back)."""
    out = tmp_path / "day"
    shutil.copytree(day_a, tmp_path / ".day.lec-opt.old")
    shutil.copytree(day_a, partial_dir(out))
    (partial_dir(out) / "new.txt").write_text("new\n")  # a file the new run wrote: its manifest lists it
    manifest = json.loads((partial_dir(out) / RESULTS_MANIFEST).read_text())
    manifest["files"] = sorted([*manifest["files"], "new.txt"])
    if not partial_complete:
        manifest["state"] = "writing"
    (partial_dir(out) / RESULTS_MANIFEST).write_text(json.dumps(manifest))
    with rf.claim(out):
        assert out.is_dir() and (out / "new.txt").exists() == partial_complete
    assert_complete(out, "day") if not partial_complete else require_complete(out)
    assert not (tmp_path / ".day.lec-opt.old").exists()


# --- readers take only complete folders -----------------------------------------------------------


def test_readers_refuse_a_folder_that_is_not_complete_and_say_why(day_a, tmp_path):
    mine = tmp_path / "mine"
    shutil.copytree(day_a, mine)
    (mine / RESULTS_MANIFEST).unlink()
    for command in (["report", mine], ["game", mine], ["game", mine, "--interval", "3"]):
        assert_refused(cli(*command), mine, "not a complete lec-opt results folder", "lec-opt.json")
    assert not (mine / "figures").exists() and not (mine / "stability.csv").exists()
    unfinished = tmp_path / "unfinished"
    shutil.copytree(day_a, unfinished)
    manifest = json.loads((unfinished / RESULTS_MANIFEST).read_text())
    (unfinished / RESULTS_MANIFEST).write_text(json.dumps({**manifest, "state": "writing"}))
    assert_refused(cli("report", unfinished), "did not finish", "state 'writing'")


def test_resume_reads_only_a_complete_sweep(small, day_a, tmp_path):
    args = ["sweep", "-s", small, "--method", "greedy", "--executor", "serial", "-p", "ces.k=0.5,1.0", "--no-figures"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "points").mkdir()
    (mine / "sweep.csv").write_text("ces.k,score\n")
    assert_refused(cli(*args, "--out", mine, "--resume"), mine, "not a complete lec-opt results folder")
    assert_refused(cli(*args, "--out", day_a, "--resume"), "holds a day folder", "needs a sweep folder")
    code, out, err = cli(*args, "--out", tmp_path / "sweep")
    assert code == 0, err
    code, out, err = cli(*args, "--out", tmp_path / "sweep", "--resume")
    assert code == 0 and "2 points resumed" in " ".join(out.split()), (out, err)
    assert_complete(tmp_path / "sweep", "sweep")


def test_report_and_game_update_the_folder_whole(small, day_a, tmp_path):
    out = tmp_path / "day"
    shutil.copytree(day_a, out)
    digest = day_digest(out)
    code, _, err = cli("report", out)
    assert code == 0, err
    manifest = assert_complete(out, "day")
    drawn = sorted(f"figures/{p.name}" for p in (out / "figures").iterdir())
    assert "report.html" in manifest["files"] and [f for f in manifest["files"] if f.startswith("figures/")] == drawn
    assert len(drawn) >= 8  # the day's figures 1-8 at least
    assert manifest["command"] == json.loads((day_a / RESULTS_MANIFEST).read_text())["command"]
    assert manifest["updated_by"] == [f"lec-opt report {out}"]
    code, _, err = cli("game", out, "--samples", "20")
    assert code == 0, err
    manifest = assert_complete(out, "day")
    assert "stability.csv" in manifest["files"] and len(manifest["updated_by"]) == 2
    assert day_digest(day_a) == digest  # the hard-linked copy never changed the original's files
    assert "intervals_checked" not in json.loads((day_a / "summary.json").read_text())


# --- one writer at a time ------------------------------------------------------------------------

HOLD = (
    "import sys\n"
    "from lec_opt.io.results_folder import claim\n"
    "with claim(sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    sys.stdin.read()\n"
)


def test_a_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over(small, tmp_path):
    out = tmp_path / "day"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = cli("solve-day", "-s", small, "--method", "greedy", "--out", out)
        assert_refused(result, out, "another lec-opt run is writing", f"process {holder.pid}")
        assert_refused(cli("sweep", "-s", small, "--method", "greedy", "-p", "ces.k=0.5", "--out", out), holder.pid)
    finally:
        holder.kill()
        holder.wait()
    lock = out.parent / f".{out.name}.lec-opt.lock"
    assert json.loads(lock.read_text())["pid"] == holder.pid  # killed: its lock file stays behind
    code, _, err = cli("solve-day", "-s", small, "--method", "greedy", "--out", out)
    assert code == 0, err
    assert_complete(out, "day")
    assert not lock.exists()


def test_a_lock_file_naming_a_dead_process_is_taken_over(small, tmp_path):
    out = tmp_path / "day"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".day.lec-opt.lock").write_text(json.dumps({"pid": dead.pid, "host": "here", "command": "x"}))
    code, _, err = cli("solve-day", "-s", small, "--method", "greedy", "--out", out)
    assert code == 0, err


# --- every path argument of every command --------------------------------------------------------


def _commands(typer_app: typer.Typer, prefix: tuple[str, ...] = ()):
    for info in typer_app.registered_commands:
        yield (*prefix, info.name or info.callback.__name__.replace("_", "-")), info.callback
    for group in typer_app.registered_groups:
        yield from _commands(group.typer_instance, (*prefix, group.name))


def path_parameters() -> list[tuple[tuple[str, ...], str, str | None, str]]:
    """(command, parameter, option or None for an argument, role) of every Path parameter."""
    found = []
    for command, callback in _commands(app):
        hints = typing.get_type_hints(callback, include_extras=True)
        for name in inspect.signature(callback).parameters:
            hint = hints[name]
            if typing.get_origin(hint) is not typing.Annotated:
                continue
            base, info = typing.get_args(hint)[:2]
            if Path not in (base, *typing.get_args(base)):
                continue
            role = PATH_ROLES.get(getattr(info, "parser", None))
            assert role is not None, f"{' '.join(command)}: {name} takes a path without a lec_opt.cli.paths parser"
            # typer.Option("--out", ...) inside Annotated: the first name arrives as the default
            names = [d for d in (info.default, *(info.param_decls or ())) if isinstance(d, str) and d.startswith("-")]
            option = names[0] if isinstance(info, typer.models.OptionInfo) else None
            found.append((command, name, option, role))
    return found


PATHS = path_parameters()


def test_the_walk_finds_every_kind_of_path():
    roles = {role for *_, role in PATHS}
    assert roles == {"file", "folder", "results", "out"}
    commands = {command for command, *_ in PATHS}
    assert {("solve-day",), ("sweep",), ("report",), ("game",), ("data", "generate")} <= commands


def _invocation(command, parameter, option, value, good: dict[str, Path]) -> list:
    """``command`` with ``value`` for ``parameter`` and good values for its other required paths."""
    args: list = [*command]
    for other_command, other, other_option, role in PATHS:
        if other_command != command:
            continue
        given = value if other == parameter else (good[role] if other_option is None or role == "out" else None)
        if given is None:
            continue
        args += [given] if other_option is None else [other_option, given]
    return args


@pytest.fixture(scope="module")
def service(small, tmp_path_factory):
    """``lec-opt export``'s source: the aggregator service on the small community, its day replayed
    (tests/test_service_*.py test the service; here it only feeds the export's folder rules)."""
    from service_support import OPERATOR, thread_server

    from lec_opt.scenario import load_scenario
    from lec_opt.service.aggregator import Aggregator
    from lec_opt.service.app import create_app
    from lec_opt.service.client import replay
    from lec_opt.service.community import Community

    db = f"sqlite:///{tmp_path_factory.mktemp('service') / 'service.db'}"
    before = os.environ.get("LEC_OPT_OPERATOR_TOKEN")
    os.environ["LEC_OPT_OPERATOR_TOKEN"] = OPERATOR
    try:
        with thread_server(create_app(Aggregator(Community(load_scenario(small), "greedy"), db, OPERATOR))) as url:
            replay(load_scenario(small), url, OPERATOR)
            yield url
    finally:
        os.environ.pop("LEC_OPT_OPERATOR_TOKEN") if before is None else os.environ.update(LEC_OPT_OPERATOR_TOKEN=before)


@pytest.fixture(scope="module")
def good_paths(small, day_a, service, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("good")
    return {"file": small, "folder": small.parent / "data", "results": day_a, "out": root / "new", "url": service}


@pytest.mark.parametrize(("command", "parameter", "option", "role"), PATHS, ids=lambda v: str(v))
def test_every_path_argument_names_a_bad_path(command, parameter, option, role, good_paths, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("mine\n")
    a_folder = tmp_path / "a_folder"
    a_folder.mkdir()
    (a_folder / "mine.txt").write_text("mine\n")
    cases = [(a_file / "below", "is a file"), (tmp_path / "no" / "such" / "thing", "")]
    if role == "file":
        cases.append((a_folder, "is a folder"))
    else:
        cases.append((a_file, "is a file"))
    if role == "results":
        cases.append((a_folder, "not a complete lec-opt results folder"))
    if role == "out":
        cases.append((a_folder, "--overwrite"))  # a non-empty folder lec-opt did not write
    before = snapshot(tmp_path)
    for value, reason in cases:
        args = _invocation(command, parameter, option, value, good_paths)
        if role == "out" and reason == "--overwrite" and command not in VALID:
            continue  # checked at the start of the command: needs a valid invocation (VALID)
        if role == "out" and reason == "--overwrite":
            args = VALID[command](good_paths, value)
        assert_refused(cli(*args), value, reason)
        assert snapshot(tmp_path) == before  # nothing written, nothing removed
    if role == "out":
        locked = tmp_path / "locked"
        locked.mkdir()
        with unwritable(locked):
            assert_refused(cli(*_invocation(command, parameter, option, locked / "out", good_paths)), "permission")


@contextlib.contextmanager
def unwritable(folder: Path):
    """``folder`` refuses new entries while the block runs: mode 0o500, or for root (whom modes do not
    stop, and CI runs as root) the immutable attribute (``chattr +i``), which stops root as well."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    subprocess.run(["chattr", "+i", folder], check=True, capture_output=True)
    try:
        assert not os.access(folder, os.W_OK), f"chattr +i did not make {folder} unwritable for root"
        yield
    finally:
        subprocess.run(["chattr", "-i", folder], check=True, capture_output=True)


def _feeder(root: Path) -> Path:
    feeder = root / "feeder"
    if not feeder.exists():
        feeder.mkdir()
        labels = [f"{((r + 1) % 1440) // 60:02d}:{(r + 1) % 60:02d}:00" for r in range(1440)]
        for k in (1, 2):
            lines = ["time,mult"] + [f"{t},{0.3 + 0.1 * k:.3f}" for t in labels]
            (feeder / f"Load_profile_{k}.csv").write_text("\n".join(lines) + "\n")
    return feeder


def _ieee_case(root: Path) -> Path:
    """The IEEE test case's 55 Load_profile files (flat 0.4 kW), made once under ``root``."""
    loads = root / "ieee_case"
    if not loads.exists():
        loads.mkdir()
        labels = [f"{((r + 1) % 1440) // 60:02d}:{(r + 1) % 60:02d}:00" for r in range(1440)]
        text = "\n".join(["time,mult"] + [f"{t},0.400" for t in labels]) + "\n"
        for k in range(1, 56):
            (loads / f"Load_profile_{k}.csv").write_text(text)
    return loads


# a quick valid run of every command that writes a folder: (good paths, the folder) -> arguments
VALID = {
    ("solve-day",): lambda g, out: ["solve-day", "-s", g["file"], "--method", "greedy", "--out", out],
    ("sweep",): lambda g, out: [
        *("sweep", "-s", g["file"], "--method", "greedy", "--executor", "serial"),
        *("-p", "ces.k=0.5,1.0", "--no-figures", "--out", out),
    ],
    ("solve-period",): lambda g, out: [
        *("solve-period", "-s", g["file"], "--method", "greedy", "--start", "2025-01-01", "--days", "2"),
        *("--executor", "serial", "--no-figures", "--out", out),
    ],
    ("data", "import-ieee-lv"): lambda g, out: [
        *("data", "import-ieee-lv", _feeder(g["out"].parent), "--out", out, "--pv-ev-from", g["folder"]),
    ],
    ("data", "generate"): lambda g, out: ["data", "generate", "--out", out],
    ("network", "ieee-reference"): lambda g, out: [
        "network",
        "ieee-reference",
        _ieee_case(g["out"].parent),
        "--out",
        out,
    ],
    ("export",): lambda g, out: ["export", "--url", g["url"], "--out", out],
    ("report",): lambda g, folder: ["report", folder],
    ("power-flow",): lambda g, folder: ["power-flow", folder],
    ("game",): lambda g, folder: ["game", folder, "--samples", "20"],
}
# the previous complete folder a failed run must leave intact: made by the command itself, by a
# cheaper command of the same kind, or copied from the day
PREVIOUS = {("data", "generate"): ("data", "import-ieee-lv")}


def test_every_writing_command_has_a_valid_run():
    writers = {command for command, _, _, role in PATHS if role in ("out", "results")}
    assert writers == set(VALID), "add a quick valid invocation of the new command to VALID"


@pytest.mark.parametrize("command", sorted(VALID), ids=" ".join)
def test_a_full_disk_is_an_error_and_the_previous_result_stays(
    command, good_paths, day_a, tmp_path, monkeypatch, request
):
    """The write raises ENOSPC (from the second file on): exit 2, a message naming the folder and the
    reason, the previous complete folder byte for byte, and nothing else left (a sweep keeps its
    partial folder, to resume)."""
    out = tmp_path / "out"
    if command in (("report",), ("game",)):
        shutil.copytree(day_a, out)
    elif command == ("power-flow",):
        shutil.copytree(request.getfixturevalue("feeder_day"), out)
    else:
        code, _, err = cli(*VALID[PREVIOUS.get(command, command)](good_paths, out))
        assert code == 0, err
    before = snapshot(out)
    real_fsync, calls = os.fsync, []

    def full_disk(fd):
        calls.append(fd)
        if len(calls) >= 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    assert_refused(
        cli(*VALID[command](good_paths, out)), out, "No space left on device", "previous folder is unchanged"
    )
    monkeypatch.undo()
    assert snapshot(out) == before
    resumable = command in (("sweep",), ("solve-period",))  # they keep their partial folder to resume
    assert leftovers(out) == ([f".{out.name}.lec-opt.partial"] if resumable else [])


# --- kill -9 at any moment ------------------------------------------------------------------------


def _spawn(args: list, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lec_opt", *map(str, args)],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# ``lec-opt ARGS`` with every fsync counted (each file lec-opt writes and each folder it swaps ends
# with one): at call number STOP_AT the run writes MARKER (the number of files in the partial folder)
# and waits to be killed; at exit it writes the number of calls to MARKER
_PAUSED_RUN = """
import atexit, os, sys, time
from pathlib import Path
marker, stop_at, partial = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
real, calls = os.fsync, [0]
def fsync(fd):
    real(fd)
    calls[0] += 1
    if calls[0] == stop_at:
        files = sum(1 for p in partial.rglob("*") if p.is_file()) if partial.is_dir() else -1
        marker.write_text(str(files))
        time.sleep(600)
os.fsync = fsync
atexit.register(lambda: marker.write_text(str(calls[0])))
sys.argv = ["lec-opt", *sys.argv[4:]]
from lec_opt.cli import main
main()
"""


def _paused(args: list, out: Path, cwd: Path, stop_at: int) -> tuple[subprocess.Popen, Path]:
    marker = cwd / f".fsync-{stop_at}"
    marker.unlink(missing_ok=True)
    argv = [sys.executable, "-c", _PAUSED_RUN, marker, stop_at, partial_dir(out), *args]
    proc = subprocess.Popen(
        list(map(str, argv)),
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc, marker


def kill_at_many_moments(args: list, out: Path, cwd: Path, seconds: float, check) -> list[str]:
    """Run ``args`` again and again and kill it (-9, with its children): after a spread of delays over
    its normal run time ``seconds``, and then at file writes spread over its write phase, where each
    kill is certain to land (the run waits at its k-th fsync until it is killed). ``check(out)`` after
    each kill returns the state found. Returns the states; at least one kill must have found the
    partial folder with some but not all of its files written."""
    states = []
    for fraction in (0.3, 0.7, 1.0):
        proc = _spawn(args, cwd)
        try:
            proc.wait(timeout=seconds * fraction)
        except subprocess.TimeoutExpired:
            pass
        _kill(proc)
        states.append(check(out))
    proc, marker = _paused(args, out, cwd, 10**9)  # a whole run, to count its fsync calls
    assert proc.wait(timeout=10 * seconds + 60) == 0 and marker.is_file()
    calls, written = int(marker.read_text()), set()
    for stop_at in sorted({2, calls // 2, calls - 1} - {0}):  # the first files, the middle, the last one
        proc, marker = _paused(args, out, cwd, stop_at)
        deadline = time.monotonic() + 10 * seconds + 60
        while proc.poll() is None and not marker.is_file() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None and marker.is_file(), f"the run did not reach fsync {stop_at} of {calls}"
        time.sleep(0.01)  # the marker is written whole
        written.add(int(marker.read_text()))
        _kill(proc)
        states.append(check(out))
    total = max(written)
    assert any(0 < n < total for n in written), (
        f"no kill landed between two files of the write phase: {sorted(written)} files at fsync calls of {calls}"
    )
    return states


def _timed(args: list, cwd: Path) -> float:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lec_opt", *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return time.monotonic() - started


def _then_the_same_command_succeeds(args: list, out: Path, cwd: Path, check) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lec_opt", *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert check(out) == "new" and leftovers(out) == []


@pytest.mark.slow
def test_solve_day_killed_at_any_moment(small, day_a, tmp_path):
    out = tmp_path / "day"
    shutil.copytree(day_a, out)
    args = ["solve-day", "-s", small, "--method", "greedy", "--priority", "B", "--out", out]
    seconds = _timed([*args[:-1], tmp_path / "reference"], tmp_path)
    old, new = day_digest(day_a), day_digest(tmp_path / "reference")
    assert old != new

    def check(folder: Path) -> str:
        if not folder.exists():
            return "absent"
        assert_complete(folder, "day")
        return {old: "old", new: "new"}[day_digest(folder)]

    states = kill_at_many_moments(args, out, tmp_path, seconds, check)
    assert set(states) <= {"absent", "old", "new"}, states
    _then_the_same_command_succeeds(args, out, tmp_path, check)


def _sweep_rows(folder: Path) -> list[dict]:
    frame = pd.read_csv(folder / "sweep.csv").drop(columns=["solve_seconds", "matching_seconds"])
    return json.loads(frame.to_json(orient="records"))


@pytest.mark.slow
def test_sweep_killed_at_any_moment(small, tmp_path):
    base = ["sweep", "-s", small, "--method", "greedy", "--workers", "1", "--no-figures"]
    out = tmp_path / "sweep"
    assert _timed([*base, "-p", "ces.k=0.5,1.0", "--out", out], tmp_path) > 0
    args = [*base, "-p", "ces.k=0.2:1.0:3", "-p", "ces.S=0.01,0.05", "--out", out]
    seconds = _timed([*args[:-1], tmp_path / "reference"], tmp_path)
    old, new = _sweep_rows(out), _sweep_rows(tmp_path / "reference")

    def check(folder: Path) -> str:
        if not folder.exists():
            return "absent"
        assert_complete(folder, "sweep")
        rows = _sweep_rows(folder)
        assert rows in (old, new)
        return "old" if rows == old else "new"

    states = kill_at_many_moments(args, out, tmp_path, seconds, check)
    assert set(states) <= {"absent", "old", "new"}, states
    _then_the_same_command_succeeds(args, out, tmp_path, check)
    resumed = subprocess.run(
        [sys.executable, "-m", "lec_opt", *map(str, args), "--resume"], cwd=tmp_path, env=ENV, capture_output=True
    )
    assert resumed.returncode == 0 and b"6 points resumed" in resumed.stdout, resumed.stderr
    assert check(out) == "new"


@pytest.mark.slow
def test_report_killed_at_any_moment(day_a, tmp_path):
    out = tmp_path / "day"
    shutil.copytree(day_a, out)
    digest = day_digest(out)
    reference = tmp_path / "reference" / "day"  # the same folder name: figures and page as the run's
    shutil.copytree(day_a, reference)
    seconds = _timed(["report", reference], tmp_path)
    figures = {k: v for k, v in snapshot(reference).items() if k.startswith("figures/")}

    def check(folder: Path) -> str:
        if not folder.exists():
            return "absent"
        manifest = assert_complete(folder, "day")
        assert day_digest(folder) == digest
        files = snapshot(folder)
        drawn = {k: v for k, v in files.items() if k.startswith("figures/")}
        if "report.html" not in files:
            assert not drawn and "updated_by" not in manifest
            return "old"
        assert drawn == figures  # every figure, whole
        return "new"

    args = ["report", out]
    states = kill_at_many_moments(args, out, tmp_path, seconds, check)
    assert set(states) <= {"absent", "old", "new"}, states
    _then_the_same_command_succeeds(args, out, tmp_path, check)


def test_library_errors_are_lec_opt_errors(tmp_path):
    with pytest.raises(InputError, match="results folder not found"):
        require_complete(tmp_path / "nowhere")
    with pytest.raises(LecOptError, match="is a file"):
        (tmp_path / "f").write_text("x")
        check_out_path(tmp_path / "f")
    assert read_manifest(tmp_path) is None
