"""Benchmarks (plain scripts, `python -m bench.<name>`); results in BENCHMARKS.md."""
