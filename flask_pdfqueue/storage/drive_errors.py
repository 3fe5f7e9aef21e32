"""What a Google Drive error means for a job: retry it, or fail with a code and the fix.

- worth another try: 5xx, 408, 429, the rate-limit 403s, connections that failed or
  timed out, a token endpoint that did not answer (``storage_error``, retryable);
- ``storage_quota``: a service account without storage of its own ("Service Accounts
  do not have storage quota", n8n-io/n8n#26050), or a full Drive;
- ``storage_auth``: credentials refused (401, a refused token request), or an account
  that may not write to the folder (other 403s);
- ``storage_rejected``: 404 (a folder that is not there, or not visible), 400, other 4xx.

Messages reach n8n: they name the setting to fix and the account (an email), never a
token, a key or a server path.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass

import httplib2
from google.auth.exceptions import GoogleAuthError, RefreshError
from googleapiclient.errors import HttpError

from ..errors import JobFailure, StorageAuth, StorageError, StorageQuota, StorageRejected
from .drive_auth import MODES_THAT_WORK, DriveAuth, oauth_error, refresh_failure_hint

RATE_LIMIT_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "sharingRateLimitExceeded"}
)
QUOTA_REASONS = frozenset(
    {
        "storageQuotaExceeded",
        "quotaExceeded",
        "dailyLimitExceeded",
        "teamDriveFileLimitExceeded",
        "numChildrenInNonRootLimitExceeded",
    }
)
#: What a connection that failed, timed out or was cut raises through httplib2.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    http.client.HTTPException,
    httplib2.HttpLib2Error,
)
AUTH_OR_TRANSIENT: tuple[type[BaseException], ...] = (GoogleAuthError, *TRANSIENT_ERRORS)
DRIVE_ERRORS: tuple[type[BaseException], ...] = (HttpError, *AUTH_OR_TRANSIENT)
_NO_QUOTA = "do not have storage quota"


@dataclass(frozen=True)
class FailureJudge:
    """Turns Drive errors into job failures, with this setup's account in the sentence."""

    auth: DriveAuth
    retries: int
    share: str

    def failure(
        self, exc: BaseException, action: str, *, about: str = "PDFQUEUE_DRIVE_FOLDER_ID"
    ) -> JobFailure:
        """What ``exc``, met while trying to ``action``, means for the job."""
        if isinstance(exc, JobFailure):
            return exc
        if isinstance(exc, HttpError):
            return self._http_failure(exc, action, about)
        if isinstance(exc, RefreshError):
            if exc.retryable:
                error, _ = oauth_error(exc)
                return StorageError(f"could not {action}: Google's token endpoint failed ({error})")
            return StorageAuth(
                f"could not {action}: Google refused the credentials of {self.auth.account}: "
                + refresh_failure_hint(self.auth, exc)
            )
        if isinstance(exc, GoogleAuthError):  # TransportError: the token endpoint unreachable
            return StorageError(f"could not {action}: Google's token endpoint did not answer")
        return StorageError(f"could not {action}: Google Drive did not answer ({describe(exc)})")

    def _http_failure(self, exc: HttpError, action: str, about: str) -> JobFailure:
        status, reason, message = http_error_details(exc)
        said = f"HTTP {status}" + (f" {reason}" if reason else "")
        said += f" ({message})" if message else ""
        prefix = f"could not {action}: Google Drive answered {said}"
        account = self.auth.account
        if status == 403 and _NO_QUOTA in message.lower():
            return StorageQuota(
                f"could not {action}: service accounts have no Drive storage of their own "
                "(accounts made after 15 April 2025 cannot own files, so they cannot upload "
                f"into a My Drive folder); use {MODES_THAT_WORK}"
            )
        if status == 403 and reason in QUOTA_REASONS:
            return StorageQuota(
                f"{prefix}: the Drive of {account} has no room left; free space there, or "
                "use a shared drive"
            )
        if is_transient(status, reason):
            return StorageError(f"{prefix}, still after {self.retries} retries")
        if status == 401:
            return StorageAuth(
                f"{prefix}: the credentials of {account} were refused; check "
                "PDFQUEUE_DRIVE_CREDENTIALS"
            )
        if about == "PDFQUEUE_DRIVE_SHARE" and status in (400, 403):
            return StorageRejected(
                f"{prefix}: the file cannot be shared as PDFQUEUE_DRIVE_SHARE={self.share} "
                "asks (a shared drive may forbid sharing outside its domain)"
            )
        if status == 403:
            return StorageAuth(
                f"{prefix}: {account} may not write there; give it write access to the "
                "folder (Editor, or Content manager of the shared drive)"
            )
        if status == 404:
            return StorageRejected(
                f"{prefix}: check {about}, and that {account} can see the folder (shared "
                "with it, or in a shared drive it is a member of; with the drive.file scope, "
                "only folders this app created)"
            )
        return StorageRejected(f"{prefix}: check {about}")


def http_error_details(exc: HttpError) -> tuple[int, str, str]:
    """Status, first ``reason`` and Google's message (one line, shortened) of an error."""
    status = int(exc.resp.status)
    reason = message = ""
    try:
        error = json.loads(exc.content.decode("utf-8")).get("error")
    except (ValueError, AttributeError, UnicodeDecodeError):
        error = None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        details = error.get("errors") or []
        if details and isinstance(details[0], dict):
            reason = str(details[0].get("reason") or "")
        reason = reason or str(error.get("status") or "")
    elif isinstance(error, str):
        reason = error
    return status, reason, " ".join(message.split())[:300]


def is_transient(status: int, reason: str) -> bool:
    """Worth another try: what google-api-python-client retries, and a sharing rate limit."""
    return status >= 500 or status in (408, 429) or (status == 403 and reason in RATE_LIMIT_REASONS)


def describe(exc: BaseException) -> str:
    """An error in a few words, for logs: a status or a type, never a token or a URL."""
    if isinstance(exc, HttpError):
        status, reason, _ = http_error_details(exc)
        return f"HTTP {status} {reason}".strip()
    if isinstance(exc, RefreshError):
        return "token refused: " + oauth_error(exc)[0]
    return type(exc).__name__
