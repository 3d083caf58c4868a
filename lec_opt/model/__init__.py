"""Model layer, the only place Pyomo is imported: the interval model (``build``), its compile
(``standard_form``) and one level at a time with HiGHS (``level_solver``, through the solver
boundary ``lec_opt.solver``), the lexicographic solve (``lexicographic``, one strategy per kind of
level in ``level_strategies``), level 4 (``level4``), the levels with a minimum trade (the
``min_trade`` package), the game's MILP/LPs (``coalitions``) and the foresight schedule."""
