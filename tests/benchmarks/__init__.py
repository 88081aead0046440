"""Benchmarks run by `make bench` (not collected by pytest: they measure, they do not assert)."""
