"""Benchmark scripts: ``python -m benchmarks.<name>`` runs a study end to end and writes results/<name>/."""
