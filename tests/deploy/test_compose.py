"""The full deployment checked without a container engine: the compose file against the Compose
Specification's JSON schema, and against citysense itself (commands, settings, mounted files)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml
from pydantic import BaseModel

from citysense.settings import AnalyticsSettings, ApiSettings, CommonSettings, IngestSettings, SimulateSettings
from launcher.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS_OF_COMMAND: dict[str, type[CommonSettings]] = {
    "ingest": IngestSettings,
    "analytics": AnalyticsSettings,
    "api": ApiSettings,
    "simulate": SimulateSettings,
}
# Defaults that point at localhost or a local file are wrong inside a container: compose must set these.
REQUIRED_IN_DEPLOYMENT = ("CITYSENSE_BROKER__URL", "CITYSENSE_TICKETS_URL", "CITYSENSE_TIMESERIES_URL")


def citysense_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in COMPOSE["services"].items()
        if str(service.get("image", "")).startswith("citysense") or "build" in service
    }


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {k: str(v) for k, v in environment.items()}


def env_names(settings: type[BaseModel], prefix: str = "CITYSENSE_") -> set[str]:
    """Every environment variable a settings class reads (nested models with '__')."""
    names = set()
    for field_name, field in settings.model_fields.items():
        name = f"{prefix}{field_name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= env_names(annotation, f"{name}__")
        else:
            names.add(name)
    return names


def test_compose_file_follows_the_compose_specification():
    schema = yaml.safe_load((ROOT / "deploy" / "compose-spec.schema.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(COMPOSE)


def test_compose_runs_citysense_services():
    commands = {service["command"][0] for service in citysense_services().values()}
    assert {"ingest", "analytics", "api"} <= commands


@pytest.mark.parametrize("name", sorted(citysense_services()))
def test_every_command_compose_runs_exists_with_its_options(name):
    command = citysense_services()[name]["command"]
    sub = typer.main.get_command(app)
    args = list(command)
    while hasattr(sub, "commands"):  # descend through groups, e.g. `edge run`
        word = args.pop(0)
        sub = sub.commands.get(word)
        assert sub is not None, f"{name}: citysense has no command {word!r} (in {command})"
    sub.make_context(command[0], args)  # raises a usage error on an unknown option or a bad value


@pytest.mark.parametrize("name", sorted(citysense_services()))
def test_every_setting_compose_sets_is_read_and_the_required_ones_are_set(name):
    service = citysense_services()[name]
    environment = env_of(service)
    settings = SETTINGS_OF_COMMAND.get(service["command"][0], CommonSettings)
    known = env_names(settings) | {"CITYSENSE_CONFIG"}
    unknown = {k for k in environment if k.startswith("CITYSENSE_")} - known
    assert not unknown, f"{name} sets settings nobody reads: {sorted(unknown)}"
    missing = [k for k in REQUIRED_IN_DEPLOYMENT if k not in environment]
    assert not missing, f"{name} leaves {missing} at their local defaults"


def test_every_variable_compose_interpolates_is_documented_in_env_example():
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    documented = {
        line.split("=", 1)[0].strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert used <= documented, f"undocumented in .env.example: {sorted(used - documented)}"


def test_every_file_compose_mounts_exists():
    missing = []
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith(("./", "../")) and not (ROOT / source).exists():
                missing.append(f"{name}: {source}")
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            if not (ROOT / context / dockerfile).exists():
                missing.append(f"{name}: {context}/{dockerfile}")
    assert not missing, missing


def test_services_that_others_wait_for_have_healthchecks():
    for name, service in COMPOSE["services"].items():
        depends = service.get("depends_on", {})
        if isinstance(depends, dict):
            for dependency, condition in depends.items():
                if condition.get("condition") == "service_healthy":
                    assert "healthcheck" in COMPOSE["services"][dependency], f"{name} waits on {dependency}"


def test_env_example_documents_every_setting():
    text = (ROOT / ".env.example").read_text()
    every = set().union(*(env_names(cls) for cls in (*SETTINGS_OF_COMMAND.values(), CommonSettings)))
    missing = sorted(name for name in every if not re.search(rf"\b{name}=", text))
    assert not missing, f".env.example does not mention {missing}"


def test_dockerfile_copies_every_package_and_runs_as_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, flags=re.MULTILINE))
    pyproject = (ROOT / "pyproject.toml").read_text()
    include = re.search(r"include = \[(.*?)\]", pyproject, flags=re.DOTALL)
    assert include is not None
    packages = {name.rstrip("*") for name in re.findall(r'"([\w*]+)"', include.group(1))}
    assert packages <= copied, f"the image misses {sorted(packages - copied)}"
    stages = dockerfile.split("\nFROM ")
    assert len(stages) >= 2, "multi-stage build expected"
    users = re.findall(r"^USER (\S+)$", stages[-1], flags=re.MULTILINE)
    assert users
    assert users[-1] not in ("root", "0")


def _requirement_name(spec: str) -> str:
    return re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0].lower().replace("_", "-")


def test_the_image_installs_the_hashed_lock_and_the_lock_pins_every_server_dependency():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile
    assert "-r requirements/server.lock" in dockerfile
    assert "--no-index --no-deps" in dockerfile  # the runtime stage installs exactly what was built
    lock = (ROOT / "requirements" / "server.lock").read_text()
    pinned = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", lock, flags=re.MULTILINE)
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["server"]]
    wanted += [s for s in project["optional-dependencies"]["analytics"] if not s.startswith("citysense")]
    missing = sorted({_requirement_name(s) for s in wanted} - set(pinned))
    assert not missing, f"requirements/server.lock lacks {missing}: run scripts/lock-server.sh"
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n\n", 1)[-1])
    unhashed = [e.split()[0] for e in entries if "==" in e.split("\n", 1)[0] and "--hash=sha256:" not in e]
    assert not unhashed
    assert "file://" not in lock


def test_ingest_healthcheck_is_its_readiness():
    for name in ("ingest-1", "ingest-2"):
        service = COMPOSE["services"][name]
        test = service.get("healthcheck") or COMPOSE["services"]["ingest-1"]["healthcheck"]
        assert any("/readyz" in part for part in test["test"]), name
