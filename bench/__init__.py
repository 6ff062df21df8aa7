"""Benchmarks against a limit measured in the same run; `python -m bench`."""
