"""PDFs in Google Drive, uploaded the way Google's client libraries really behave.

- **One file per job.** The file id is reserved with ``files.generateIds`` and kept
  with the job in SQL (:class:`~flask_pdfqueue.storage.ReservingStorage`); every run
  of the job creates the file under that id. Drive answers 409 for an id in use, which
  means an earlier run finished the upload (its work horse died before recording it):
  the file is checked, and kept.
- **Resumable uploads whose retries work.** Each chunk is sent from bytes: the stock
  stream-backed media of google-api-python-client sends a one-shot slice that a retry,
  or google-auth's refresh after a 401, resends empty, stalling until the socket times
  out. Retries are our own loop around ``next_chunk(num_retries=0)``: after a failed
  chunk, the client asks Drive how much it has (``Content-Range: bytes */N``) and goes
  on from there.
- **Bounded waits.** Socket timeouts (``PDFQUEUE_DRIVE_TIMEOUT``); retries with backoff
  (``PDFQUEUE_DRIVE_RETRIES``) on 5xx, 429, rate-limit 403s and connection errors;
  anything else fails the job at once with its own ``error_code``.
- **A service per process and thread**, built on first use after the fork: a service
  shared across threads or processes shares one connection, and can hand an upload
  another upload's file id.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httplib2
from google.auth.credentials import Credentials
from google.auth.exceptions import RefreshError
from google_auth_httplib2 import AuthorizedHttp
from google_auth_httplib2 import Request as GoogleAuthRequest
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from ..config.settings import ConfigError, Settings
from ..errors import JobFailure, StorageError, StorageRejected
from .base import StoredPDF
from .drive_auth import DriveAuth
from .drive_errors import (
    AUTH_OR_TRANSIENT,
    DRIVE_ERRORS,
    FailureJudge,
    describe,
    http_error_details,
    is_transient,
)

log = logging.getLogger(__name__)

PDF_MIME = "application/pdf"
FOLDER_MIME = "application/vnd.google-apps.folder"
FILE_FIELDS = "id,name,mimeType,parents,size,trashed,webViewLink,appProperties"
#: The job a file belongs to, in its ``appProperties`` (private to this OAuth client).
JOB_PROPERTY = "pdfqueueJobId"
UPLOAD = "upload the PDF to Google Drive"


class DriveStorage:
    """``PDFQUEUE_STORAGE=drive``: each PDF a file in ``PDFQUEUE_DRIVE_FOLDER_ID``.

    :param settings: The ``PDFQUEUE_DRIVE_*`` keys; the credentials are read and checked
        here, so a wrong setting stops the app at start.
    :param sleep: How backoff waits (tests record it instead).
    """

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.auth = DriveAuth.from_settings(settings)
        self.folder_id = settings.drive_folder_id.strip()
        self.share = settings.drive_share
        self.timeout = settings.drive_timeout
        self.retries = settings.drive_retries
        self.chunk_size = settings.drive_chunk_size
        self._discovery = discovery_document(settings.drive_root_url)
        self._sleep = sleep
        self._judge = FailureJudge(self.auth, self.retries, self.share)
        self._local = threading.local()
        self._credentials: tuple[int, Credentials] | None = None

    # -- the Storage interface -------------------------------------------------------

    def local_path(self, key: str) -> None:
        """Drive files are not on this machine: :meth:`read` fetches them."""
        return None

    def read(self, key: str) -> bytes:
        """Download the file with the service's own credentials, so ``pdf_url`` gives the PDF
        to whoever has an API key, however ``PDFQUEUE_DRIVE_SHARE`` shares it."""
        try:
            content = (
                self.service()
                .files()
                .get_media(fileId=key, supportsAllDrives=True)
                .execute(num_retries=self.retries)
            )
        except DRIVE_ERRORS as exc:
            raise self.failure(exc, "download the PDF from Google Drive") from None
        return bytes(content)

    def delete(self, key: str) -> None:
        """Delete the file for good (not to the trash: its link must stop working)."""
        try:
            self.service().files().delete(fileId=key, supportsAllDrives=True).execute(
                num_retries=self.retries
            )
        except HttpError as exc:
            if exc.resp.status != 404:
                raise self.failure(exc, "delete the PDF from Google Drive") from None
        except AUTH_OR_TRANSIENT as exc:
            raise self.failure(exc, "delete the PDF from Google Drive") from None

    def ping(self) -> None:
        """Raise a ``JobFailure`` when Drive does not show the folder now (an outage probe)."""
        self.execute(
            "look at the PDF folder",
            lambda drive: drive.files().get(
                fileId=self.folder_id, fields="id", supportsAllDrives=True
            ),
        )

    def stored(self, job_id: str, key: str | None) -> bytes | None:
        """The file under the job's reserved id, if an upload made it (Drive creates a file
        only when its upload completes)."""
        if key is None:
            return None
        try:
            return self.read(key)
        except JobFailure:
            return None

    def save(self, job_id: str, pdf: bytes, filename: str) -> StoredPDF:
        """Upload under a newly reserved id (the store step keeps the id with the job)."""
        return self.save_as(self.reserve_key(job_id), job_id, pdf, filename)

    def reserve_key(self, job_id: str) -> str:
        """A file id from ``files.generateIds``: the name the job's PDF will have."""
        generated = self.execute(
            "reserve a Google Drive file id",
            lambda drive: drive.files().generateIds(count=1, space="drive", type="files"),
        )
        ids = generated.get("ids") or []
        if not ids:
            raise StorageError("Google Drive reserved no file id")
        return str(ids[0])

    def save_as(self, key: str, job_id: str, pdf: bytes, filename: str) -> StoredPDF:
        """Create the file ``key`` (or keep the one an earlier run made), share it, link it."""
        metadata = {
            "id": key,
            "name": filename,
            "mimeType": PDF_MIME,
            "parents": [self.folder_id],
            "appProperties": {JOB_PROPERTY: job_id},
        }
        file = self._upload(metadata, pdf)
        if file is None:
            file = self._earlier_upload(key, job_id)
        else:
            log.info(
                "job %s: PDF uploaded to Google Drive as file %s (%d bytes, sha256 %s)",
                job_id,
                key,
                len(pdf),
                hashlib.sha256(pdf).hexdigest(),
            )
        if self.share != "none":
            self._share(key)
        link = file.get("webViewLink") or self.execute(
            "read the PDF's Google Drive link",
            lambda drive: drive.files().get(
                fileId=key, fields="webViewLink", supportsAllDrives=True
            ),
        ).get("webViewLink")
        if not link:
            raise StorageError("Google Drive gave no link for the uploaded PDF")
        return StoredPDF(key=key, google_drive_link=str(link))

    # -- Drive calls -----------------------------------------------------------------

    def service(self) -> Any:
        """This process's and this thread's Drive service, built on first use."""
        local = self._local
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            local.service = build_from_document(
                self._discovery, http=AuthorizedHttp(self._process_credentials(), http=self._http())
            )
            local.pid = pid
        return local.service

    def fetch_token(self) -> None:
        """Get an access token now: the credentials' first real test (``drive-check``)."""
        try:
            self._process_credentials().refresh(GoogleAuthRequest(self._http()))  # type: ignore[no-untyped-call]
        except AUTH_OR_TRANSIENT as exc:
            raise self.failure(exc, "get a Google access token") from None

    def execute(
        self, action: str, make: Callable[[Any], Any], *, about: str = "PDFQUEUE_DRIVE_FOLDER_ID"
    ) -> dict[str, Any]:
        """Run one request (``make(service)``) with the library's own retries (5xx, 429,
        rate-limit 403s, connection errors) and turn what still fails into a JobFailure."""
        try:
            result = make(self.service()).execute(num_retries=self.retries)
        except DRIVE_ERRORS as exc:
            raise self.failure(exc, action, about=about) from None
        return result if isinstance(result, dict) else {}

    def failure(
        self, exc: BaseException, action: str, *, about: str = "PDFQUEUE_DRIVE_FOLDER_ID"
    ) -> JobFailure:
        """What a Drive error means for the job, in a sentence that names the fix."""
        log.warning("could not %s: %s", action, describe(exc))
        return self._judge.failure(exc, action, about=about)

    def _upload(self, metadata: dict[str, Any], pdf: bytes) -> dict[str, Any] | None:
        """Create the file with a resumable upload; None when its id is in use already."""
        request = self._create_request(metadata, pdf)
        failures = 0
        while True:
            try:
                _, file = request.next_chunk(num_retries=0)
            except HttpError as exc:
                status, reason, _ = http_error_details(exc)
                if status == 409:
                    return None
                if status in (404, 410) and request.resumable_uri is not None:
                    request = self._create_request(metadata, pdf)  # the session expired
                elif not is_transient(status, reason):
                    raise self.failure(exc, UPLOAD) from None
                last: BaseException = exc
            except RefreshError as exc:
                if not exc.retryable:
                    raise self.failure(exc, UPLOAD) from None
                last = exc
            except AUTH_OR_TRANSIENT as exc:
                last = exc
            else:
                if file is not None:
                    return dict(file)
                failures = 0  # a chunk went through: the next one gets every retry
                continue
            failures += 1
            if failures > self.retries:
                raise self.failure(last, UPLOAD) from None
            delay = min(2.0 ** (failures - 1), 32.0) * (0.5 + random.random() / 2)  # noqa: S311
            log.warning(
                "Google Drive upload of %s: %s; retry %d of %d in %.1f s",
                metadata["id"],
                describe(last),
                failures,
                self.retries,
                delay,
            )
            self._sleep(delay)

    def _create_request(self, metadata: dict[str, Any], pdf: bytes) -> Any:
        return (
            self.service()
            .files()
            .create(
                body=metadata,
                media_body=_PDFBytes(pdf, self.chunk_size),
                fields=FILE_FIELDS,
                supportsAllDrives=True,
            )
        )

    def _earlier_upload(self, key: str, job_id: str) -> dict[str, Any]:
        """The file an earlier run of this job created under ``key``, once checked."""
        file = self.execute(
            "check the PDF an earlier run uploaded",
            lambda drive: drive.files().get(fileId=key, fields=FILE_FIELDS, supportsAllDrives=True),
        )
        if (file.get("appProperties") or {}).get(JOB_PROPERTY) != job_id:
            raise StorageRejected(
                f"Google Drive file id {key} is taken by a file that is not this job's PDF"
            )
        if file.get("trashed"):
            raise StorageRejected(
                f"this job's PDF (Google Drive file {key}) is in the trash: restore it, or "
                "submit the report again"
            )
        log.info("job %s: keeping Google Drive file %s, uploaded by an earlier run", job_id, key)
        return file

    def _share(self, key: str) -> None:
        if self.share == "anyone":
            body = {"type": "anyone", "role": "reader", "allowFileDiscovery": False}
        else:
            domain = self.share.partition(":")[2]
            body = {
                "type": "domain",
                "domain": domain,
                "role": "reader",
                "allowFileDiscovery": False,
            }
        self.execute(
            "share the PDF",
            lambda drive: drive.permissions().create(
                fileId=key, body=body, fields="id", supportsAllDrives=True
            ),
            about="PDFQUEUE_DRIVE_SHARE",
        )

    def _http(self) -> httplib2.Http:
        """What ``googleapiclient.http.build_http`` makes, with our timeout: 308 is the
        resumable upload's "go on", not a redirect."""
        http = httplib2.Http(timeout=self.timeout)
        http.redirect_codes = http.redirect_codes - {308}
        return http

    def _process_credentials(self) -> Credentials:
        """One credentials object per process (threads may share it; processes may not)."""
        pid = os.getpid()
        if self._credentials is None or self._credentials[0] != pid:
            self._credentials = (pid, self.auth.credentials())
        return self._credentials[1]


class _PDFBytes(MediaIoBaseUpload):  # type: ignore[misc]
    """Resumable media read as bytes for each chunk, so a resend sends the same bytes."""

    def __init__(self, pdf: bytes, chunksize: int) -> None:
        super().__init__(io.BytesIO(pdf), mimetype=PDF_MIME, chunksize=chunksize, resumable=True)

    def has_stream(self) -> bool:
        return False


def discovery_document(root_url: str) -> str:
    """Drive v3's discovery document as shipped in google-api-python-client (no network),
    pointed at ``root_url`` when given: the only way that also moves the upload URLs
    (``client_options.api_endpoint`` keeps their https scheme and drops the path)."""
    text = get_static_doc("drive", "v3")
    if text is None:
        raise ConfigError(
            "google-api-python-client lacks its Drive v3 discovery document: reinstall "
            "flask-pdfqueue[drive]"
        )
    if not root_url:
        return str(text)
    doc = json.loads(text)
    doc["rootUrl"] = root_url.rstrip("/") + "/"
    doc["baseUrl"] = doc["rootUrl"] + doc["servicePath"]
    doc.pop("mtlsRootUrl", None)
    return json.dumps(doc)
