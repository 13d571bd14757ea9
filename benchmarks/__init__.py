"""Benchmarks: data generator and intake/import measurements (see BENCHMARKS.md)."""
