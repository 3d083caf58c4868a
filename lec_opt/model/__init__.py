"""Model layer, the only place Pyomo is imported: the interval model (``build``), one level with
HiGHS (``level_solver``), the lexicographic solve (``lexicographic``), the game's MILP/LPs."""
