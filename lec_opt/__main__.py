"""``python -m lec_opt``: the ``lec-opt`` command."""

from lec_opt.cli import main

main()
