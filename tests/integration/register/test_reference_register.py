"""HttpRegister and the reference register: refused signatures; settings to a register."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from connectors.register.build import register_from_settings
from connectors.register.fake import FakeRegister
from connectors.register.http import HttpRegister
from connectors.register.sql import SqlRegister
from sync.errors import ConfigurationError, PermanentError
from sync.model import EventKind
from sync.settings import RegisterSettings
from tests.integration.register.events import stored
from tests.integration.register.reference import serving


def test_a_register_refuses_a_request_signed_with_another_secret() -> None:
    fake = FakeRegister()
    fake.add_customer("C-1", email="anna@example.se")
    with serving("the-registers-secret", fake) as server:
        register = HttpRegister(url=server.url, secret="not-the-secret", in_call_attempts=1)
        with pytest.raises(PermanentError) as caught:
            register.apply([stored(1, EventKind.MARKETING_OPT_OUT, "C-1")])
        register.close()

    assert caught.value.code == "register_auth"
    assert server.refused == 1
    assert fake.customers["C-1"]["marketing_opt_out"] is False


def test_a_register_refuses_a_signature_from_a_clock_ten_minutes_behind() -> None:
    fake = FakeRegister()
    with serving("secret", fake) as server:
        register = HttpRegister(
            url=server.url, secret="secret", now=lambda: time.time() - 600, in_call_attempts=1
        )
        with pytest.raises(PermanentError):
            register.record("C-1")
        register.close()

    assert server.refused == 1


def test_settings_build_the_register_they_name() -> None:
    sql = register_from_settings(RegisterSettings(kind="sql", url="sqlite:///:memory:"))
    http = register_from_settings(
        RegisterSettings(kind="http", url="https://register.test", secret=SecretStr("s"))
    )

    assert isinstance(sql, SqlRegister)
    assert isinstance(http, HttpRegister)
    with pytest.raises(ConfigurationError, match="secret"):
        register_from_settings(RegisterSettings(kind="http", url="https://register.test"))
    with pytest.raises(ConfigurationError, match="customers_table"):
        register_from_settings(RegisterSettings(customers_table="x; drop"))
