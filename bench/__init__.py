"""Benchmark of the hub: ``python -m bench.run [--quick]``."""
