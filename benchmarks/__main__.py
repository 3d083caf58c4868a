"""``python -m benchmarks [CASE ...]``: run the named cases (none = all) and save their results."""

from __future__ import annotations

import sys

from benchmarks import day, game, interval, pyomo_overhead, scale, sweep

CASES = {
    "interval": interval.main,
    "pyomo-overhead": pyomo_overhead.main,
    "day": day.main,
    "scale": scale.main,
    "game": game.main,
    "sweep": sweep.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s) {unknown}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== {name}")
        CASES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
