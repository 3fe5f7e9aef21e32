"""Benchmark harness of issue 12 (``make bench``); see bench/README.md."""
