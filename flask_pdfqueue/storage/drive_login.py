"""``flask pdfqueue drive-login``: an authorized user's refresh token, for personal accounts.

Google's flow for installed apps, as Google documents it: the user signs in in a
browser, Google redirects to a loopback address (``http://127.0.0.1:<port>/``) with a
code, and the code (with its PKCE verifier) is exchanged for a refresh token. The
token is written, with the OAuth client's id and secret, as an ``authorized_user``
JSON file (mode 0600), which ``PDFQUEUE_DRIVE_AUTH=oauth_user`` reads. The old
copy-a-code ("out of band") flow no longer exists; on a server without a browser,
open the address on another machine and paste back the address the browser ends on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httplib2

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)


class LoginError(Exception):
    """The sign-in did not produce a token; the message says why and what to do."""


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth client of type Desktop app (its ``client_secret_….json``)."""

    client_id: str
    client_secret: str = field(repr=False)
    auth_uri: str = GOOGLE_AUTH_URI
    token_uri: str = GOOGLE_TOKEN_URI

    @classmethod
    def from_file(cls, path: Path) -> OAuthClient:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LoginError(
                f"cannot read the OAuth client file {path} ({type(exc).__name__})"
            ) from None
        section = data.get("installed") or data.get("web") if isinstance(data, dict) else None
        if not isinstance(section, dict) or not section.get("client_id"):
            raise LoginError(
                f"{path} is not an OAuth client file: in the Google Cloud console, Clients > "
                "Create client > Desktop app, then download its JSON"
            )
        if "web" in data:
            raise LoginError(
                f"{path} is a Web application client: create a Desktop app client instead "
                "(it may redirect to any loopback port)"
            )
        return cls(
            client_id=str(section["client_id"]),
            client_secret=str(section.get("client_secret", "")),
            auth_uri=str(section.get("auth_uri") or GOOGLE_AUTH_URI),
            token_uri=str(section.get("token_uri") or GOOGLE_TOKEN_URI),
        )


@dataclass
class LoginRequest:
    """One sign-in: where to send the user, and what must come back."""

    client: OAuthClient
    scope: str
    redirect_uri: str
    state: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(64), repr=False)

    @property
    def url(self) -> str:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest())
        query = {
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": self.scope,
            "state": self.state,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "access_type": "offline",  # a refresh token, not only an access token
            "prompt": "consent",  # a refresh token even when the user consented before
        }
        return f"{self.client.auth_uri}?{urlencode(query)}"

    def code_from(self, redirected_to: str) -> str:
        """The code in the address Google redirected the browser to (pasted, or received)."""
        answer = dict(parse_qsl(urlsplit(redirected_to.strip()).query))
        if "error" in answer:
            raise LoginError(f"Google refused the sign-in: {answer['error']}")
        if answer.get("state") != self.state:
            raise LoginError("the answer does not belong to this sign-in (its state differs)")
        if not answer.get("code"):
            raise LoginError("the address has no code: paste the whole address the browser shows")
        return answer["code"]

    def exchange(self, code: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """The token endpoint's answer to the code: it holds the refresh token."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self.client.client_id,
            "client_secret": self.client.client_secret,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
        }
        try:
            response, content = httplib2.Http(timeout=timeout).request(
                self.client.token_uri,
                "POST",
                body=urlencode(form),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            answer = json.loads(content)
        except (OSError, httplib2.HttpLib2Error, ValueError) as exc:
            raise LoginError(f"the token endpoint did not answer ({type(exc).__name__})") from None
        if response.status != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise LoginError(f"the token endpoint refused the code ({error or response.status})")
        if not answer.get("refresh_token"):
            raise LoginError(
                "Google returned no refresh token: remove the app's access at "
                "https://myaccount.google.com/permissions and run drive-login again"
            )
        granted = set(str(answer.get("scope", self.scope)).split())
        if self.scope not in granted:
            raise LoginError(
                f"the sign-in did not grant {self.scope}: tick the Drive box on Google's "
                "consent page"
            )
        return answer

    def authorized_user(self, answer: dict[str, Any]) -> dict[str, str]:
        """The ``authorized_user`` file google-auth reads (no access token: it expires)."""
        return {
            "type": "authorized_user",
            "client_id": self.client.client_id,
            "client_secret": self.client.client_secret,
            "refresh_token": str(answer["refresh_token"]),
            "token_uri": self.client.token_uri,
            "scopes": self.scope,
        }


class LoopbackReceiver:
    """Waits on ``127.0.0.1:<port>`` for the browser's redirect, once."""

    def __init__(self, port: int = 0) -> None:
        self.redirected_to: str | None = None
        self._arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if "code=" in self.path or "error=" in self.path:
                    receiver.redirected_to = "http://127.0.0.1" + self.path
                    receiver._arrived.set()
                page = b"<p>flask-pdfqueue: sign-in received. You may close this window.</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the address carries the code."""

        self._server = HTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def wait(self, timeout: float) -> str:
        if not self._arrived.wait(timeout):
            raise LoginError(f"no sign-in arrived within {timeout:.0f} s")
        assert self.redirected_to is not None
        return self.redirected_to

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` with mode 0600, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
