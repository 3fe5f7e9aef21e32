"""``flask pdfqueue drive-check``, ``drive-login`` and ``drive-folder`` against the test
server: each problem people meet setting Drive up is one line that says what to do."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httplib2
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.cli import pdfqueue_cli
from flask_pdfqueue.config.generated import new_webhook_secret
from tests.conftest import make_app
from tests.drive.conftest import GMAIL_USER, DriveSetup, loopback_env, write_json
from tests.drive.fake_drive import DRIVE_FILE, FakeDrive, OAuthClient, ServiceAccount

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    """Run a ``flask pdfqueue`` command against an app configured with these values."""
    apps: list[Flask] = []

    def invoke(args: list[str], values: dict[str, str], **kwargs: Any) -> Result:
        def create_app() -> Flask:
            base = {"PDFQUEUE_API_KEYS": "k", "PDFQUEUE_WEBHOOK_SECRET": new_webhook_secret()}
            app = make_app({**base, **values}, tmp_path / f"instance{len(apps)}")
            apps.append(app)
            return app

        return CliRunner().invoke(
            pdfqueue_cli, args, obj=ScriptInfo(create_app=create_app), **kwargs
        )

    yield invoke
    for app in apps:
        state: PDFQueueState = app.extensions["pdfqueue"]
        state.close()


def secrets_of(fake: FakeDrive, *accounts: ServiceAccount) -> list[str]:
    found = [*fake.issued_tokens, *fake.refresh_tokens]
    found += [c.client_secret for c in fake.clients.values()]
    found += [a.private_key_pem.splitlines()[1] for a in accounts]
    return found


def test_drive_check_passes_for_a_shared_drive_folder(
    run: Run, shared_drive_setup: DriveSetup, fake: FakeDrive, service_account: ServiceAccount
) -> None:
    result = run(["drive-check"], shared_drive_setup.settings())
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ok    settings: PDFQUEUE_DRIVE_AUTH=service_account")
    assert (
        lines[1] == f"ok    credentials: Google issued a token; Drive sees {service_account.email}"
    )
    assert lines[2].startswith("ok    folder: 'PDF reports'") and "in a shared drive" in lines[2]
    assert lines[-1].startswith(f"drive-check: OK: {service_account.email} can upload")
    assert shared_drive_setup.uploads() == []  # nothing written without --probe
    for secret in secrets_of(fake, service_account):
        assert secret not in result.output


def test_drive_check_probe_uploads_and_deletes_a_pdf(
    run: Run, shared_drive_setup: DriveSetup, fake: FakeDrive
) -> None:
    creates = len(fake.log_of("create"))
    result = run(["drive-check", "--probe"], shared_drive_setup.settings(drive_share="anyone"))
    assert result.exit_code == 0, result.output
    assert (
        "ok    probe: uploaded and shared a PDF (https://drive.google.com/file/d/" in result.output
    )
    assert len(fake.log_of("create")) == creates + 1
    assert [r.status for r in fake.log_of("delete")][-1] == 204
    assert shared_drive_setup.uploads() == []


def one_line_failure(result: Result) -> str:
    assert result.exit_code == 1, result.output
    [line] = [line for line in result.output.splitlines() if not line.startswith(("ok ", "note "))]
    assert "Traceback" not in result.output
    return line


def test_drive_check_names_a_missing_folder(run: Run, shared_drive_setup: DriveSetup) -> None:
    line = one_line_failure(
        run(["drive-check"], shared_drive_setup.settings(drive_folder_id="1gone"))
    )
    assert line.startswith("drive-check: storage_rejected: could not read the folder 1gone")
    assert "HTTP 404" in line and "PDFQUEUE_DRIVE_FOLDER_ID" in line


def test_drive_check_explains_the_drive_file_scope_and_the_way_out(
    run: Run, fake: FakeDrive, shared_drive_setup: DriveSetup
) -> None:
    shared = fake.drives[shared_drive_setup.folder.drive_id or ""]
    by_hand = fake.add_folder("Made in the web page", drive=shared)
    narrow = shared_drive_setup.settings(drive_folder_id=by_hand.id)
    line = one_line_failure(run(["drive-check"], narrow))
    assert "with the drive.file scope, only folders this app created" in line
    assert run(["drive-check"], {**narrow, "PDFQUEUE_DRIVE_SCOPE": "drive"}).exit_code == 0

    made = run(["drive-folder", "PDFs by the app", "--parent", shared.id], narrow)
    assert made.exit_code == 0, made.output
    new_id = made.output.strip().rsplit("=", 1)[1]
    assert fake.items[new_id].parents == [shared.id]
    assert run(["drive-check"], shared_drive_setup.settings(drive_folder_id=new_id)).exit_code == 0


def test_drive_check_says_when_the_account_may_only_read(
    run: Run, fake: FakeDrive, service_account: ServiceAccount, key_file: Path
) -> None:
    shared = fake.add_shared_drive("Viewers", {service_account.email: "reader"})
    folder = fake.add_folder("PDFs", drive=shared, created_by_client=service_account.client_id)
    line = one_line_failure(
        run(["drive-check"], DriveSetup(fake, "service_account", key_file, folder).settings())
    )
    assert line == (
        f"drive-check: {service_account.email} may only look at the folder 'PDFs': make it an "
        "Editor of the folder (or a Content manager of the shared drive)"
    )


def test_drive_check_catches_a_service_account_pointed_at_my_drive(
    run: Run, fake: FakeDrive, service_account: ServiceAccount, key_file: Path
) -> None:
    folder = fake.add_folder(
        "Mine",
        owner="boss@gmail.test",
        shared_with={service_account.email: "writer"},
        created_by_client=service_account.client_id,
    )
    values = DriveSetup(fake, "service_account", key_file, folder).settings()
    line = one_line_failure(run(["drive-check"], values))
    assert (
        "is in My Drive, not in a shared drive" in line and "PDFQUEUE_DRIVE_AUTH=delegated" in line
    )
    probed = one_line_failure(run(["drive-check", "--probe"], values))
    assert probed.startswith("drive-check: storage_quota: could not upload the PDF to Google Drive")


def test_drive_check_turns_a_bad_setting_into_one_line(
    run: Run, shared_drive_setup: DriveSetup, tmp_path: Path
) -> None:
    missing = one_line_failure(
        run(
            ["drive-check"], shared_drive_setup.settings(drive_credentials=str(tmp_path / "x.json"))
        )
    )
    assert missing.startswith("drive-check: PDFQUEUE_DRIVE_CREDENTIALS must be the path")
    no_folder = {**shared_drive_setup.settings(), "PDFQUEUE_DRIVE_FOLDER_ID": ""}
    line = one_line_failure(run(["drive-check"], no_folder))
    assert line.startswith("drive-check: PDFQUEUE_DRIVE_FOLDER_ID is required")
    local = {**shared_drive_setup.settings(), "PDFQUEUE_STORAGE": "local"}
    result = run(["drive-check"], local)
    assert result.exit_code == 0 and "note  PDFQUEUE_STORAGE is not drive" in result.output


def test_drive_check_says_where_to_grant_delegation(
    run: Run, delegated_setup: DriveSetup, service_account: ServiceAccount
) -> None:
    granted = service_account.delegated_scopes
    service_account.delegated_scopes = set()
    try:
        line = one_line_failure(run(["drive-check"], delegated_setup.settings()))
    finally:
        service_account.delegated_scopes = granted
    assert line.startswith("drive-check: storage_auth: could not get a Google access token")
    assert f"add client id {service_account.client_id} with scope {DRIVE_FILE}" in line
    ok = run(["drive-check"], delegated_setup.settings())
    assert ok.exit_code == 0 and "Drive sees reports@example.test" in ok.output


def _browser(fake: FakeDrive, *, deny: bool = False) -> Callable[[str], bool]:
    """Stands in for the user's browser: consents, and follows Google's redirect."""

    def open_url(url: str) -> bool:
        def visit() -> None:
            http = httplib2.Http(timeout=10)
            http.follow_redirects = False
            if deny:
                state = parse_qs(urlsplit(url).query)["state"][0]
                redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
                http.request(f"{redirect}?error=access_denied&state={state}")
                return
            answer, _ = http.request(url)
            assert answer.status == 302
            http.request(answer["location"])

        threading.Thread(target=visit, daemon=True).start()
        return True

    return open_url


def test_drive_login_saves_a_refresh_token_that_uploads(
    run: Run,
    fake: FakeDrive,
    oauth_client: OAuthClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("webbrowser.open", _browser(fake))
    client_file = write_json(
        tmp_path / "client_secret.json", fake.client_secrets_file(oauth_client)
    )
    out = tmp_path / "var" / "drive-user.json"
    result = run(
        ["drive-login", "--client-secrets", str(client_file), "--out", str(out), "--timeout", "20"],
        {},
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    saved = json.loads(out.read_text())
    assert saved["type"] == "authorized_user" and saved["client_id"] == oauth_client.client_id
    assert (
        saved["refresh_token"] not in result.output
        and oauth_client.client_secret not in result.output
    )
    assert "PDFQUEUE_DRIVE_AUTH=oauth_user" in result.output

    folder = fake.add_folder("Mine", owner=GMAIL_USER, created_by_client=oauth_client.client_id)
    check = run(["drive-check", "--probe"], DriveSetup(fake, "oauth_user", out, folder).settings())
    assert check.exit_code == 0, check.output
    assert f"Drive sees {GMAIL_USER}" in check.output


def test_drive_login_reports_a_refused_consent(
    run: Run,
    fake: FakeDrive,
    oauth_client: OAuthClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("webbrowser.open", _browser(fake, deny=True))
    client_file = write_json(
        tmp_path / "client_secret.json", fake.client_secrets_file(oauth_client)
    )
    result = run(
        ["drive-login", "--client-secrets", str(client_file), "--out", str(tmp_path / "u.json")], {}
    )
    assert result.exit_code == 1
    assert "drive-login: Google refused the sign-in: access_denied" in result.output
    assert not (tmp_path / "u.json").exists()


def test_drive_login_refuses_a_web_client(
    run: Run, fake: FakeDrive, oauth_client: OAuthClient, tmp_path: Path
) -> None:
    web = {"web": fake.client_secrets_file(oauth_client)["installed"]}
    result = run(
        ["drive-login", "--client-secrets", str(write_json(tmp_path / "web.json", web))], {}
    )
    assert result.exit_code == 1 and "create a Desktop app client instead" in result.output


def test_drive_login_by_pasting_the_address_in_a_real_process(
    fake: FakeDrive, oauth_client: OAuthClient, tmp_path: Path
) -> None:
    """On a server without a browser: sign in elsewhere, paste where the browser ended."""
    client_file = write_json(
        tmp_path / "client_secret.json", fake.client_secrets_file(oauth_client)
    )
    out = tmp_path / "user.json"
    argv = [sys.executable, "-m", "flask", "--app", "flask_pdfqueue.service", "pdfqueue"]
    argv += ["drive-login", "--client-secrets", str(client_file), "--out", str(out), "--paste"]
    env = {**os.environ, **loopback_env(), "PDFQUEUE_HOME": str(tmp_path)}
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    url = ""
    for line in process.stdout:
        if line.strip().startswith(fake.auth_uri):
            url = line.strip()
            break
    assert url, "drive-login printed no sign-in address"
    http = httplib2.Http(timeout=10)
    http.follow_redirects = False
    answer, _ = http.request(url)  # the browser, elsewhere; it ends on a 127.0.0.1 address
    rest, _ = process.communicate(answer["location"] + "\n", timeout=60)
    assert process.returncode == 0, rest
    assert json.loads(out.read_text())["type"] == "authorized_user"
    assert "loopback guard blocked" not in rest
