"""CI runs the README's two commands as the README writes them.

``.ci/run`` reads them from README.md (``.ci/readme_commands.py``) and runs them with ``eval`` in
the clone, so they cannot drift apart; what CI adds comes before, between or after them. These
tests check the extraction and that ``.ci/run`` runs what it extracts, never a copy.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

CI = REPO_ROOT / ".ci"


def _readme_commands():
    spec = importlib.util.spec_from_file_location("readme_commands", CI / "readme_commands.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_has_its_two_commands_for_a_fresh_machine():
    first, second = _readme_commands().readme_commands(REPO_ROOT / "README.md")
    venv = "python3 -m venv .venv && . .venv/bin/activate && "
    assert first.startswith(venv) and second.startswith(venv)  # the venv inside the checkout
    assert "pip install . &&" in first and first.endswith("lec-opt solve-day")
    assert 'pip install -e ".[test]"' in second and second.endswith("python -m pytest")


def test_the_extraction_fails_unless_there_are_exactly_two(tmp_path):
    section = _readme_commands().SECTION
    for blocks in ([], ["a"], ["a", "b", "c"]):
        readme = tmp_path / "README.md"
        fences = "".join(f"```bash\n{b}\n```\n\ntext\n\n" for b in blocks)
        readme.write_text(f"# x\n\n{section}\n\n{fences}## Next\n\n```bash\nnot this\n```\n")
        result = subprocess.run(
            [sys.executable, "-c", f"import runpy, sys; m = runpy.run_path({str(CI / 'readme_commands.py')!r}); "
             f"print(m['readme_commands'](__import__('pathlib').Path({str(readme)!r})))"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 1 and f"{len(blocks)} command lines, not 2" in result.stderr, result.stderr


def test_ci_runs_what_it_reads_from_the_readme_and_nothing_in_its_place():
    script = (CI / "run").read_text(encoding="utf-8")
    assert "mapfile -t readme < <(python3 .ci/readme_commands.py)" in script
    runs = re.findall(r'^\s*eval "\$\{readme\[(\d)\]\}"$', script, flags=re.M)
    assert runs == ["0", "1"], runs
    # no other pip install or pytest of its own: those are the README's
    own = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in own if re.search(r"\bpip install\b|\bpytest\b", line) and "echo" not in line]
