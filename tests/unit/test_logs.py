"""Logs keep personal data out, whatever a caller passes."""

from __future__ import annotations

import io
import json

import psycopg
import structlog

from sync import logs
from sync.errors import PermanentError


def _capture() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("debug", "json", stream=stream)
    return stream


def test_values_of_unknown_keys_are_redacted_and_safe_keys_pass() -> None:
    stream = _capture()
    structlog.get_logger().info(
        "event_received", event_id="reg-1", kind="erasure", email="anna@example.se",
        first_name="Anna", changes={"first_name": "Anna"}, field_names=["first_name"],
    )  # fmt: skip
    line = json.loads(stream.getvalue())
    assert line["event"] == "event_received"
    assert line["event_id"] == "reg-1"
    assert line["field_names"] == ["first_name"]
    assert line["email"] == logs.REDACTED
    assert line["first_name"] == logs.REDACTED
    assert line["changes"] == logs.REDACTED
    assert "Anna" not in stream.getvalue()


def test_email_shapes_are_masked_even_under_safe_keys() -> None:
    stream = _capture()
    structlog.get_logger().warning("event_skipped", reason="asked by anna.l@example.se today")
    assert "anna.l@example.se" not in stream.getvalue()
    assert json.loads(stream.getvalue())["reason"] == "asked by [email] today"


def test_library_exception_messages_are_not_logged() -> None:
    stream = _capture()
    try:
        try:
            raise psycopg.errors.UniqueViolation(
                "duplicate key value: Key (email)=(anna@example.se) already exists."
            )
        except psycopg.Error as exc:
            raise PermanentError("the register refused subject C-1", code="conflict") from exc
    except PermanentError:
        structlog.get_logger().exception("event_dead_lettered", event_id="reg-1")
    out = stream.getvalue()
    line = json.loads(out)
    assert "anna@example.se" not in out
    assert "PermanentError: the register refused subject C-1" in line["exception"]
    assert "UniqueViolation" in line["exception"]
    assert "test_logs.py" in line["exception"]


def test_console_format_renders_without_json() -> None:
    stream = io.StringIO()
    logs.configure("info", "console", stream=stream)
    structlog.get_logger().info("ledger_upgraded", to_version=2)
    assert "ledger_upgraded" in stream.getvalue()
    assert not stream.getvalue().lstrip().startswith("{")
