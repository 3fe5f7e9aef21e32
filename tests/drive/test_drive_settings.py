"""The PDFQUEUE_DRIVE_* keys: defaults, and every bad setting stopping the app at start
with a message that names the key (and never quotes a credential)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from flask import Flask

from flask_pdfqueue import ConfigError, PDFQueue, Settings
from flask_pdfqueue.storage import create_storage
from flask_pdfqueue.storage.drive import DriveStorage
from flask_pdfqueue.storage.local import LocalStorage
from tests.drive.conftest import DriveSetup, write_json
from tests.drive.fake_drive import FakeDrive, ServiceAccount


def settings(values: dict[str, str]) -> Settings:
    return Settings.from_config(values, instance_path="/srv/instance")


def test_without_drive_settings_the_local_folder_stays_the_default() -> None:
    s = settings({})
    assert (s.storage, s.drive_auth, s.drive_share, s.drive_scope) == (
        "local",
        "service_account",
        "none",
        "drive.file",
    )
    assert (s.drive_timeout, s.drive_retries, s.drive_chunk_size) == (30.0, 5, 5 * 1024 * 1024)
    assert isinstance(create_storage(s), LocalStorage)


def test_drive_keys_without_drive_storage_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        storage = create_storage(settings({"PDFQUEUE_DRIVE_FOLDER_ID": "1abc"}))
    assert isinstance(storage, LocalStorage)
    assert "set PDFQUEUE_STORAGE=drive" in caplog.text


DRIVE = {"PDFQUEUE_STORAGE": "drive", "PDFQUEUE_DRIVE_CREDENTIALS": "/k.json"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"PDFQUEUE_DRIVE_AUTH": "api_key"}, "PDFQUEUE_DRIVE_AUTH must be one of"),
        ({"PDFQUEUE_DRIVE_SHARE": "public"}, "PDFQUEUE_DRIVE_SHARE must be anyone"),
        ({"PDFQUEUE_DRIVE_SHARE": "domain:"}, "domain:<your domain>"),
        ({"PDFQUEUE_DRIVE_SCOPE": "drive.readonly"}, "PDFQUEUE_DRIVE_SCOPE must be one of"),
        ({"PDFQUEUE_DRIVE_ROOT_URL": "127.0.0.1:9"}, "PDFQUEUE_DRIVE_ROOT_URL must be an http"),
        ({"PDFQUEUE_DRIVE_TIMEOUT": "0"}, "PDFQUEUE_DRIVE_TIMEOUT must be positive"),
        ({"PDFQUEUE_DRIVE_RETRIES": "-1"}, "PDFQUEUE_DRIVE_RETRIES must be 0 or more"),
        ({"PDFQUEUE_DRIVE_CHUNK_SIZE": "1000000"}, "multiple of 262144"),
        ({"PDFQUEUE_DRIVE_RETRIES": "many"}, "PDFQUEUE_DRIVE_RETRIES='many' is not valid"),
        ({**DRIVE}, "PDFQUEUE_DRIVE_FOLDER_ID is required with PDFQUEUE_STORAGE=drive"),
        (
            {
                **DRIVE,
                "PDFQUEUE_DRIVE_FOLDER_ID": "https://drive.google.com/drive/folders/1AbC_d-9",
            },
            "in its address: use 1AbC_d-9",
        ),
        (
            {"PDFQUEUE_STORAGE": "drive", "PDFQUEUE_DRIVE_FOLDER_ID": "1abc"},
            "PDFQUEUE_DRIVE_CREDENTIALS is required",
        ),
        (
            {**DRIVE, "PDFQUEUE_DRIVE_FOLDER_ID": "1abc", "PDFQUEUE_DRIVE_AUTH": "delegated"},
            "PDFQUEUE_DRIVE_SUBJECT must be set with PDFQUEUE_DRIVE_AUTH=delegated",
        ),
        (
            {**DRIVE, "PDFQUEUE_DRIVE_FOLDER_ID": "1abc", "PDFQUEUE_DRIVE_SUBJECT": "a@b.test"},
            "PDFQUEUE_DRIVE_SUBJECT is only used with PDFQUEUE_DRIVE_AUTH=delegated",
        ),
    ],
)
def test_bad_drive_settings_are_refused_naming_the_key(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(values)


def test_the_credentials_are_kept_out_of_the_settings_repr() -> None:
    s = settings({"PDFQUEUE_DRIVE_CREDENTIALS": '{"private_key": "-----BEGIN SECRET"}'})
    assert "BEGIN SECRET" not in repr(s)


def _drive(setup: DriveSetup, credentials: str, **more: str) -> dict[str, str]:
    return setup.settings(drive_credentials=credentials, **more)


def test_each_credential_mistake_is_named_at_start_without_quoting_the_file(
    shared_drive_setup: DriveSetup,
    oauth_setup: DriveSetup,
    fake: FakeDrive,
    service_account: ServiceAccount,
    tmp_path: Path,
) -> None:
    key = fake.key_file(service_account)
    pem = service_account.private_key_pem
    client = fake.client_secrets_file(next(iter(fake.clients.values())))
    user = json.loads(oauth_setup.credentials.read_text())
    cases: list[tuple[dict[str, str], str]] = [
        (_drive(shared_drive_setup, str(tmp_path / "missing.json")), "missing.json cannot be read"),
        (_drive(shared_drive_setup, "{not json"), "PDFQUEUE_DRIVE_CREDENTIALS is not valid JSON"),
        (_drive(shared_drive_setup, "[1, 2]"), "must hold a JSON object"),
        (_drive(shared_drive_setup, json.dumps(client)), "OAuth client file"),
        (_drive(shared_drive_setup, json.dumps(user)), "set PDFQUEUE_DRIVE_AUTH=oauth_user"),
        (_drive(oauth_setup, json.dumps(key)), "is a service-account key"),
        (
            _drive(shared_drive_setup, json.dumps({**key, "private_key": pem[:200]})),
            "could not be used",
        ),
        (
            _drive(
                shared_drive_setup,
                json.dumps({k: v for k, v in key.items() if k != "client_email"}),
            ),
            "lacks client_email",
        ),
        (
            _drive(
                oauth_setup, json.dumps({k: v for k, v in user.items() if k != "refresh_token"})
            ),
            "lacks refresh_token",
        ),
    ]
    for values, message in cases:
        with pytest.raises(ConfigError) as refused:
            DriveStorage(Settings.from_config(values, instance_path=str(tmp_path)))
        assert message in str(refused.value)
        assert "PDFQUEUE_DRIVE_CREDENTIALS" in str(refused.value)
        for secret in (pem.splitlines()[1], user["refresh_token"], user["client_secret"]):
            assert secret not in str(refused.value)


def test_the_credentials_may_be_the_json_itself(
    shared_drive_setup: DriveSetup, fake: FakeDrive, service_account: ServiceAccount, tmp_path: Path
) -> None:
    inline = json.dumps(fake.key_file(service_account))
    storage = DriveStorage(
        Settings.from_config(_drive(shared_drive_setup, inline), instance_path=str(tmp_path))
    )
    assert storage.reserve_key("pdf_inline")


def test_a_bad_drive_setting_stops_the_app_at_start(
    shared_drive_setup: DriveSetup, tmp_path: Path
) -> None:
    app = Flask("drive_settings_test", instance_path=str(tmp_path))
    app.config.update(shared_drive_setup.settings(drive_credentials=str(tmp_path / "nope.json")))
    with pytest.raises(ConfigError, match="PDFQUEUE_DRIVE_CREDENTIALS"):
        PDFQueue(app)


def test_drive_storage_is_built_for_drive(shared_drive_setup: DriveSetup, tmp_path: Path) -> None:
    assert isinstance(create_storage(shared_drive_setup.typed(tmp_path)), DriveStorage)


def test_without_googles_libraries_drive_says_which_extra_to_install(
    shared_drive_setup: DriveSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = shared_drive_setup.typed(tmp_path)
    monkeypatch.delitem(sys.modules, "flask_pdfqueue.storage.drive")
    monkeypatch.setitem(sys.modules, "google_auth_httplib2", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'flask-pdfqueue\[drive\]'"):
        create_storage(typed)


def test_a_key_file_written_by_hand_works_from_a_path(
    shared_drive_setup: DriveSetup, fake: FakeDrive, service_account: ServiceAccount, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "sa.json", fake.key_file(service_account))
    storage = DriveStorage(
        Settings.from_config(_drive(shared_drive_setup, f"  {path}\n"), instance_path=str(tmp_path))
    )
    assert storage.auth.account == service_account.email
