"""Benchmarks (`make bench`): measured figures, never asserted in tests."""
