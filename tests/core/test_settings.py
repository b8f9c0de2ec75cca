"""Settings: environment variables, a TOML file, and nonsense refused before anything connects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from citysense.settings import (
    AnalyticsSettings,
    ApiSettings,
    BrokerSettings,
    CommonSettings,
    IngestSettings,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets: no CITYSENSE_* from the developer's shell, no stray relative paths."""
    for name in list(os.environ):
        if name.upper().startswith("CITYSENSE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    settings = CommonSettings()
    assert settings.broker.url == "mqtt://127.0.0.1:1883"
    assert (settings.broker.host, settings.broker.port, settings.broker.tls) == ("127.0.0.1", 1883, False)
    assert settings.data_dir == Path("var")
    assert settings.log_level == "INFO"


def test_default_sqlite_urls_live_in_the_data_dir(tmp_path):
    settings = ApiSettings(data_dir=tmp_path / "data")
    assert settings.timeseries_url == f"sqlite:///{tmp_path / 'data' / 'timeseries.db'}"
    assert settings.tickets_url == f"sqlite:///{tmp_path / 'data' / 'citysense.db'}"


def test_explicit_database_urls_are_kept(tmp_path):
    settings = CommonSettings(
        data_dir=tmp_path,
        timeseries_url="sqlite:////srv/ts.db",
        tickets_url="postgresql://city@db/citysense",
    )
    assert settings.timeseries_url == "sqlite:////srv/ts.db"
    assert settings.tickets_url == "postgresql://city@db/citysense"


def test_environment_variables_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("CITYSENSE_BROKER__URL", "mqtts://broker.example.org")
    monkeypatch.setenv("CITYSENSE_BROKER__USERNAME", "ingest")
    monkeypatch.setenv("CITYSENSE_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("CITYSENSE_LOG_LEVEL", "warning")
    monkeypatch.setenv("CITYSENSE_BATCH_SIZE", "42")

    settings = IngestSettings()
    assert settings.broker.url == "mqtts://broker.example.org"
    assert (settings.broker.host, settings.broker.port, settings.broker.tls) == ("broker.example.org", 8883, True)
    assert settings.broker.username == "ingest"
    assert settings.data_dir == tmp_path / "env-data"
    assert settings.timeseries_url == f"sqlite:///{tmp_path / 'env-data' / 'timeseries.db'}"
    assert settings.log_level == "WARNING"
    assert settings.batch_size == 42


def test_explicit_arguments_beat_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CITYSENSE_DATA_DIR", str(tmp_path / "env"))
    assert ApiSettings(data_dir=tmp_path / "arg").data_dir == tmp_path / "arg"


def test_toml_file_is_read_and_the_environment_overrides_it(monkeypatch, tmp_path):
    config = write_toml(
        tmp_path / "citysense.toml",
        f"""
data_dir = "{tmp_path / "toml-data"}"
log_level = "debug"
quiet_period_s = 60

[broker]
url = "mqtt://toml-host:1884"
username = "city"
keepalive_s = 10
""",
    )
    monkeypatch.setenv("CITYSENSE_CONFIG", str(config))

    from_file = AnalyticsSettings()
    assert from_file.data_dir == tmp_path / "toml-data"
    assert from_file.tickets_url == f"sqlite:///{tmp_path / 'toml-data' / 'citysense.db'}"
    assert from_file.log_level == "DEBUG"
    assert from_file.quiet_period_s == 60
    assert (from_file.broker.host, from_file.broker.port) == ("toml-host", 1884)
    assert from_file.broker.username == "city"
    assert from_file.broker.keepalive_s == 10

    monkeypatch.setenv("CITYSENSE_BROKER__URL", "mqtt://env-host")
    monkeypatch.setenv("CITYSENSE_LOG_LEVEL", "ERROR")
    overridden = AnalyticsSettings()
    assert (overridden.broker.host, overridden.broker.port) == ("env-host", 1883)
    assert overridden.log_level == "ERROR"
    # What the environment does not mention still comes from the file, nested fields included.
    assert overridden.broker.username == "city"
    assert overridden.broker.keepalive_s == 10
    assert overridden.data_dir == tmp_path / "toml-data"
    assert overridden.quiet_period_s == 60


def test_config_naming_a_missing_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CITYSENSE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ValueError, match=r"nope\.toml"):
        ApiSettings()


def test_config_naming_a_directory_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CITYSENSE_CONFIG", str(tmp_path))
    with pytest.raises(ValueError, match="CITYSENSE_CONFIG"):
        ApiSettings()


def test_nonsense_in_the_toml_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("CITYSENSE_CONFIG", str(write_toml(tmp_path / "c.toml", '[broker]\nurl = "http://x"\n')))
    with pytest.raises(ValidationError, match="broker url"):
        ApiSettings()


@pytest.mark.parametrize("url", ["http://x", "https://broker:8883", "tcp://broker:1883", "mqtt://", "broker:1883", ""])
def test_a_bad_broker_url_is_refused(url):
    with pytest.raises(ValidationError, match="broker url"):
        BrokerSettings(url=url)
    with pytest.raises(ValidationError, match="broker url"):
        ApiSettings(broker={"url": url})


def test_a_bad_broker_url_in_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("CITYSENSE_BROKER__URL", "http://x")
    with pytest.raises(ValidationError, match="broker url"):
        IngestSettings()


@pytest.mark.parametrize(("url", "port", "tls"), [("mqtt://h", 1883, False), ("mqtts://h", 8883, True)])
def test_broker_port_defaults_follow_the_scheme(url, port, tls):
    broker = BrokerSettings(url=url)
    assert (broker.host, broker.port, broker.tls) == ("h", port, tls)


@pytest.mark.parametrize("level", ["verbose", "", "TRACE", "critical"])
def test_a_bad_log_level_is_refused(level, monkeypatch):
    with pytest.raises(ValidationError, match="log_level"):
        CommonSettings(log_level=level)
    monkeypatch.setenv("CITYSENSE_LOG_LEVEL", level)
    with pytest.raises(ValidationError, match="log_level"):
        ApiSettings()


@pytest.mark.parametrize("level", ["debug", "Info", "WARNING", "error"])
def test_log_levels_are_case_insensitive(level):
    assert CommonSettings(log_level=level).log_level == level.upper()


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (ApiSettings, "port", 0),
        (ApiSettings, "port", 65536),
        (IngestSettings, "batch_size", 0),
        (IngestSettings, "batch_wait_s", 0),
        (AnalyticsSettings, "quiet_period_s", -1),
        (AnalyticsSettings, "flood_level_m", 0),
    ],
)
def test_out_of_range_numbers_are_refused(cls, field, value):
    with pytest.raises(ValidationError, match=field):
        cls(**{field: value})


def test_out_of_range_keepalive_is_refused():
    with pytest.raises(ValidationError, match="keepalive_s"):
        BrokerSettings(keepalive_s=1)


@pytest.mark.parametrize("url", ["mqtt://host:99999", "mqtt://host:abc", "mqtts://host:-1", "mqtt://host:0"])
def test_a_broker_url_with_a_bad_port_is_refused(url):
    with pytest.raises(ValidationError, match="broker url"):
        BrokerSettings(url=url)
