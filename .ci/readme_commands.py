"""Print the README's two commands, one per line: the lines of the ```bash blocks in its section
"## Two commands that work on a fresh machine". .ci/run runs exactly these; tests/test_ci.py checks
that there are two, that they are the ones a newcomer needs, and that .ci/run reads them from here.
"""

from __future__ import annotations

import sys
from pathlib import Path

SECTION = "## Two commands that work on a fresh machine"


def readme_commands(readme: Path) -> list[str]:
    """The command lines of the section's bash blocks, in order; exits with a message unless two."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    if SECTION not in lines:
        sys.exit(f"{readme}: no section {SECTION!r}")
    commands, fenced = [], False
    for line in lines[lines.index(SECTION) + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("```"):
            fenced = line == "```bash"
        elif fenced and line.strip():
            commands.append(line.strip())
    if len(commands) != 2:
        sys.exit(f"{readme}: section {SECTION!r} has {len(commands)} command lines, not 2: {commands}")
    return commands


if __name__ == "__main__":
    print("\n".join(readme_commands(Path(__file__).resolve().parents[1] / "README.md")))
