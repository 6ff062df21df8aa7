"""Benchmarks against a limit measured in the same run (quality.md §2); `python -m bench`."""
