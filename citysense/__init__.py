"""citysense: city sensing from Raspberry Pi edge nodes to proactive service tickets.

This core package holds what every part shares: the wire contract (`citysense.wire`),
settings (`citysense.settings`), storage interfaces and adapters, and the `citysense` command.
"""

__version__ = "0.1.0"
