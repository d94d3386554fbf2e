"""Benchmark harness for fastwsgi (see bench/README.md). Not part of the installed package."""
