"""Grafana dashboards as code: generated from Python, provisioned, pushed and tested.

`render.build_all()` gives every dashboard's JSON model by uid; `boards/` holds one module per
dashboard; `push` brings an existing Grafana up to date; `interpolate` substitutes variables as
Grafana does, so every panel's query can be run against a real store. See docs/dashboards.md.
"""
