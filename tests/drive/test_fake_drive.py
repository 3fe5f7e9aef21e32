"""The test server and the loopback guard: what the other Drive tests rely on."""

from __future__ import annotations

import hashlib
import io
import socket
from pathlib import Path

import google.auth
import pytest
from google.auth.exceptions import DefaultCredentialsError
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from tests.drive.conftest import DriveSetup
from tests.drive.fake_drive import FakeDrive
from tests.drive.loopback import loopback_guard


def test_a_multipart_upload_and_files_get_with_fields(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    service = shared_drive_setup.storage(tmp_path).service()
    pdf = b"%PDF-1.7 multipart body \x00\xff"
    media = MediaIoBaseUpload(io.BytesIO(pdf), "application/pdf", resumable=False)
    created = (
        service.files()
        .create(
            body={"name": "m.pdf", "parents": [shared_drive_setup.folder.id]},
            media_body=media,
            fields="id",
            supportsAllDrives=True,
        )
        .execute()
    )
    assert set(created) == {"id"}
    assert fake.log_of("create")[-1].query["uploadType"] == "multipart"
    assert fake.items[created["id"]].content == pdf
    got = (
        service.files()
        .get(
            fileId=created["id"],
            fields="id,size,capabilities(canAddChildren)",
            supportsAllDrives=True,
        )
        .execute()
    )
    assert got == {
        "id": created["id"],
        "size": str(len(pdf)),
        "capabilities": {"canAddChildren": False},
    }
    assert fake.items[created["id"]].sha256 == hashlib.sha256(pdf).hexdigest()


def test_a_client_chosen_id_must_be_generated_and_is_used_once(
    shared_drive_setup: DriveSetup, tmp_path: Path
) -> None:
    service = shared_drive_setup.storage(tmp_path).service()
    [reserved] = service.files().generateIds(count=1).execute()["ids"]
    body = {"id": reserved, "name": "f", "parents": [shared_drive_setup.folder.id]}
    service.files().create(body=body, supportsAllDrives=True).execute()
    with pytest.raises(HttpError) as again:
        service.files().create(body=body, supportsAllDrives=True).execute()
    assert again.value.status_code == 409
    with pytest.raises(HttpError) as invented:
        service.files().create(
            body={**body, "id": "1madeUpByTheClient"}, supportsAllDrives=True
        ).execute()
    assert invented.value.status_code == 400


def test_shared_drive_items_need_supports_all_drives(
    shared_drive_setup: DriveSetup, tmp_path: Path
) -> None:
    service = shared_drive_setup.storage(tmp_path).service()
    folder = shared_drive_setup.folder.id
    assert service.files().get(fileId=folder, supportsAllDrives=True).execute()["id"] == folder
    with pytest.raises(HttpError) as hidden:
        service.files().get(fileId=folder).execute()
    assert hidden.value.status_code == 404


def test_with_drive_file_scope_a_folder_made_in_the_web_ui_is_invisible(
    fake: FakeDrive, shared_drive_setup: DriveSetup, tmp_path: Path
) -> None:
    shared_drive = fake.drives[shared_drive_setup.folder.drive_id or ""]
    by_hand = fake.add_folder("Made in drive.google.com", drive=shared_drive)
    narrow = DriveSetup(fake, "service_account", shared_drive_setup.credentials, by_hand)
    with pytest.raises(HttpError) as hidden:
        narrow.storage(tmp_path).service().files().get(
            fileId=by_hand.id, supportsAllDrives=True
        ).execute()
    assert hidden.value.status_code == 404
    wide = narrow.storage(tmp_path, drive_scope="drive").service()
    assert wide.files().get(fileId=by_hand.id, supportsAllDrives=True).execute()["id"] == by_hand.id


def test_the_guard_refuses_every_address_but_loopback() -> None:
    before = len(loopback_guard.BLOCKED)
    try:
        with pytest.raises(ConnectionRefusedError), socket.socket() as sock:
            sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never reached
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("www.googleapis.com", 443)
        assert loopback_guard.allowed(socket.AF_INET, ("127.0.0.1", 1))
        assert loopback_guard.allowed(socket.AF_INET6, ("::1", 1))
        assert not loopback_guard.allowed(socket.AF_INET, ("10.0.0.1", 1))
        assert len(loopback_guard.BLOCKED) == before + 2
    finally:
        del loopback_guard.BLOCKED[before:]


def test_the_guard_catches_application_default_credentials_probing_the_metadata_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Why the service never builds a client with ``credentials=None`` (the notes, pitfall 4)."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud login to find
    before = len(loopback_guard.BLOCKED)
    try:
        with pytest.raises(DefaultCredentialsError):
            google.auth.default()
        assert any(
            "169.254.169.254" in b or "metadata" in b for b in loopback_guard.BLOCKED[before:]
        )
    finally:
        del loopback_guard.BLOCKED[before:]
