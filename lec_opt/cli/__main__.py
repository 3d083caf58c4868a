"""``python -m lec_opt.cli``: the ``lec-opt`` command."""

from lec_opt.cli import main

main()
