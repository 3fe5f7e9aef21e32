"""Who uploads to Google Drive: the three ways people get Drive uploads to work.

``PDFQUEUE_DRIVE_AUTH`` picks one:

- ``service_account``: a service account's key; the folder must be in a shared drive
  the account is a member of (service accounts made after 15 April 2025 own no files,
  so they cannot upload into anyone's My Drive);
- ``delegated``: the same key, with domain-wide delegation, acting as the Workspace
  user ``PDFQUEUE_DRIVE_SUBJECT`` (the files belong to that user);
- ``oauth_user``: an authorized user's refresh token (personal Google accounts), the
  file ``flask pdfqueue drive-login`` writes.

``PDFQUEUE_DRIVE_CREDENTIALS`` is the path of the JSON file, or the JSON itself. It is
read and checked when the app starts, so a wrong file stops the service with a
message that names the key; no message ever quotes the file's content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from google.auth.credentials import Credentials
from google.auth.exceptions import GoogleAuthError, RefreshError
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from ..config.settings import ConfigError, Settings

SCOPE_URLS = {
    "drive.file": "https://www.googleapis.com/auth/drive.file",
    "drive": "https://www.googleapis.com/auth/drive",
}
KEY = "PDFQUEUE_DRIVE_CREDENTIALS"
MODES_THAT_WORK = (
    "a shared drive the service account is a member of (PDFQUEUE_DRIVE_AUTH=service_account, "
    "PDFQUEUE_DRIVE_FOLDER_ID a folder in that shared drive), domain-wide delegation "
    "(PDFQUEUE_DRIVE_AUTH=delegated acting as PDFQUEUE_DRIVE_SUBJECT), or a Google user's "
    "own token (PDFQUEUE_DRIVE_AUTH=oauth_user, made by `flask pdfqueue drive-login`)"
)


@dataclass(frozen=True)
class DriveAuth:
    """The checked credentials of one ``PDFQUEUE_DRIVE_AUTH`` mode; builds fresh
    google-auth credentials for each process that uploads."""

    mode: str
    scope: str
    info: dict[str, Any] = field(repr=False)
    subject: str = ""
    #: The authorized-user file's own token endpoint, honoured only next to a
    #: PDFQUEUE_DRIVE_ROOT_URL (google-auth otherwise always uses Google's, on purpose).
    user_token_uri: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> DriveAuth:
        """Read ``PDFQUEUE_DRIVE_CREDENTIALS`` and check it fits ``PDFQUEUE_DRIVE_AUTH``.

        :raises ConfigError: with the key to fix, never with the file's content.
        """
        info = read_credentials(settings.drive_credentials)
        auth = cls(
            mode=settings.drive_auth,
            scope=SCOPE_URLS[settings.drive_scope],
            info=info,
            subject=settings.drive_subject if settings.drive_auth == "delegated" else "",
            user_token_uri=str(info.get("token_uri") or "") if settings.drive_root_url else "",
        )
        auth._check()
        return auth

    @property
    def is_service_account(self) -> bool:
        return self.mode in ("service_account", "delegated")

    @property
    def account(self) -> str:
        """Who Drive sees, for messages (an email or a client id: never a secret)."""
        if self.mode == "delegated":
            return f"{self.subject} (through {self.info.get('client_email')})"
        if self.mode == "service_account":
            return str(self.info.get("client_email"))
        return "the signed-in Google user"

    @property
    def client_id(self) -> str:
        """The OAuth client id (a service account has one too: delegation is granted to it)."""
        return str(self.info.get("client_id", ""))

    def credentials(self) -> Credentials:
        """New google-auth credentials (no token yet) for ``PDFQUEUE_DRIVE_SCOPE``."""
        if self.is_service_account:
            account = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                self.info, scopes=[self.scope]
            )
            if self.subject:
                account = account.with_subject(self.subject)
            return cast(Credentials, account)
        user = user_credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            self.info, scopes=[self.scope]
        )
        if self.mode == "oauth_user" and self.user_token_uri:
            user = user.with_token_uri(self.user_token_uri)
        return cast(Credentials, user)

    def _check(self) -> None:
        info = self.info
        kind = info.get("type")
        if "installed" in info or "web" in info:
            raise ConfigError(
                f"{KEY} is an OAuth client file (client_secret_….json), not a token: run "
                "`flask pdfqueue drive-login --client-secrets <that file>` and point "
                f"{KEY} at the file it writes, with PDFQUEUE_DRIVE_AUTH=oauth_user"
            )
        if self.is_service_account:
            if kind == "authorized_user":
                raise ConfigError(
                    f"{KEY} holds a Google user's token, not a service-account key: set "
                    "PDFQUEUE_DRIVE_AUTH=oauth_user, or give a service account's JSON key"
                )
            if kind != "service_account":
                raise ConfigError(
                    f'{KEY} must be a service account\'s JSON key ("type": '
                    f'"service_account") with PDFQUEUE_DRIVE_AUTH={self.mode}'
                )
            _require(info, ("client_email", "private_key", "token_uri"), "service-account key")
        else:
            if kind == "service_account":
                raise ConfigError(
                    f"{KEY} is a service-account key: set PDFQUEUE_DRIVE_AUTH=service_account "
                    "or delegated, or give the file `flask pdfqueue drive-login` writes"
                )
            _require(
                info,
                ("client_id", "client_secret", "refresh_token"),
                "authorized-user file (`flask pdfqueue drive-login` writes one)",
            )
        try:
            self.credentials()
        except (ValueError, TypeError, GoogleAuthError) as exc:
            raise ConfigError(
                f"{KEY} could not be used ({type(exc).__name__}): is the private key complete? "
                "Download a new JSON key, or run `flask pdfqueue drive-login` again"
            ) from None


def read_credentials(value: str) -> dict[str, Any]:
    """The JSON object in ``value``, or in the file it names."""
    text = value.strip()
    if not text.startswith(("{", "[")):
        path = Path(text).expanduser()
        shown = text if len(text) < 300 and "\n" not in text else "the path given"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError(
                f"{KEY} must be the path of a JSON credentials file, or the JSON itself: "
                f"{shown} cannot be read ({reason})"
            ) from None
    try:
        info = json.loads(text)
    except ValueError as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ConfigError(f"{KEY} is not valid JSON{where}") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{KEY} must hold a JSON object")
    return info


def refresh_failure_hint(auth: DriveAuth, exc: RefreshError) -> str:
    """What a refused token request means in this mode, and what to do about it."""
    error, description = oauth_error(exc)
    said = f"{error}: {description}" if description else error
    if error == "unauthorized_client" and auth.mode == "delegated":
        return (
            f"domain-wide delegation is not granted ({said}): in the Google Admin console, "
            "Security > Access and data control > API controls > Domain-wide delegation, add "
            f"client id {auth.client_id} with scope {auth.scope}"
        )
    if error == "invalid_grant" and auth.mode == "oauth_user":
        return (
            f"the refresh token was revoked or has expired ({said}): run "
            "`flask pdfqueue drive-login` again (tokens of an OAuth app in Testing status "
            "expire after 7 days: publish the app to keep them)"
        )
    if error == "invalid_grant" and auth.subject and "invalid email" in description.lower():
        return f"PDFQUEUE_DRIVE_SUBJECT is not a user of the Workspace domain ({said})"
    if error == "invalid_grant":
        return (
            f"the service-account key was refused ({said}): the key may have been deleted, "
            "or this machine's clock is wrong; create a new key"
        )
    if error == "invalid_client":
        return f"the OAuth client was refused ({said}): check or recreate it"
    if error == "invalid_scope" or "scope" in description.lower():
        return (
            f"the credentials were not granted {auth.scope} ({said}): run "
            "`flask pdfqueue drive-login` with the same PDFQUEUE_DRIVE_SCOPE"
        )
    return f"the token request was refused ({said})"


def oauth_error(exc: RefreshError) -> tuple[str, str]:
    """The ``error`` and ``error_description`` of a token endpoint's refusal (no secrets)."""
    for arg in exc.args[1:]:
        if isinstance(arg, dict):
            return str(arg.get("error", "refused")), str(arg.get("error_description", ""))
    text = str(exc.args[0]) if exc.args else ""
    error, _, description = text.partition(":")
    return (error.strip() or "refused")[:80], description.strip()[:200]


def _require(info: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [key for key in keys if not info.get(key)]
    if missing:
        raise ConfigError(f"{KEY} is not a complete {what}: it lacks {', '.join(missing)}")
