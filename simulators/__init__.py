"""Simulators: a virtual city whose devices publish through the real edge code path."""
