"""The Raspberry Pi side installs and runs without the server stack."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import requires

HEAVY = {"pandas", "scikit-learn", "fastapi", "sqlalchemy", "uvicorn", "amqtt"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def test_base_and_edge_extra_pull_no_server_packages():
    requirements = requires("citysense") or []
    edge_side = [r for r in requirements if "extra" not in r or re.search(r"extra\s*==\s*['\"]edge['\"]", r)]
    assert edge_side, "the base install must have dependencies listed"
    assert not {_name(r) for r in edge_side} & HEAVY


def test_edge_code_and_the_command_import_without_the_server_stack():
    probe = (
        "import sys, edge.agent, edge.drivers, citysense.wire, citysense.settings, launcher.cli\n"
        "heavy = {'pandas', 'sklearn', 'fastapi', 'sqlalchemy', 'uvicorn', 'amqtt'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_citysense_help_lists_the_commands():
    out = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "--help"], check=True, capture_output=True, text=True
    ).stdout
    for command in ("demo", "simulate", "ingest", "analytics", "api", "migrate"):
        assert command in out
