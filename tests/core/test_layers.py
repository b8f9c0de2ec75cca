"""The import rules of docs/architecture.md, as `make lint` checks them (import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


def root_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["root_packages"])


@pytest.fixture
def skeleton(tmp_path: Path) -> Path:
    """Every top-level package, empty, with the project's contracts: a place to break a rule."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for package in root_packages():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    # The two crossings the rules allow (docs/architecture.md).
    (tmp_path / "analytics" / "evaluate.py").write_text("import simulators.run\n")
    (tmp_path / "simulators" / "run.py").write_text("import edge.agent\n")
    (tmp_path / "edge" / "agent.py").write_text("import citysense\n")
    return tmp_path


def test_the_code_as_it_is_keeps_every_layer_rule():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "imports"),
    [
        ("citysense/wire2.py", "import api"),  # the core imports a part
        ("citysense/demo.py", "from launcher import cli"),  # the core imports the composition root
        ("ingest/lookup.py", "import analytics"),  # a part imports another part
        ("analytics/service2.py", "import simulators"),  # only analytics.evaluate may use simulators
        ("api/cli.py", "import launcher"),  # a part imports the root
        ("bench/load.py", "import tests"),  # a benchmark imports the test suite
        ("testbed/servers.py", "import ingest"),  # the shared test servers use the core only
    ],
)
def test_an_import_that_breaks_a_layer_fails_the_lint(skeleton: Path, module: str, imports: str):
    (skeleton / module).write_text(imports + "\n")
    done = lint_imports(skeleton)
    assert done.returncode != 0, done.stdout
    assert module.removesuffix(".py").replace("/", ".") in done.stdout
    assert "BROKEN" in done.stdout


def test_the_two_allowed_crossings_pass(skeleton: Path):
    done = lint_imports(skeleton)
    assert done.returncode == 0, done.stdout + done.stderr
