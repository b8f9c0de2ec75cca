"""The composition root: the `citysense` command and the one-process demo.

It is the only package that imports every part (edge, ingest, analytics, api, dashboards,
simulators) to wire them together; the core (`citysense`) imports none of them. The import rules
are import-linter contracts in pyproject.toml, checked by `make lint` and `make test`.
"""
