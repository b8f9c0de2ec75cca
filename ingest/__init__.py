"""Ingest: MQTT readings in, validated, durably stored, and only then acknowledged."""
