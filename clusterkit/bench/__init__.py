"""Benchmark support: slowest-rank timing, machine/version records, JSON results."""

__all__: list[str] = []
