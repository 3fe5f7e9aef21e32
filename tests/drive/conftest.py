"""Fixtures of the Drive tests: a Drive-compatible server on 127.0.0.1, accounts and
folders for each ``PDFQUEUE_DRIVE_AUTH`` mode, and a loopback-only socket guard.

The guard is on for every test in this folder, and every test fails when anything
(the service, Google's libraries, the test) tried to connect elsewhere, even if the
caller swallowed the refusal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flask_pdfqueue.config.settings import Settings
from flask_pdfqueue.storage.drive import DriveStorage
from tests.drive.fake_drive import DRIVE, DRIVE_FILE, FakeDrive, Item, OAuthClient, ServiceAccount
from tests.drive.loopback import loopback_guard

LOOPBACK_SITE = Path(__file__).parent / "loopback"
WORKSPACE_USER = "reports@example.test"
GMAIL_USER = "someone@gmail.test"


@pytest.fixture(scope="package", autouse=True)
def loopback_guard_installed() -> Iterator[None]:
    loopback_guard.install()
    yield
    loopback_guard.uninstall()


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    """Fail the test if anything tried to reach an address other than loopback."""
    before = len(loopback_guard.BLOCKED)
    yield
    blocked = loopback_guard.BLOCKED[before:]
    assert not blocked, f"the test tried to leave loopback: {blocked}"


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeDrive]:
    with FakeDrive() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_leftover_faults(fake: FakeDrive) -> Iterator[None]:
    yield
    fake.clear_faults()


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path


@dataclass
class DriveSetup:
    """One account and its folder in the fake, and the settings that point at them."""

    fake: FakeDrive
    mode: str
    credentials: Path
    folder: Item
    scope: str = "drive.file"
    subject: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def settings(self, **overrides: str) -> dict[str, str]:
        """``PDFQUEUE_*`` values (strings, as the environment gives them)."""
        values = {
            "PDFQUEUE_STORAGE": "drive",
            "PDFQUEUE_DRIVE_AUTH": self.mode,
            "PDFQUEUE_DRIVE_CREDENTIALS": str(self.credentials),
            "PDFQUEUE_DRIVE_FOLDER_ID": self.folder.id,
            "PDFQUEUE_DRIVE_ROOT_URL": self.fake.url,
            "PDFQUEUE_DRIVE_SCOPE": self.scope,
            "PDFQUEUE_DRIVE_TIMEOUT": "5",
            "PDFQUEUE_DRIVE_RETRIES": "4",
            "PDFQUEUE_DRIVE_CHUNK_SIZE": str(256 * 1024),
            **self.extra,
        }
        if self.subject:
            values["PDFQUEUE_DRIVE_SUBJECT"] = self.subject
        values.update({f"PDFQUEUE_{k.upper()}": v for k, v in overrides.items()})
        return values

    def typed(self, tmp_path: Path, **overrides: str) -> Settings:
        return Settings.from_config(self.settings(**overrides), instance_path=str(tmp_path))

    def storage(
        self, tmp_path: Path, *, sleeps: list[float] | None = None, **overrides: str
    ) -> DriveStorage:
        recorded = sleeps if sleeps is not None else []
        return DriveStorage(self.typed(tmp_path, **overrides), sleep=recorded.append)

    def uploads(self) -> list[Item]:
        return self.fake.files_in(self.folder.id)


@pytest.fixture(scope="package")
def service_account(fake: FakeDrive) -> ServiceAccount:
    """A service account made after April 2025: no storage of its own."""
    account = fake.add_service_account("pdfqueue")
    account.delegated_scopes = {DRIVE_FILE, DRIVE}
    fake.workspace_users.add(WORKSPACE_USER)
    return account


@pytest.fixture(scope="package")
def key_file(
    service_account: ServiceAccount, fake: FakeDrive, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return write_json(
        tmp_path_factory.mktemp("keys") / "service-account.json", fake.key_file(service_account)
    )


@pytest.fixture
def shared_drive_setup(
    fake: FakeDrive, service_account: ServiceAccount, key_file: Path
) -> DriveSetup:
    """``service_account``: a folder in a shared drive the account is a Content manager of
    (created by this app, so the drive.file scope sees it)."""
    shared = fake.add_shared_drive("Reports", {service_account.email: "fileOrganizer"})
    folder = fake.add_folder(
        "PDF reports", drive=shared, created_by_client=service_account.client_id
    )
    return DriveSetup(fake, "service_account", key_file, folder)


@pytest.fixture
def delegated_setup(fake: FakeDrive, service_account: ServiceAccount, key_file: Path) -> DriveSetup:
    """``delegated``: the service account acts as a Workspace user, in that user's My Drive."""
    folder = fake.add_folder(
        "PDF reports", owner=WORKSPACE_USER, created_by_client=service_account.client_id
    )
    return DriveSetup(fake, "delegated", key_file, folder, subject=WORKSPACE_USER)


@pytest.fixture(scope="package")
def oauth_client(fake: FakeDrive) -> OAuthClient:
    return fake.add_oauth_client()


@pytest.fixture
def oauth_setup(fake: FakeDrive, oauth_client: OAuthClient, tmp_path: Path) -> DriveSetup:
    """``oauth_user``: a personal account's refresh token, the file drive-login writes."""
    token = fake.add_refresh_token(oauth_client, GMAIL_USER, {DRIVE_FILE})
    path = write_json(tmp_path / "drive-user.json", fake.authorized_user_file(oauth_client, token))
    folder = fake.add_folder(
        "PDF reports", owner=GMAIL_USER, created_by_client=oauth_client.client_id
    )
    return DriveSetup(fake, "oauth_user", path, folder)


def loopback_env() -> dict[str, str]:
    """Environment for a process the tests start: the loopback guard is on in it too."""
    path = os.environ.get("PYTHONPATH")
    return {
        "PYTHONPATH": str(LOOPBACK_SITE) + (os.pathsep + path if path else ""),
        "PDFQUEUE_TEST_LOOPBACK_ONLY": "1",
    }
