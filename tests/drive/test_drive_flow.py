"""Submit → real ``flask pdfqueue worker`` with PDFQUEUE_STORAGE=drive → the Drive-compatible
test server → records, webhook, download, for each auth mode; a work horse killed after
its upload; permanent failures; and no credential anywhere it could leak.

The workers run as separate processes configured by the environment, with their own
Redis server (no other test's worker takes these jobs), MongoDB database and SQLite
file, and with the loopback-only guard installed in them too.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from werkzeug.test import TestResponse

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.records.migrations import upgrade
from tests.conftest import (
    API_KEY,
    WORKER_APP,
    WorkerProcess,
    make_app,
    start_worker_process,
    stop_worker_process,
)
from tests.drive.conftest import WORKSPACE_USER, DriveSetup, loopback_env
from tests.drive.fake_drive import FakeDrive, ServiceAccount
from tests.drive.loopback.loopback_guard import MARK
from tests.integration.helpers import (
    FAILURE_FIELDS,
    SUCCESS_FIELDS,
    assert_one_webhook,
    callback_paths,
    new_report,
    pdf_generation,
    settled,
    sql_row,
    submit_report,
    verified,
    wait_until,
)
from tests.receiver import Received, WebhookReceiver
from tests.servers import RunningServer, start_redis

pytestmark = pytest.mark.integration
AUTH = {"X-API-Key": API_KEY}
UPLOADED = re.compile(
    r"job (\S+): PDF uploaded to Google Drive as file (\S+) \((\d+) bytes, sha256 ([0-9a-f]{64})\)"
)


@dataclass
class DriveStack:
    """The app (in this process), its servers, and worker processes started on demand."""

    app: Flask
    state: PDFQueueState
    settings: dict[str, str]
    home: Path
    receiver: WebhookReceiver
    logs: list[Path]

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    @contextmanager
    def worker(self, drive: dict[str, str], name: str) -> Iterator[WorkerProcess]:
        """A render worker whose environment sets these PDFQUEUE_DRIVE_* values."""
        log = self.home / f"{name}.log"
        self.logs.append(log)
        env = {
            **os.environ,
            **self.settings,
            **drive,
            **loopback_env(),
            "PDFQUEUE_LOG_LEVEL": "DEBUG",
        }
        process = start_worker_process(self.state, env, log)
        try:
            yield WorkerProcess(process.pid, log)
        finally:
            stop_worker_process(process)

    def download(self, drive: dict[str, str], job_id: str) -> TestResponse:
        """``GET /download`` from a web app with these Drive settings (as a deployment's web
        app and workers share them)."""
        app = make_app({**self.settings, **drive}, self.home / "download-instance")
        try:
            return app.test_client().get(f"/api/jobs/{job_id}/download", headers=AUTH)
        finally:
            app.extensions["pdfqueue"].close()

    def submit(self, document: dict[str, Any], ok_path: str) -> str:
        accepted = submit_report(
            self.client,
            AUTH,
            document,
            callback=self.receiver.url_for(ok_path),
            metadata={"run": "drive"},
        )
        return str(accepted["job_id"])


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_redis(tmp_path_factory.mktemp("drive-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app_drive(fake: FakeDrive, service_account: ServiceAccount, key_file: Path) -> DriveSetup:
    """The Drive settings of the web app and the delivery worker (a shared drive)."""
    shared = fake.add_shared_drive("App", {service_account.email: "fileOrganizer"})
    folder = fake.add_folder("PDFs", drive=shared, created_by_client=service_account.client_id)
    return DriveSetup(fake, "service_account", key_file, folder)


@pytest.fixture(scope="module")
def stack(
    stack_settings: dict[str, str],
    own_redis: RunningServer,
    receiver: WebhookReceiver,
    app_drive: DriveSetup,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DriveStack]:
    home = tmp_path_factory.mktemp("drive-stack")
    settings = {
        **stack_settings,
        "PDFQUEUE_REDIS_URL": own_redis.url,
        "PDFQUEUE_SQL_URL": f"sqlite:///{home / 'drive.sqlite3'}",
        "PDFQUEUE_MONGO_DB": "drive_flow",
        "PDFQUEUE_HOME": str(home),
        **app_drive.settings(),
    }
    app = make_app(settings, home / "instance")
    state: PDFQueueState = app.extensions["pdfqueue"]
    upgrade(state.jobs.engine)
    state.documents.ensure_indexes()
    env = {**os.environ, **settings, **loopback_env()}
    deliveries = start_worker_process(state, env, home / "delivery.log", "delivery-worker")
    yield DriveStack(app, state, settings, home, receiver, [home / "delivery.log"])
    stop_worker_process(deliveries)
    state.close()


def setup_for(mode: str, request: pytest.FixtureRequest) -> DriveSetup:
    fixture = {"service_account": "shared_drive_setup", "delegated": "delegated_setup"}
    setup: DriveSetup = request.getfixturevalue(fixture.get(mode, "oauth_setup"))
    return setup


def uploaded_in_log(log: Path, job_id: str) -> tuple[str, int, str]:
    """What the worker said it uploaded: the file id, the size and sha256 of the render."""
    for match in UPLOADED.finditer(log.read_text(errors="replace")):
        if match.group(1) == job_id:
            return match.group(2), int(match.group(3)), match.group(4)
    raise AssertionError(f"the worker logged no upload of {job_id}")


def assert_no_secrets(stack: DriveStack, fake: FakeDrive, texts: list[str]) -> None:
    """No token, key, refresh token or client secret in logs, records, webhooks, Redis."""
    secrets = [*fake.issued_tokens, *fake.refresh_tokens]
    secrets += [c.client_secret for c in fake.clients.values()]
    secrets += [a.private_key_pem.splitlines()[1] for a in fake.service_accounts.values()]
    assert fake.issued_tokens, "no token was issued: nothing was checked"
    redis_dump = [
        str(stack.state.redis.dump(key))
        for key in stack.state.redis.scan_iter()
        if stack.state.redis.type(key) != b"none"
    ]
    corpus = [
        *texts,
        *redis_dump,
        *(log.read_text(errors="replace") for log in stack.logs if log.exists()),
    ]
    for text in corpus:
        for secret in secrets:
            assert secret not in text
        assert MARK not in text  # nothing tried to leave loopback


@pytest.mark.parametrize("mode", ["service_account", "delegated", "oauth_user"])
def test_each_auth_mode_uploads_through_a_running_worker(
    mode: str, stack: DriveStack, fake: FakeDrive, request: pytest.FixtureRequest
) -> None:
    setup = setup_for(mode, request)
    drive = setup.settings(drive_share="anyone")
    if mode == "service_account":  # and Drive has a bad moment, twice
        fake.inject("create", 503)
        fake.inject("chunk", 429, offset=0)
    with stack.worker(drive, f"worker-{mode}") as worker:
        document = new_report(stack.state)
        ok_path, failed_path = callback_paths()
        job_id = stack.submit(document, ok_path)
        [hook] = stack.receiver.wait_for(ok_path, timeout=90)
        settled(stack.state, job_id)
    [item] = setup.uploads()
    payload = verified(hook, stack.state.settings.webhook_secret)

    # the bytes Drive holds are the PDF the worker rendered, whole
    file_id, size, rendered_sha = uploaded_in_log(worker.log_path, job_id)
    assert (item.id, len(item.content), item.sha256) == (file_id, size, rendered_sha)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(item.content)).pages)
    assert document["participant"]["name"] in text
    assert item.app_properties[item.created_by_client or ""] == {"pdfqueueJobId": job_id}
    assert [p["type"] for p in item.permissions] == ["anyone"]
    if mode == "delegated":
        assert item.owner == WORKSPACE_USER
    link = f"https://drive.google.com/file/d/{item.id}/view?usp=drivesdk"

    # link and file id in the webhook, SQL and the report document
    assert set(payload) == SUCCESS_FIELDS | {"google_drive_file_id", "metadata"}
    assert (payload["google_drive_link"], payload["google_drive_file_id"]) == (link, item.id)
    assert payload["pdf_url"] == f"http://pdfqueue.test/api/jobs/{job_id}/download"
    row = sql_row(stack.state, job_id)
    assert (row["status"], row["google_drive_link"], row["storage_key"]) == (
        "completed",
        link,
        item.id,
    )
    generation = pdf_generation(stack.state, document["code"])
    assert (generation["google_drive_link"], generation["google_drive_file_id"]) == (link, item.id)
    assert generation["status"] == "completed"

    status = stack.client.get(f"/api/jobs/{job_id}", headers=AUTH).get_json()
    assert status["google_drive_link"] == link
    # pdf_url gives the PDF itself, fetched with the service's credentials
    download = stack.download(drive, job_id)
    assert (download.status_code, download.mimetype) == (200, "application/pdf")
    assert download.data == item.content

    assert_one_webhook(stack.receiver, ok_path, failed_path)
    assert_no_secrets(stack, fake, [hook.body.decode(), str(row), str(generation)])
    if mode == "service_account":
        retried = [r.status for r in fake.log_of("create", "chunk") if r.path.startswith("/upload")]
        assert 503 in retried and 429 in retried


def test_a_work_horse_killed_after_the_upload_runs_again_and_leaves_one_file(
    stack: DriveStack, fake: FakeDrive, shared_drive_setup: DriveSetup
) -> None:
    drive = shared_drive_setup.settings(drive_share="anyone", drive_timeout="30")
    held = fake.hold("permission")  # the step after the upload: the horse dies waiting there
    before = len(fake.requests)
    with stack.worker(drive, "worker-killed") as worker:
        document = new_report(stack.state)
        ok_path, failed_path = callback_paths()
        job_id = stack.submit(document, ok_path)
        wait_until(lambda: any(r.kind == "permission" for r in fake.requests[before:]), timeout=60)
        [uploaded] = shared_drive_setup.uploads()  # the upload is complete in Drive
        horse = worker.horse_pid()
        assert horse is not None
        os.kill(horse, signal.SIGKILL)
        held.set()
        [hook] = stack.receiver.wait_for(ok_path, timeout=90)
        settled(stack.state, job_id)
    payload = verified(hook, stack.state.settings.webhook_secret)
    assert [item.id for item in shared_drive_setup.uploads()] == [uploaded.id]  # still one
    assert payload["google_drive_file_id"] == uploaded.id
    row = sql_row(stack.state, job_id)
    assert (row["status"], row["retry_count"], row["storage_key"]) == ("completed", 1, uploaded.id)
    creates = [r.status for r in fake.requests[before:] if r.kind == "create"]
    assert creates == [200, 409]  # the second run found its file and kept it
    assert "uploaded by an earlier run" in worker.log_path.read_text()
    assert_one_webhook(stack.receiver, ok_path, failed_path)


def test_the_pdf_is_served_unshared_and_its_loss_or_a_drive_outage_is_said_clearly(
    stack: DriveStack, fake: FakeDrive, shared_drive_setup: DriveSetup
) -> None:
    drive = shared_drive_setup.settings(drive_share="none")
    with stack.worker(drive, "worker-unshared"):
        document = new_report(stack.state)
        ok_path, _ = callback_paths()
        job_id = stack.submit(document, ok_path)
        stack.receiver.wait_for(ok_path, timeout=90)
        settled(stack.state, job_id)
    key = sql_row(stack.state, job_id)["storage_key"]
    [item] = [upload for upload in shared_drive_setup.uploads() if upload.id == key]
    assert item.permissions == []  # shared with nobody, and still downloadable with a key

    served = stack.download(drive, job_id)
    assert (served.status_code, served.data) == (200, item.content)
    assert served.headers["Content-Disposition"].startswith("attachment")

    fake.inject("media", 500, times=20)  # Drive keeps failing, through the client's retries
    down = stack.download({**drive, "PDFQUEUE_DRIVE_RETRIES": "1"}, job_id)
    fake.clear_faults()
    assert down.status_code == 503
    assert down.get_json()["error"]["code"] == "storage_unavailable"
    assert "Retry-After" in down.headers

    del fake.items[item.id]  # deleted in Drive by somebody
    gone = stack.download(drive, job_id)
    assert gone.status_code == 404
    assert gone.get_json()["error"]["code"] == "pdf_missing"


def failure_of(
    stack: DriveStack, drive: dict[str, str], name: str
) -> tuple[dict[str, Any], str, Received]:
    with stack.worker(drive, name):
        document = new_report(stack.state)
        ok_path, failed_path = callback_paths()
        job_id = stack.submit(document, ok_path)
        [hook] = stack.receiver.wait_for(failed_path, timeout=90)
        settled(stack.state, job_id)
    assert_one_webhook(stack.receiver, failed_path, ok_path)
    payload = verified(hook, stack.state.settings.webhook_secret)
    assert set(payload) == FAILURE_FIELDS | {"metadata"}
    assert (payload["status"], payload["retryable"], payload["retry_count"]) == ("failed", False, 0)
    generation = pdf_generation(stack.state, document["code"])
    assert (generation["status"], generation["error_message"]) == ("failed", payload["error"])
    assert sql_row(stack.state, job_id)["error_code"] == payload["error_code"]
    return payload, job_id, hook


def test_a_permanent_drive_error_fails_the_job_at_once_with_a_readable_message(
    stack: DriveStack, fake: FakeDrive, shared_drive_setup: DriveSetup
) -> None:
    drive = shared_drive_setup.settings(drive_folder_id="1ThisFolderWasDeleted")
    payload, job_id, hook = failure_of(stack, drive, "worker-404")
    assert payload["error_code"] == "storage_rejected"
    assert payload["error"].startswith(
        "could not upload the PDF to Google Drive: Google Drive answered HTTP 404"
    )
    assert "PDFQUEUE_DRIVE_FOLDER_ID" in payload["error"]
    download = stack.client.get(f"/api/jobs/{job_id}/download", headers=AUTH)
    assert download.status_code == 409
    assert_no_secrets(stack, fake, [hook.body.decode()])


def test_the_no_storage_quota_403_fails_as_storage_quota_naming_the_fix(
    stack: DriveStack, fake: FakeDrive, service_account: ServiceAccount, key_file: Path
) -> None:
    my_drive = fake.add_folder(
        "Shared with the robot",
        owner="boss@gmail.test",
        shared_with={service_account.email: "writer"},
        created_by_client=service_account.client_id,
    )
    drive = DriveSetup(fake, "service_account", key_file, my_drive).settings()
    payload, _, _ = failure_of(stack, drive, "worker-quota")
    assert payload["error_code"] == "storage_quota"
    for fix in ("shared drive", "PDFQUEUE_DRIVE_AUTH=delegated", "PDFQUEUE_DRIVE_AUTH=oauth_user"):
        assert fix in payload["error"]
    assert fake.files_in(my_drive.id) == []


def test_a_bad_drive_setting_stops_the_worker_at_start_naming_the_key(
    stack: DriveStack, shared_drive_setup: DriveSetup
) -> None:
    drive = shared_drive_setup.settings(drive_credentials=str(stack.home / "missing-key.json"))
    argv = [sys.executable, "-m", "flask", "--app", WORKER_APP, "pdfqueue", "worker"]
    done = subprocess.run(
        [*argv, "--burst"],
        env={**os.environ, **stack.settings, **drive, **loopback_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "ConfigError: PDFQUEUE_DRIVE_CREDENTIALS must be the path" in done.stderr
