"""The CLI turns ledger failures into a clear message and exit 1, never a traceback."""

from __future__ import annotations

import pytest

from sync.cli import main


def test_an_unreachable_sqlite_ledger_is_reported_with_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUBSYNC_LEDGER__URL", "sqlite:////proc/no-such-folder/ledger.db")
    assert main(["status", "--json"]) == 1
    captured = capsys.readouterr()
    assert "cannot create the SQLite ledger's folder" in captured.err
    assert "Traceback" not in captured.err
    assert '"type": "LedgerError"' in captured.out
