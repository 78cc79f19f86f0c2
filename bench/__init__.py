"""Benchmarks: `.venv/bin/python bench/run.py` (or `make bench`)."""
