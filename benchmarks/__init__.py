"""Speed and quality measurements of lec-opt: ``python -m benchmarks [CASE ...]``.

Nothing here asserts a wall-clock limit; every case writes ``benchmarks/results/<case>.json``
with the machine facts, and prints a table. Timings are repeated (median, min, max), and
ratios are taken within one run because these machines are noisy.
"""
