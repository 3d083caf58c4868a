"""``python -m benchmarks [CASE ...]``: run the named cases (none = all) and save their results.

``--help`` lists the cases with the first line of each case module's docstring. It reads those
docstrings from the source files and imports nothing else, so it answers at once (and even while
lec_opt is broken); a case's module is imported only when that case runs.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# case name -> module of this package; each module has a main() that runs the case.
CASES = {
    "interval": "interval",
    "households": "households",
    "pyomo-overhead": "pyomo_overhead",
    "day": "day",
    "scale": "scale",
    "game": "game",
    "sweep": "sweep",
    "network": "network",
    "feeder-year": "feeder_year",
    "output-hashes": "output_hashes",
    "min-trade": "min_trade",
    "min-trade-floor": "min_trade_floor",
    "period": "period",
    "service": "service",
}


def summary(case: str) -> str:
    """First line of the case module's docstring, without its ``Case ``name``:`` prefix."""
    doc = ast.get_docstring(ast.parse((HERE / f"{CASES[case]}.py").read_text(encoding="utf-8"))) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return re.sub(r"^Case ``[^`]+``:\s*", "", first)


def _case(name: str) -> str:
    # Checks one CASE. argparse's `choices` with nargs="*" rejects the empty default on
    # Python 3.11 ("invalid choice: []"), so the choice is checked here with the same message.
    if name not in CASES:
        raise argparse.ArgumentTypeError(f"invalid choice: {name!r} (choose from {', '.join(CASES)})")
    return name


def parser() -> argparse.ArgumentParser:
    width = max(map(len, CASES))
    cases = "\n".join(f"  {name:<{width}}  {summary(name)}" for name in CASES)
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the named benchmark cases (none = all, in the order below). Each case prints\n"
        "a table and writes benchmarks/results/<case>.json with the machine facts.",
        epilog=f"cases:\n{cases}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("cases", nargs="*", type=_case, metavar="CASE", help="a case listed below (default: all)")
    return p


def main(argv: list[str] | None = None) -> int:
    names = parser().parse_args(argv).cases or list(CASES)
    for name in names:
        print(f"== {name}")
        importlib.import_module(f"benchmarks.{CASES[name]}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
