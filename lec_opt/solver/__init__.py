"""The solver boundary: the only place lec-opt reaches HiGHS (``lec_opt.solver.highs``)."""
