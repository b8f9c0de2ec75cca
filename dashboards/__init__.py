"""Grafana dashboards as code: generated, provisioned and pushed (see the project's issue tracker).

Nothing is generated yet; the embedded demo's operators use the status page and the operator API.
"""
