"""Benchmarks of the pack against plain-Python baselines, measured in the same run.

``uv run python -m benchmarks`` prints a table and writes ``BENCHMARKS.md``;
``--quick`` runs every case at a reduced size (the CI smoke test does, so it cannot rot).
Timing targets live here only, never in the test suite.
"""
