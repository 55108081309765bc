"""Settings: file, environment, secrets and error reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.cli import main
from sync.errors import ConfigurationError
from sync.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_defaults_need_no_file() -> None:
    settings = load_settings(None)
    assert settings.ledger.url.startswith("sqlite:///")
    assert settings.hubspot.allowed_hosting_locations == ["eu1"]
    assert settings.retention.payload_days == 30


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "hubsync.toml"
    file.write_text('[ledger]\nurl = "sqlite:///from-file.db"\n[worker]\nbatch_size = 50\n')
    monkeypatch.setenv("HUBSYNC_LEDGER__URL", "postgresql://db/hubsync")
    settings = load_settings(file)
    assert settings.ledger.url == "postgresql://db/hubsync"
    assert settings.worker.batch_size == 50


def test_config_file_is_found_through_hubsync_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "hubsync.toml"
    file.write_text("[worker]\nmax_attempts = 3\n")
    monkeypatch.setenv("HUBSYNC_CONFIG", str(file))
    assert load_settings(None).worker.max_attempts == 3


def test_every_problem_is_reported_at_once_without_values(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(
        '[ledger]\nurl = "mysql://secret-host"\n'
        '[hubspot]\naccess_token = "pat-na1-verysecret"\ntimeout_seconds = -1\nbogus = 1\n'
        '[audit]\npseudonym_key = "leaked-key-value-123456"\n'
    )
    with pytest.raises(ConfigurationError) as caught:
        load_settings(file)
    problems = caught.value.problems
    assert any(p.startswith("ledger.url:") for p in problems)
    assert any(p.startswith("hubspot.access_token: secrets are read only") for p in problems)
    assert any(p.startswith("audit.pseudonym_key: secrets are read only") for p in problems)
    assert any(p.startswith("hubspot.timeout_seconds:") for p in problems)
    assert "hubspot.bogus: unknown key" in problems
    text = str(caught.value)
    for value in ("secret-host", "pat-na1-verysecret", "leaked-key-value-123456"):
        assert value not in text


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSYNC_HUBSPOT__ACCESS_TOKEN", "pat-eu1-abc")
    monkeypatch.setenv("HUBSYNC_AUDIT__PSEUDONYM_KEY", "k" * 32)
    settings = load_settings(None)
    assert settings.hubspot.access_token is not None
    assert settings.hubspot.access_token.get_secret_value() == "pat-eu1-abc"
    assert "pat-eu1-abc" not in repr(settings)


def test_a_short_pseudonym_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSYNC_AUDIT__PSEUDONYM_KEY", "short")
    with pytest.raises(ConfigurationError, match=r"audit\.pseudonym_key: must be at least 16"):
        load_settings(None)


def test_hosting_locations_are_compared_case_insensitively(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUBSYNC_HUBSPOT__ALLOWED_HOSTING_LOCATIONS", '["EU1", " Na1 "]')
    assert load_settings(None).hubspot.allowed_hosting_locations == ["eu1", "na1"]


def test_a_missing_or_broken_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such configuration file"):
        load_settings(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[ledger\nurl=")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(broken)


def test_the_example_configuration_is_valid_and_documents_every_key() -> None:
    settings = load_settings(EXAMPLE)
    text = EXAMPLE.read_text()
    for section, model in settings.model_dump(by_alias=True).items():
        assert f"[{section}]" in text
        for key in model:
            assert f"{key} =" in text or f"# {key} =" in text, f"{section}.{key} undocumented"


def test_invalid_configuration_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "bad.toml"
    file.write_text('[worker]\nbatch_size = 1000\nlease_seconds = "soon"\n')
    assert main(["--config", str(file), "status"]) == 2
    err = capsys.readouterr().err
    assert "worker.batch_size" in err
    assert "worker.lease_seconds" in err
