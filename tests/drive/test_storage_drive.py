"""DriveStorage against the Drive-compatible test server, through the real
google-api-python-client and google-auth: uploads, retries, faults, errors, one file
per job, and services that are never shared across threads or processes."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
from googleapiclient.http import MediaIoBaseUpload

from flask_pdfqueue.errors import (
    JobFailure,
    StorageAuth,
    StorageError,
    StorageQuota,
    StorageRejected,
    is_retryable,
)
from flask_pdfqueue.storage import ReservingStorage
from flask_pdfqueue.storage.drive import FILE_FIELDS, DriveStorage
from tests.drive.conftest import WORKSPACE_USER, DriveSetup, write_json
from tests.drive.fake_drive import DRIVE_FILE, FakeDrive, ServiceAccount

CHUNK = 256 * 1024
PDF = b"%PDF-1.7\n" + os.urandom(3 * CHUNK - 1000) + b"\n%%EOF\n"  # three chunks


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(storage: DriveStorage, job_id: str = "pdf_job1", pdf: bytes = PDF) -> tuple[str, str]:
    key = storage.reserve_key(job_id)
    stored = storage.save_as(key, job_id, pdf, f"{job_id}.pdf")
    assert stored.key == key and stored.google_drive_link
    return key, stored.google_drive_link


def test_a_pdf_is_uploaded_in_chunks_into_the_folder_bytes_intact(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    assert isinstance(storage, ReservingStorage)
    before = len(fake.requests)
    key, link = upload(storage)

    [item] = shared_drive_setup.uploads()
    assert item.id == key
    assert item.sha256 == sha(PDF)
    assert (item.name, item.mime_type) == ("pdf_job1.pdf", "application/pdf")
    assert link == f"https://drive.google.com/file/d/{key}/view?usp=drivesdk"
    assert item.permissions == []  # PDFQUEUE_DRIVE_SHARE defaults to none

    log = fake.requests[before:]
    assert [r.kind for r in log] == ["token", "generateIds", "create", "chunk", "chunk", "chunk"]
    assert [(r.offset, r.status) for r in log if r.kind == "chunk"] == [
        (0, 308),
        (CHUNK, 308),
        (2 * CHUNK, 200),
    ]
    create = log[2]
    assert create.query["uploadType"] == "resumable"
    assert create.path == "/upload/drive/v3/files"  # rootUrl moved the upload URL too
    for request in log:
        if request.kind in ("create", "get", "permission", "delete"):
            assert request.query.get("supportsAllDrives") == "true", request


@pytest.mark.parametrize(
    ("kind", "status", "offset"),
    [
        ("create", 500, None),
        ("create", 503, None),
        ("create", 429, None),
        ("chunk", 500, CHUNK),
        ("chunk", 503, CHUNK),
        ("chunk", 429, CHUNK),
        ("generateIds", 503, None),
    ],
)
def test_a_passing_fault_is_retried_and_the_file_arrives_once_intact(
    shared_drive_setup: DriveSetup,
    fake: FakeDrive,
    tmp_path: Path,
    kind: str,
    status: int,
    offset: int | None,
) -> None:
    sleeps: list[float] = []
    storage = shared_drive_setup.storage(tmp_path, sleeps=sleeps)
    fault = fake.inject(kind, status, offset=offset)
    key, _ = upload(storage)
    assert fault.times == 0
    [item] = shared_drive_setup.uploads()
    assert (item.id, item.sha256) == (key, sha(PDF))
    if kind != "generateIds":  # generateIds is retried by the library's execute(num_retries)
        assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0


def test_a_rate_limit_403_on_a_chunk_is_retried(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    fake.inject("chunk", 403, offset=2 * CHUNK, reason="userRateLimitExceeded")
    upload(storage)
    [item] = shared_drive_setup.uploads()
    assert item.sha256 == sha(PDF)


@pytest.mark.parametrize(("kind", "offset"), [("create", None), ("chunk", CHUNK)])
def test_a_401_refreshes_the_token_and_resends_the_same_bytes(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path, kind: str, offset: int | None
) -> None:
    sleeps: list[float] = []
    storage = shared_drive_setup.storage(tmp_path, sleeps=sleeps)
    storage.reserve_key("warm-up")  # a token exists before the fault
    tokens = len(fake.log_of("token"))
    fake.inject(kind, 401, offset=offset)
    upload(storage)
    assert len(fake.log_of("token")) == tokens + 1  # google-auth got a new token once
    assert sleeps == []  # a refresh is no failure: nothing waited
    [item] = shared_drive_setup.uploads()
    assert item.sha256 == sha(PDF)


def test_a_stalled_chunk_times_out_and_the_upload_resumes_where_drive_is(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path, drive_timeout="1")
    fake.inject("chunk", None, offset=CHUNK, stall=3)
    started = time.monotonic()
    upload(storage)
    assert time.monotonic() - started < 10
    [item] = shared_drive_setup.uploads()
    assert item.sha256 == sha(PDF)
    chunks = [(r.kind, r.offset, r.status) for r in fake.log_of("chunk", "status")]
    # the stalled chunk got no answer; the client asked where Drive was, then resent it
    assert chunks[-4:] == [
        ("chunk", CHUNK, 0),
        ("status", None, 308),
        ("chunk", CHUNK, 308),
        ("chunk", 2 * CHUNK, 200),
    ]


def test_an_upload_session_that_expired_starts_again(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    before = len(fake.requests)
    fake.inject("chunk", 404, offset=CHUNK, message="Upload session not found.")
    upload(storage)
    [item] = shared_drive_setup.uploads()
    assert item.sha256 == sha(PDF)
    assert [r.kind for r in fake.requests[before:]].count("create") == 2  # a new session


def test_the_stock_stream_media_would_resend_an_empty_chunk_and_stall(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    """Why DriveStorage sends chunks as bytes: the test server catches the library's pitfall."""
    storage = shared_drive_setup.storage(tmp_path, drive_timeout="1")
    key = storage.reserve_key("pitfall")
    media = MediaIoBaseUpload(io.BytesIO(PDF), "application/pdf", chunksize=CHUNK, resumable=True)
    request = (
        storage.service()
        .files()
        .create(
            body={"id": key, "name": "x.pdf", "parents": [shared_drive_setup.folder.id]},
            media_body=media,
            fields=FILE_FIELDS,
            supportsAllDrives=True,
        )
    )
    request._sleep = lambda seconds: None
    fake.inject("chunk", 503, offset=0)
    with pytest.raises(TimeoutError):
        request.next_chunk(num_retries=1)  # the retry sends Content-Length 262144, no body
    assert shared_drive_setup.uploads() == []


def test_failures_that_keep_coming_end_as_a_retryable_storage_error(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    sleeps: list[float] = []
    storage = shared_drive_setup.storage(tmp_path, sleeps=sleeps, drive_retries="3")
    key = storage.reserve_key("pdf_job1")
    fake.inject("chunk", 503, offset=CHUNK, times=10)
    with pytest.raises(StorageError) as failure:
        storage.save_as(key, "pdf_job1", PDF, "x.pdf")
    assert failure.value.retryable and failure.value.error_code == "storage_error"
    assert "HTTP 503" in failure.value.message and "after 3 retries" in failure.value.message
    assert len(sleeps) == 3
    assert sleeps == sorted(sleeps)  # backing off
    assert shared_drive_setup.uploads() == []


def test_a_missing_folder_fails_at_once_naming_the_setting(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path, service_account: ServiceAccount
) -> None:
    sleeps: list[float] = []
    storage = shared_drive_setup.storage(
        tmp_path, sleeps=sleeps, drive_folder_id="1NoSuchFolderAnywhere"
    )
    creates = len(fake.log_of("create"))
    with pytest.raises(StorageRejected) as failure:
        upload(storage)
    message = failure.value.message
    assert not failure.value.retryable and failure.value.error_code == "storage_rejected"
    assert "HTTP 404" in message and "PDFQUEUE_DRIVE_FOLDER_ID" in message
    assert service_account.email in message
    assert sleeps == [] and len(fake.log_of("create")) == creates + 1


def test_a_400_fails_at_once(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    fake.inject("create", 400, reason="badRequest", message="Invalid field selection")
    with pytest.raises(StorageRejected, match="HTTP 400 badRequest"):
        upload(storage)


def test_a_folder_shared_read_only_is_an_auth_failure(
    fake: FakeDrive, service_account: ServiceAccount, key_file: Path, tmp_path: Path
) -> None:
    shared = fake.add_shared_drive("Read only", {service_account.email: "reader"})
    folder = fake.add_folder("PDFs", drive=shared, created_by_client=service_account.client_id)
    storage = DriveSetup(fake, "service_account", key_file, folder).storage(tmp_path)
    with pytest.raises(StorageAuth) as failure:
        upload(storage)
    assert "insufficientFilePermissions" in failure.value.message
    assert not is_retryable(failure.value.error_code)


def test_a_service_account_uploading_into_my_drive_gets_storage_quota_naming_the_fix(
    fake: FakeDrive, service_account: ServiceAccount, key_file: Path, tmp_path: Path
) -> None:
    """Service accounts made after 15 April 2025 own nothing (n8n-io/n8n#26050)."""
    folder = fake.add_folder(
        "Shared with the robot",
        owner="boss@gmail.test",
        shared_with={service_account.email: "writer"},
        created_by_client=service_account.client_id,
    )
    storage = DriveSetup(fake, "service_account", key_file, folder).storage(tmp_path)
    with pytest.raises(StorageQuota) as failure:
        upload(storage)
    message = failure.value.message
    assert failure.value.error_code == "storage_quota" and not failure.value.retryable
    assert "service accounts have no Drive storage" in message
    for fix in ("shared drive", "PDFQUEUE_DRIVE_AUTH=delegated", "PDFQUEUE_DRIVE_AUTH=oauth_user"):
        assert fix in message
    assert fake.files_in(folder.id) == []


def test_a_full_drive_is_storage_quota(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    fake.inject("create", 403, reason="storageQuotaExceeded", message="The user's quota is full.")
    with pytest.raises(StorageQuota, match="has no room left"):
        upload(storage)


def test_a_401_that_refreshing_cannot_cure_is_an_auth_failure(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    key = storage.reserve_key("pdf_job1")
    fake.inject("create", 401, times=5)
    with pytest.raises(StorageAuth, match="HTTP 401"):
        storage.save_as(key, "pdf_job1", PDF, "x.pdf")


def test_a_key_google_does_not_know_is_refused_with_the_fix(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path, service_account: ServiceAccount
) -> None:
    impostor = fake.add_service_account("impostor")
    forged = {**fake.key_file(service_account), "private_key": impostor.private_key_pem}
    key_path = write_json(tmp_path / "forged.json", forged)  # signed by the wrong key
    setup = DriveSetup(fake, "service_account", key_path, shared_drive_setup.folder)
    with pytest.raises(StorageAuth) as failure:
        setup.storage(tmp_path).reserve_key("pdf_job1")
    assert "invalid_grant" in failure.value.message
    assert "create a new key" in failure.value.message


def test_delegation_not_granted_in_the_admin_console_says_where_to_grant_it(
    delegated_setup: DriveSetup, service_account: ServiceAccount, tmp_path: Path
) -> None:
    granted = service_account.delegated_scopes
    service_account.delegated_scopes = set()
    try:
        with pytest.raises(StorageAuth) as failure:
            delegated_setup.storage(tmp_path).reserve_key("pdf_job1")
    finally:
        service_account.delegated_scopes = granted
    message = failure.value.message
    assert "unauthorized_client" in message and "Domain-wide delegation" in message
    assert service_account.client_id in message and DRIVE_FILE in message


def test_a_revoked_refresh_token_says_to_sign_in_again(
    oauth_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    fake.refresh_tokens.clear()
    with pytest.raises(StorageAuth, match="drive-login"):
        oauth_setup.storage(tmp_path).reserve_key("pdf_job1")


@pytest.mark.parametrize("setup_name", ["shared_drive_setup", "delegated_setup", "oauth_setup"])
def test_every_auth_mode_uploads(
    setup_name: str, request: pytest.FixtureRequest, fake: FakeDrive, tmp_path: Path
) -> None:
    setup: DriveSetup = request.getfixturevalue(setup_name)
    key, _ = upload(setup.storage(tmp_path))
    [item] = setup.uploads()
    assert (item.id, item.sha256) == (key, sha(PDF))
    if setup.mode == "delegated":
        assert item.owner == WORKSPACE_USER  # the user owns it, not the service account


def test_running_twice_under_one_reserved_id_leaves_one_file(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    key, link = upload(storage)
    again = storage.save_as(key, "pdf_job1", b"%PDF-1.7 a second render", "pdf_job1.pdf")
    assert (again.key, again.google_drive_link) == (key, link)
    [item] = shared_drive_setup.uploads()
    assert item.sha256 == sha(PDF)  # the first complete upload is kept
    assert [r.status for r in fake.log_of("create")][-1] == 409


def test_a_deleted_pdf_is_gone_for_good_and_deleting_again_is_no_error(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    key, _ = upload(storage)
    earlier = len(fake.log_of("delete"))  # the fake server is shared with other tests
    storage.delete(key)
    assert shared_drive_setup.uploads() == []
    with pytest.raises(StorageRejected):
        storage.read(key)
    storage.delete(key)  # a cancel that is told twice
    assert [r.status for r in fake.log_of("delete")[earlier:]] == [204, 404]


def test_the_pdf_an_earlier_run_uploaded_is_found_by_its_reserved_id(
    shared_drive_setup: DriveSetup, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    assert storage.stored("pdf_job1", None) is None  # nothing reserved: nothing to find
    key = storage.reserve_key("pdf_job1")
    assert storage.stored("pdf_job1", key) is None  # reserved, never uploaded
    storage.save_as(key, "pdf_job1", PDF, "pdf_job1.pdf")
    assert storage.stored("pdf_job1", key) == PDF


def test_an_id_taken_by_another_jobs_file_or_trashed_is_refused(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    key, _ = upload(storage, "pdf_job1")
    with pytest.raises(StorageRejected, match="not this job's PDF"):
        storage.save_as(key, "pdf_other", PDF, "x.pdf")
    fake.items[key].trashed = True
    with pytest.raises(StorageRejected, match="in the trash"):
        storage.save_as(key, "pdf_job1", PDF, "x.pdf")


@pytest.mark.parametrize(
    ("share", "permission"),
    [
        ("anyone", {"type": "anyone", "role": "reader", "allowFileDiscovery": False}),
        (
            "domain:example.com",
            {
                "type": "domain",
                "domain": "example.com",
                "role": "reader",
                "allowFileDiscovery": False,
            },
        ),
    ],
)
def test_sharing_follows_the_setting(
    shared_drive_setup: DriveSetup,
    fake: FakeDrive,
    tmp_path: Path,
    share: str,
    permission: dict[str, object],
) -> None:
    storage = shared_drive_setup.storage(tmp_path, drive_share=share)
    key, _ = upload(storage)
    [granted] = fake.items[key].permissions
    assert {k: v for k, v in granted.items() if k != "id"} == permission
    storage.save_as(key, "pdf_job1", PDF, "x.pdf")  # a second run shares again, harmlessly
    assert len(fake.items[key].permissions) == 1


def test_threads_sharing_one_storage_never_get_each_others_file(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    """One service per thread: a shared one mixes up responses (notes, pitfall 5)."""
    storage = shared_drive_setup.storage(tmp_path)
    results: dict[str, tuple[str, bytes]] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        for i in range(5):
            job = f"pdf_t{n}_{i}"
            pdf = b"%PDF-1.7 " + job.encode() + os.urandom(2000)
            try:
                key, _ = upload(storage, job, pdf)
            except BaseException as exc:
                errors.append(exc)
                return
            results[job] = (key, pdf)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(results) == 40
    for job, (key, pdf) in results.items():
        item = fake.items[key]
        assert item.sha256 == sha(pdf), job
        assert item.app_properties[item.created_by_client or ""]["pdfqueueJobId"] == job


def _upload_in_child(
    storage: DriveStorage, parent_service: int, queue: multiprocessing.Queue[tuple[bool, str]]
) -> None:
    try:
        fresh = id(storage.service()) != parent_service
        key, _ = upload(storage, "pdf_forked")
        queue.put((fresh, key))
    except BaseException as exc:
        queue.put((False, repr(exc)))


def test_a_forked_work_horse_builds_its_own_service(
    shared_drive_setup: DriveSetup, fake: FakeDrive, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    upload(storage, "pdf_parent")  # the parent has a service, a connection and a token
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[tuple[bool, str]] = context.Queue()
    child = context.Process(target=_upload_in_child, args=(storage, id(storage.service()), queue))
    child.start()
    fresh, key = queue.get(timeout=60)
    child.join(30)
    assert fresh, key
    assert fake.items[key].sha256 == sha(PDF)
    assert len(shared_drive_setup.uploads()) == 2


def test_failure_messages_carry_no_secret(
    shared_drive_setup: DriveSetup,
    oauth_setup: DriveSetup,
    fake: FakeDrive,
    tmp_path: Path,
    service_account: ServiceAccount,
) -> None:
    messages: list[str] = []
    for setup, fault in ((shared_drive_setup, 401), (oauth_setup, 403), (shared_drive_setup, 404)):
        storage = setup.storage(tmp_path, drive_retries="0")
        key = storage.reserve_key("pdf_job1")
        fake.inject("create", fault, times=5)
        with pytest.raises(JobFailure) as failure:
            storage.save_as(key, "pdf_job1", PDF, "x.pdf")
        messages.append(failure.value.message)
    fake.refresh_tokens.clear()
    with pytest.raises(JobFailure) as failure:
        oauth_setup.storage(tmp_path).reserve_key("pdf_job1")
    messages.append(failure.value.message)
    secrets = [*fake.issued_tokens, service_account.private_key_pem.splitlines()[1]]
    secrets += [c.client_secret for c in fake.clients.values()]
    for message in messages:
        for secret in secrets:
            assert secret not in message
