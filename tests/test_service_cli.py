"""The three commands as an operator runs them: ``lec-opt serve`` (a process), ``lec-opt replay`` of
the shipped data folder, ``lec-opt export``; the folder equals ``solve-day --method greedy``'s. Without
the operator's token each command stops with one error line and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from service_support import OPERATOR, free_port, same_results, serve_process, wait_up

from lec_opt.day.outputs import write_day
from lec_opt.day.run import run_day
from lec_opt.io.shipped import DEFAULT_SCENARIO
from lec_opt.scenario import load_scenario


def _lec_opt(*args: str, token: str | None = OPERATOR) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LEC_OPT_OPERATOR_TOKEN"}
    if token is not None:
        env["LEC_OPT_OPERATOR_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "lec_opt", *args], capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_serve_replay_export_give_solve_days_folder(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve_process(f"sqlite:///{tmp_path / 'service.db'}", port)
    try:
        wait_up(url)
        data = load_scenario().data_dir
        done = _lec_opt("replay", str(data), "--url", url)
        assert done.returncode == 0 and "posted 288 intervals" in done.stdout, done.stderr
        done = _lec_opt("export", "--url", url, "--out", str(tmp_path / "export"))
        assert done.returncode == 0, done.stderr
    finally:
        server.kill()
        server.wait()
    same_results(tmp_path / "export", write_day(run_day(load_scenario(), method="greedy"), tmp_path / "solve-day"))
    assert DEFAULT_SCENARIO.exists()


@pytest.mark.parametrize("command", [["serve"], ["replay", "data/paper_day"], ["export", "--out", "x"]])
@pytest.mark.parametrize("token", [None, "short"])
def test_the_commands_need_the_operators_token(command, token, tmp_path):
    done = _lec_opt(*command, token=token)
    assert done.returncode == 2 and "LEC_OPT_OPERATOR_TOKEN" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
