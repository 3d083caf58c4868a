"""The solver boundary: the only place lec-opt reaches HiGHS.

``lec_opt.solver.problem``: the persistent problem of one interval model's levels (changes, runs,
each run a ``Run`` value). ``lec_opt.solver.highs``: a model given as arrays solved once, Pyomo
models through APPSI (the game, the foresight schedule), and scipy's ``linprog`` (the chain's LP).
"""
