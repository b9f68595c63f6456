"""Benchmark scripts (``python -m benchmarks.<name>``); not collected as tests."""
