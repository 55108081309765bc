"""``hubsync hubspot-project``: the HubSpot developer project, written by the real console script.

The project is written where ``--out`` says, as JSON HubSpot's CLI uploads;
its webhooks go to ``[server] public_url`` + ``/webhooks/hubspot``. Existing
files are kept unless ``--force``; a public URL that is not https is written
with a warning; without a public URL nothing is written and the command
exits 2 naming the setting.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot.scopes import required_scopes
from tests.integration.cli.conftest import HUBSYNC, Ran

FILES = ["hsproject.json", "src/app/app-hsmeta.json", "src/app/webhooks/webhooks-hsmeta.json"]
PUBLIC_URL = "https://hubsync.example.eu/"
TARGET = "https://hubsync.example.eu/webhooks/hubspot"

Run = Callable[..., Ran]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run ``hubsync ARGS`` in ``tmp_path`` with only the given HUBSYNC_* settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    base["HUBSYNC_LOGGING__FORMAT"] = "json"

    def hubsync(*args: str, **settings: str) -> Ran:
        env = base | {f"HUBSYNC_{name.upper()}": value for name, value in settings.items()}
        done = subprocess.run(
            [HUBSYNC, *args],
            check=False,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return hubsync


def _with_oauth(api: str) -> list[str]:
    """The scopes the subscriptions API needs, then ``oauth`` unless it is one of them."""
    return list(dict.fromkeys([*required_scopes(api), "oauth"]))


def _read(out: Path) -> dict[str, Any]:
    """Each project file under ``out``, decoded, by its relative path."""
    return {name: json.loads((out / name).read_text(encoding="utf-8")) for name in FILES}


def test_the_project_is_written_for_the_public_url_with_its_scopes(
    run: Run, tmp_path: Path
) -> None:
    done = run("hubspot-project", "--out", "hubspot-project", server__public_url=PUBLIC_URL)

    assert done.code == 0, done.stderr
    files = _read(tmp_path / "hubspot-project")
    assert files["hsproject.json"] == {
        "name": "hubsync",
        "srcDir": "src",
        "platformVersion": "2026.09",
    }
    auth = files["src/app/app-hsmeta.json"]["config"]["auth"]
    assert (auth["type"], auth["requiredScopes"]) == ("static", _with_oauth("v4"))
    webhooks = files["src/app/webhooks/webhooks-hsmeta.json"]["config"]
    assert webhooks["settings"] == {"targetUrl": TARGET, "maxConcurrentRequests": 10}
    watched = [s.get("propertyName") for s in webhooks["subscriptions"]["legacyCrmObjects"]]
    assert [p for p in watched if p] == [
        "firstname",
        "lastname",
        "email",
        "phone",
        "company",
        "hs_email_optout",
    ]
    assert "warning" not in done.stderr
    for name in FILES:
        assert f"hubspot-project/{name}" in done.stdout
    assert "contact.propertyChange hs_email_optout" in done.stdout
    assert "hubEvents: contact.privacyDeletion" in done.stdout
    assert "hs project upload" in done.stdout
    assert "HUBSYNC_HUBSPOT__ACCESS_TOKEN" in done.stdout
    assert "HUBSYNC_HUBSPOT__CLIENT_SECRET" in done.stdout
    assert "run hubsync check" in done.stdout


def test_json_lists_the_files_scopes_subscriptions_and_next_steps(run: Run, tmp_path: Path) -> None:
    done = run(
        "hubspot-project",
        "--out",
        "project",
        "--json",
        server__public_url=PUBLIC_URL,
        hubspot__subscriptions_api="v3",
    )

    assert done.code == 0, done.stderr
    report = done.json()
    files = _read(tmp_path / "project")
    assert report["directory"] == "project"
    assert report["files"] == [f"project/{name}" for name in FILES]
    assert report["scopes"] == _with_oauth("v3")
    assert report["scopes"] == files["src/app/app-hsmeta.json"]["config"]["auth"]["requiredScopes"]
    assert report["target_url"] == TARGET
    subscriptions = files["src/app/webhooks/webhooks-hsmeta.json"]["config"]["subscriptions"]
    assert report["subscriptions"] == subscriptions
    assert report["warnings"] == []
    assert report["next_steps"][0].startswith("cd project && hs project upload")
    assert report["next_steps"][3] == "run hubsync check"


def test_existing_files_are_kept_unless_force(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "project"
    (out / "src" / "app").mkdir(parents=True)
    (out / "src" / "app" / "app-hsmeta.json").write_text("mine\n")

    refused = run("hubspot-project", "--out", "project", server__public_url=PUBLIC_URL)

    assert refused.code == 1
    assert "project/src/app/app-hsmeta.json" in refused.stderr
    assert "--force" in refused.stderr
    assert (out / "src" / "app" / "app-hsmeta.json").read_text() == "mine\n"
    assert not (out / "hsproject.json").exists()  # nothing written, not even the others

    forced = run("hubspot-project", "--out", "project", "--force", server__public_url=PUBLIC_URL)

    assert forced.code == 0, forced.stderr
    assert _read(out)["src/app/app-hsmeta.json"]["uid"] == "hubsync_app"


def test_regenerating_without_force_changes_nothing(run: Run, tmp_path: Path) -> None:
    first = run("hubspot-project", "--out", "p", server__public_url=PUBLIC_URL)
    before = {name: (tmp_path / "p" / name).read_bytes() for name in FILES}

    again = run("hubspot-project", "--out", "p", "--json", server__public_url="https://other.eu")

    assert first.code == 0, first.stderr
    assert again.code == 1
    assert again.json()["error"]["type"] == "HubsyncError"
    assert {name: (tmp_path / "p" / name).read_bytes() for name in FILES} == before


def test_a_public_url_that_is_not_https_is_written_with_a_warning(run: Run, tmp_path: Path) -> None:
    done = run(
        "hubspot-project", "--out", "p", "--json", server__public_url="http://hubsync.example.eu"
    )

    assert done.code == 0, done.stderr
    warning = "[server] public_url is not https: HubSpot requires an https target URL for webhooks"
    assert f"warning: {warning}" in done.stderr
    assert done.json()["warnings"] == [warning]
    target = _read(tmp_path / "p")["src/app/webhooks/webhooks-hsmeta.json"]["config"]["settings"]
    assert target["targetUrl"] == "http://hubsync.example.eu/webhooks/hubspot"


def test_the_public_url_may_come_from_the_configuration_file(run: Run, tmp_path: Path) -> None:
    (tmp_path / "hubsync.toml").write_text('[server]\npublic_url = "https://h.example.eu/x"\n')

    done = run("--config", "hubsync.toml", "hubspot-project", "--out", "p")

    assert done.code == 0, done.stderr
    settings = _read(tmp_path / "p")["src/app/webhooks/webhooks-hsmeta.json"]["config"]["settings"]
    assert settings["targetUrl"] == "https://h.example.eu/x/webhooks/hubspot"


@pytest.mark.parametrize("public_url", [None, "", "hubsync.example.eu"])
def test_without_a_usable_public_url_nothing_is_written_and_it_exits_2(
    run: Run, tmp_path: Path, public_url: str | None
) -> None:
    settings = {} if public_url is None else {"server__public_url": public_url}

    done = run("hubspot-project", "--out", "p", **settings)
    as_json = run("hubspot-project", "--out", "p", "--json", **settings)

    assert done.code == 2
    assert "[server] public_url" in done.stderr
    assert "HUBSYNC_SERVER__PUBLIC_URL" in done.stderr
    assert as_json.code == 2
    assert as_json.json()["error"]["type"] == "ConfigurationError"
    assert "[server] public_url" in as_json.json()["error"]["message"]
    assert not (tmp_path / "p").exists()


def test_each_subscription_type_named_adds_its_single_opt_out_property(
    run: Run, tmp_path: Path
) -> None:
    done = run(
        "hubspot-project", "--out", "project", "--json",
        "--subscription-type", "1002", "--subscription-type", "1003",
        "--subscription-type", "1002",
        server__public_url=PUBLIC_URL,
    )  # fmt: skip
    refused = run(
        "hubspot-project", "--out", "other", "--subscription-type", "x",
        server__public_url=PUBLIC_URL,
    )  # fmt: skip

    assert done.code == 0, done.stderr
    legacy = done.json()["subscriptions"]["legacyCrmObjects"]
    watched = [s["propertyName"] for s in legacy if "propertyName" in s]
    assert watched[-3:] == ["hs_email_optout", "hs_email_optout_1002", "hs_email_optout_1003"]
    assert refused.code == 2  # a usage error: not a subscription type id
    assert not (tmp_path / "other").exists()
