"""A Drive-compatible HTTP server for the tests, on 127.0.0.1, spoken to by the real
google-api-python-client and google-auth.

What it does as Google does (as far as the service depends on it):

- ``POST /token``: the JWT-bearer grant of service accounts, whose RS256 signature it
  verifies against the account's public key (and the ``sub`` claim against the
  domain-wide delegation granted to the account's client id), refresh-token grants of
  authorized users, and authorization-code grants (with PKCE) for ``drive-login``;
  ``GET /o/oauth2/auth`` consents at once and redirects to the loopback ``redirect_uri``.
- Drive v3: ``files.generateIds``; ``files.create`` as multipart upload, resumable upload
  (start, then ``PUT`` chunks answered ``308`` + ``Range``, ``bytes */N`` status queries)
  and metadata-only; a client-chosen id must have been generated here, and a second
  create with it is ``409``; ``files.get`` and ``about.get`` with ``fields``, and
  ``files.get`` with ``alt=media`` (the file's bytes);
  ``permissions.create``; ``files.delete``.
- Who sees what: access tokens expire and are checked; a folder in a shared drive needs
  ``supportsAllDrives=true`` and membership; a My Drive folder needs ownership or a share;
  with the ``drive.file`` scope only files created by the same OAuth client are visible; a
  service account without storage (made after 15 April 2025) gets Google's "Service
  Accounts do not have storage quota" 403 when it would own a file.

Faults are scripted per kind of request (:meth:`FakeDrive.inject`, :meth:`FakeDrive.hold`),
and every request is logged (:attr:`FakeDrive.requests`).
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DRIVE = "https://www.googleapis.com/auth/drive"
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"
GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
FOLDER = "application/vnd.google-apps.folder"
NO_QUOTA = (
    "Service Accounts do not have storage quota. Leverage shared drives "
    "(https://developers.google.com/workspace/drive/api/guides/about-shareddrives), or use "
    "OAuth delegation (http://support.google.com/a/answer/7281227) instead."
)
WRITERS = ("owner", "organizer", "fileOrganizer", "writer")
DELETERS = ("owner", "organizer", "fileOrganizer")


@dataclass
class ServiceAccount:
    email: str
    client_id: str
    key_id: str
    private_key_pem: str = field(repr=False)
    public_key: rsa.RSAPublicKey = field(repr=False)
    has_storage: bool = False
    #: Scopes an admin granted this client id through domain-wide delegation.
    delegated_scopes: set[str] = field(default_factory=set)


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class Identity:
    """Who a token speaks for."""

    email: str
    client_id: str
    scopes: frozenset[str]
    service_account: ServiceAccount | None = None  # set when the account itself acts

    @property
    def full_drive(self) -> bool:
        return DRIVE in self.scopes


@dataclass
class Item:
    """A file or a folder."""

    id: str
    name: str
    mime_type: str
    parents: list[str]
    drive_id: str | None = None
    owner: str | None = None  # My Drive items only
    created_by_client: str | None = None
    content: bytes = b""
    acl: dict[str, str] = field(default_factory=dict)  # email -> role
    app_properties: dict[str, dict[str, str]] = field(default_factory=dict)  # per client id
    permissions: list[dict[str, Any]] = field(default_factory=list)
    trashed: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class SharedDrive:
    id: str
    name: str
    members: dict[str, str]  # email -> organizer | fileOrganizer | writer | commenter | reader


@dataclass
class Fault:
    kind: str
    status: int | None = 503
    times: int = 1
    offset: int | None = None  # chunk faults: only the chunk starting there
    reason: str | None = None
    message: str | None = None
    stall: float | None = None  # read the request, then go silent this long and hang up
    hold: threading.Event | None = None  # wait for the test to release it, then go on


@dataclass
class Logged:
    """One request, logged on arrival; ``status`` is 0 while unanswered, or if never."""

    method: str
    kind: str
    path: str
    query: dict[str, str]
    status: int = 0
    offset: int | None = None
    length: int = 0


@dataclass
class _Session:
    identity: Identity
    metadata: dict[str, Any]
    total: int
    query: dict[str, str]
    received: bytearray = field(default_factory=bytearray)
    file_id: str | None = None


class _Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class _HangUp(Exception):
    """Answer nothing: the connection is closed (a stalled or dropped request)."""


def drive_error(status: int, reason: str, message: str) -> _Reply:
    """Drive v3's error body, as google-api-python-client parses it."""
    return _Reply(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
            }
        },
    )


def oauth_error(status: int, error: str, description: str) -> _Reply:
    return _Reply(status, {"error": error, "error_description": description})


class FakeDrive:
    """The server and its state; use as a context manager, or :meth:`start` / :meth:`stop`."""

    def __init__(self, *, token_lifetime: int = 3600) -> None:
        self.token_lifetime = token_lifetime
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.workspace_users: set[str] = set()
        self.clients: dict[str, OAuthClient] = {}
        self.refresh_tokens: dict[str, tuple[str, str, frozenset[str]]] = {}  # client, user
        self.login_as = "someone@gmail.test"  # who consents at /o/oauth2/auth
        self.items: dict[str, Item] = {}
        self.drives: dict[str, SharedDrive] = {}
        self.reserved_ids: set[str] = set()
        self.requests: list[Logged] = []
        self.issued_tokens: list[str] = []
        self._tokens: dict[str, tuple[Identity, float]] = {}
        self._codes: dict[str, dict[str, str]] = {}
        self._sessions: dict[str, _Session] = {}
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- running ---------------------------------------------------------------------

    def start(self) -> FakeDrive:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, name="fake-drive", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            for fault in self._faults:
                if fault.hold is not None:
                    fault.hold.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeDrive:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    @property
    def auth_uri(self) -> str:
        return self.url + "/o/oauth2/auth"

    # -- the world -------------------------------------------------------------------

    def add_service_account(
        self, name: str = "pdfqueue", *, has_storage: bool = False
    ) -> ServiceAccount:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        account = ServiceAccount(
            email=f"{name}@pdfqueue-test.iam.gserviceaccount.com",
            client_id=str(100000000000000000000 + len(self.service_accounts) + 1),
            key_id=secrets.token_hex(20),
            private_key_pem=pem,
            public_key=key.public_key(),
            has_storage=has_storage,
        )
        self.service_accounts[account.email] = account
        return account

    def key_file(self, account: ServiceAccount) -> dict[str, str]:
        """The JSON key Google's console would download, pointing at this server."""
        return {
            "type": "service_account",
            "project_id": "pdfqueue-test",
            "private_key_id": account.key_id,
            "private_key": account.private_key_pem,
            "client_email": account.email,
            "client_id": account.client_id,
            "auth_uri": self.auth_uri,
            "token_uri": self.token_uri,
        }

    def add_oauth_client(self) -> OAuthClient:
        client = OAuthClient(
            client_id=f"{secrets.token_hex(6)}.apps.googleusercontent.test",
            client_secret="GOCSPX-" + secrets.token_urlsafe(20),
        )
        self.clients[client.client_id] = client
        return client

    def client_secrets_file(self, client: OAuthClient) -> dict[str, Any]:
        """A Desktop app's client_secret_….json, pointing at this server."""
        return {
            "installed": {
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
                "redirect_uris": ["http://localhost"],
            }
        }

    def add_refresh_token(self, client: OAuthClient, user: str, scopes: set[str]) -> str:
        token = "1//0" + secrets.token_urlsafe(40)
        self.refresh_tokens[token] = (client.client_id, user, frozenset(scopes))
        return token

    def authorized_user_file(self, client: OAuthClient, refresh_token: str) -> dict[str, str]:
        return {
            "type": "authorized_user",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "refresh_token": refresh_token,
            "token_uri": self.token_uri,
        }

    def add_shared_drive(self, name: str, members: dict[str, str]) -> SharedDrive:
        shared = SharedDrive(id="0A" + secrets.token_urlsafe(14), name=name, members=dict(members))
        self.drives[shared.id] = shared
        root = Item(id=shared.id, name=name, mime_type=FOLDER, parents=[], drive_id=shared.id)
        self.items[root.id] = root
        return shared

    def add_folder(
        self,
        name: str,
        *,
        drive: SharedDrive | None = None,
        owner: str | None = None,
        shared_with: dict[str, str] | None = None,
        created_by_client: str | None = None,
    ) -> Item:
        """A folder made by a person in Drive's web UI, or by an app (``created_by_client``)."""
        folder = Item(
            id="1" + secrets.token_urlsafe(24),
            name=name,
            mime_type=FOLDER,
            parents=[drive.id] if drive else [],
            drive_id=drive.id if drive else None,
            owner=None if drive else (owner or "owner@example.test"),
            created_by_client=created_by_client,
            acl=dict(shared_with or {}),
        )
        self.items[folder.id] = folder
        return folder

    def files_in(self, folder_id: str) -> list[Item]:
        with self._lock:
            return [
                i for i in self.items.values() if folder_id in i.parents and i.mime_type != FOLDER
            ]

    # -- scripting -------------------------------------------------------------------

    def inject(self, kind: str, status: int | None = 503, **options: Any) -> Fault:
        """Fail the next request(s) of ``kind`` (token, generateIds, create, chunk, status,
        get, permission, delete, about, authorize)."""
        fault = Fault(kind, status, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def hold(self, kind: str, times: int = 1) -> threading.Event:
        """Keep the next request(s) of ``kind`` waiting until the event is set."""
        release = threading.Event()
        self.inject(kind, None, times=times, hold=release)
        return release

    def clear_faults(self) -> None:
        """Forget faults no request used (each test scripts its own)."""
        with self._lock:
            for fault in self._faults:
                if fault.hold is not None:
                    fault.hold.set()
            self._faults.clear()

    def expire_tokens(self) -> None:
        """Every access token stops working now (a refresh gets a new one)."""
        with self._lock:
            self._tokens.clear()

    def log_of(self, *kinds: str) -> list[Logged]:
        with self._lock:
            return [r for r in self.requests if not kinds or r.kind in kinds]

    def _fault_for(self, kind: str, offset: int | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind != kind or fault.times <= 0:
                    continue
                if fault.offset is not None and fault.offset != offset:
                    continue
                fault.times -= 1
                return fault
        return None

    # -- dispatch --------------------------------------------------------------------

    def handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        query = dict(parse_qsl(split.query))
        method, path = handler.command, split.path
        kind, offset = self._classify(method, path, handler, query)
        length = int(handler.headers.get("Content-Length") or 0)
        logged = Logged(method, kind, path, query, 0, offset, length)
        with self._lock:
            self.requests.append(logged)
        try:
            fault = self._fault_for(kind, offset)
            if fault is not None:
                self._apply(fault, handler, kind)
            raise self._route(kind, method, path, query, handler)
        except _Reply as reply:
            logged.status = reply.status
            handler.reply(reply.status, reply.body, reply.headers)
        except _HangUp:
            handler.close_connection = True

    def _classify(
        self, method: str, path: str, handler: _Handler, query: dict[str, str]
    ) -> tuple[str, int | None]:
        if path == "/token":
            return "token", None
        if path == "/o/oauth2/auth":
            return "authorize", None
        if path == "/upload/drive/v3/files" and method == "PUT":
            crange = handler.headers.get("Content-Range", "")
            if crange.startswith("bytes */"):
                return "status", None
            try:
                return "chunk", int(crange.split()[1].split("-")[0])
            except (IndexError, ValueError):
                return "chunk", None
        if path in ("/upload/drive/v3/files", "/drive/v3/files") and method == "POST":
            return "create", None
        if path == "/drive/v3/files/generateIds":
            return "generateIds", None
        if path == "/drive/v3/about":
            return "about", None
        if path.startswith("/drive/v3/files/") and path.endswith("/permissions"):
            return "permission", None
        if path.startswith("/drive/v3/files/"):
            if method == "GET" and query.get("alt") == "media":
                return "media", None
            return {"GET": "get", "DELETE": "delete"}.get(method, "other"), None
        return "other", None

    def _apply(self, fault: Fault, handler: _Handler, kind: str) -> None:
        if fault.hold is not None:
            fault.hold.wait(timeout=120)
            return
        if fault.stall is not None:
            handler.body()  # the request arrived whole; the answer never comes
            time.sleep(fault.stall)
            raise _HangUp
        handler.body()  # a failed chunk is not kept
        status = fault.status or 503
        if kind in ("token",):
            raise oauth_error(status, fault.reason or "internal_failure", fault.message or "")
        if status == 401:
            self._revoke(handler)
            raise drive_error(401, "authError", "Request had invalid authentication credentials.")
        reason = fault.reason or {429: "rateLimitExceeded", 500: "backendError"}.get(status, "")
        raise drive_error(status, reason or "backendError", fault.message or f"injected {status}")

    def _route(
        self, kind: str, method: str, path: str, query: dict[str, str], handler: _Handler
    ) -> _Reply:
        if kind == "token":
            return self._token(dict(parse_qsl(handler.body().decode())))
        if kind == "authorize":
            return self._authorize(query)
        if kind in ("chunk", "status"):
            return self._put(query, handler)
        identity = self._identity(handler)
        if kind == "generateIds":
            return self._generate_ids(query)
        if kind == "about":
            user = {
                "kind": "drive#user",
                "emailAddress": identity.email,
                "displayName": identity.email,
            }
            return _Reply(200, _fields({"kind": "drive#about", "user": user}, query.get("fields")))
        if kind == "create":
            return self._create(identity, query, handler)
        file_id = path.removeprefix("/drive/v3/files/").removesuffix("/permissions")
        if kind == "get":
            item = self._visible(identity, file_id, query)
            return _Reply(200, self._resource(item, identity, query.get("fields")))
        if kind == "media":
            item = self._visible(identity, file_id, query)
            return _Reply(200, item.content, {"Content-Type": item.mime_type})
        if kind == "permission":
            return self._permission(identity, file_id, query, handler)
        if kind == "delete":
            return self._delete(identity, file_id, query)
        return drive_error(404, "notFound", f"Not found: {method} {path}")

    # -- OAuth -----------------------------------------------------------------------

    def _token(self, form: dict[str, str]) -> _Reply:
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            identity = self._jwt_identity(form.get("assertion", ""))
        elif grant == "refresh_token":
            identity = self._refresh_identity(form)
        elif grant == "authorization_code":
            return self._code_grant(form)
        else:
            raise oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        body = self._issue(identity)
        if grant == "refresh_token":
            body["scope"] = " ".join(sorted(identity.scopes))
        return _Reply(200, body)

    def _issue(self, identity: Identity) -> dict[str, Any]:
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (identity, time.time() + self.token_lifetime)
            self.issued_tokens.append(token)
        return {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}

    def _jwt_identity(self, assertion: str) -> Identity:
        try:
            head64, body64, sig64 = assertion.split(".")
            header = json.loads(_unb64(head64))
            claims = json.loads(_unb64(body64))
        except ValueError:
            raise oauth_error(400, "invalid_grant", "Invalid JWT: malformed") from None
        account = self.service_accounts.get(str(claims.get("iss")))
        if account is None or header.get("kid") != account.key_id or header.get("alg") != "RS256":
            raise oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            account.public_key.verify(
                _unb64(sig64), f"{head64}.{body64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise oauth_error(400, "invalid_grant", "Invalid JWT Signature.") from None
        now = time.time()
        # google-auth always signs for Google's token URL, whatever token_uri says.
        if claims.get("aud") not in (GOOGLE_TOKEN_AUD, self.token_uri):
            raise oauth_error(400, "invalid_grant", "Invalid JWT: aud")
        if not claims.get("iat", now + 1e9) - 300 <= now <= claims.get("exp", 0) or (
            claims["exp"] - claims["iat"] > 3600
        ):
            raise oauth_error(
                400, "invalid_grant", "Invalid JWT: Token must be a short-lived token"
            )
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            raise oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience")
        subject = claims.get("sub")
        if subject and subject != account.email:
            if not scopes <= account.delegated_scopes:
                raise oauth_error(
                    401,
                    "unauthorized_client",
                    "Client is unauthorized to retrieve access tokens using this method, or "
                    "client not authorized for any of the scopes requested.",
                )
            if subject not in self.workspace_users:
                raise oauth_error(400, "invalid_grant", "Invalid email or User ID")
            return Identity(subject, account.client_id, scopes)
        return Identity(account.email, account.client_id, scopes, service_account=account)

    def _refresh_identity(self, form: dict[str, str]) -> Identity:
        client = self.clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(
            client.client_secret, form.get("client_secret", "")
        ):
            raise oauth_error(401, "invalid_client", "The OAuth client was not found.")
        grant = self.refresh_tokens.get(form.get("refresh_token", ""))
        if grant is None or grant[0] != client.client_id:
            raise oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        asked = frozenset(form.get("scope", "").split()) or grant[2]
        if not asked <= grant[2]:
            raise oauth_error(400, "invalid_scope", "Bad Request")
        return Identity(grant[1], client.client_id, asked)

    def _authorize(self, query: dict[str, str]) -> _Reply:
        client = self.clients.get(query.get("client_id", ""))
        redirect = query.get("redirect_uri", "")
        if client is None or not redirect.startswith(("http://127.0.0.1:", "http://localhost:")):
            return _Reply(400, {"error": "invalid_request"})
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return _Reply(400, {"error": "invalid_request"})
        code = "4/0" + secrets.token_urlsafe(30)
        with self._lock:
            self._codes[code] = {**query, "user": self.login_as}
        answer = {"code": code, "scope": query.get("scope", ""), "state": query.get("state", "")}
        return _Reply(302, b"", {"Location": f"{redirect}?{urlencode(answer)}"})

    def _code_grant(self, form: dict[str, str]) -> _Reply:
        with self._lock:
            asked = self._codes.pop(form.get("code", ""), None)
        client = self.clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(
            client.client_secret, form.get("client_secret", "")
        ):
            raise oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if asked is None or asked["client_id"] != client.client_id:
            raise oauth_error(400, "invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != asked["redirect_uri"]:
            raise oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
            b"="
        )
        if challenge.decode() != asked.get("code_challenge"):
            raise oauth_error(400, "invalid_grant", "Missing code verifier.")
        scopes = frozenset(asked.get("scope", "").split())
        refresh = self.add_refresh_token(client, asked["user"], set(scopes))
        body = self._issue(Identity(asked["user"], client.client_id, scopes))
        body.update(refresh_token=refresh, scope=" ".join(sorted(scopes)))
        return _Reply(200, body)

    def _identity(self, handler: _Handler) -> Identity:
        header = handler.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        with self._lock:
            found = self._tokens.get(token)
        if not header.startswith("Bearer ") or found is None or found[1] < time.time():
            raise drive_error(401, "authError", "Request had invalid authentication credentials.")
        identity = found[0]
        if not identity.scopes & {DRIVE, DRIVE_FILE}:
            raise drive_error(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        return identity

    def _revoke(self, handler: _Handler) -> None:
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        with self._lock:
            self._tokens.pop(token, None)

    # -- Drive -----------------------------------------------------------------------

    def _generate_ids(self, query: dict[str, str]) -> _Reply:
        count = int(query.get("count", "10"))
        if not 1 <= count <= 1000 or query.get("space", "drive") != "drive":
            raise drive_error(400, "invalid", "Invalid Value")
        ids = ["1" + secrets.token_urlsafe(24) for _ in range(count)]
        with self._lock:
            self.reserved_ids.update(ids)
        return _Reply(200, {"kind": "drive#generatedIds", "space": "drive", "ids": ids})

    def _visible(self, identity: Identity, file_id: str, query: dict[str, str]) -> Item:
        item = self.items.get(file_id)
        if item is None or not self._sees(identity, item, query):
            raise drive_error(404, "notFound", f"File not found: {file_id}.")
        return item

    def _sees(self, identity: Identity, item: Item, query: dict[str, str]) -> bool:
        mine = item.created_by_client == identity.client_id or item.id in self.drives
        if not identity.full_drive and not mine:
            return False  # drive.file: only what this app created (and shared drives' roots)
        return self._role(identity, item, query) is not None

    def _role(self, identity: Identity, item: Item, query: dict[str, str]) -> str | None:
        if item.drive_id is not None:
            if query.get("supportsAllDrives") != "true":
                return None
            return self.drives[item.drive_id].members.get(identity.email)
        node: Item | None = item
        while node is not None:
            if node.owner == identity.email:
                return "owner"
            if identity.email in node.acl:
                return node.acl[identity.email]
            node = self.items.get(node.parents[0]) if node.parents else None
        return None

    def _create(self, identity: Identity, query: dict[str, str], handler: _Handler) -> _Reply:
        upload = query.get("uploadType")
        raw = handler.body()
        content = b""
        if upload == "multipart":
            metadata, content = _multipart(handler.headers.get("Content-Type", ""), raw)
        else:
            metadata = json.loads(raw or b"{}")
        if upload == "resumable":
            self._check_create(identity, metadata, query)
            total = int(handler.headers.get("X-Upload-Content-Length", "-1"))
            session_id = secrets.token_urlsafe(24)
            with self._lock:
                self._sessions[session_id] = _Session(identity, metadata, total, query)
            location = f"{self.url}/upload/drive/v3/files?" + urlencode(
                {"uploadType": "resumable", "upload_id": session_id}
            )
            return _Reply(200, b"", {"Location": location})
        item = self._commit(identity, metadata, content, query)
        return _Reply(200, self._resource(item, identity, query.get("fields")))

    def _put(self, query: dict[str, str], handler: _Handler) -> _Reply:
        with self._lock:
            session = self._sessions.get(query.get("upload_id", ""))
        if session is None:
            raise drive_error(404, "notFound", "No such upload session.")
        if "Authorization" in handler.headers:
            self._identity(handler)  # a stale token is refused here too
        crange = handler.headers.get("Content-Range", "")
        expected = int(handler.headers.get("Content-Length") or 0)
        data = handler.body()
        if len(data) < expected:
            raise _HangUp  # the client stopped sending (an empty resend): nothing kept
        if not crange.startswith("bytes */"):
            first = int(crange.split()[1].split("-")[0])
            with self._lock:
                if first > len(session.received):
                    raise drive_error(400, "badContent", "Chunk starts past what was received.")
                session.received.extend(data[len(session.received) - first :])
        with self._lock:
            done = session.file_id is not None
            if not done and len(session.received) >= session.total:
                item = self._commit(
                    session.identity, session.metadata, bytes(session.received), session.query
                )
                session.file_id = item.id
        if session.file_id is not None:
            item = self.items[session.file_id]
            return _Reply(200, self._resource(item, session.identity, session.query.get("fields")))
        headers = {"Range": f"bytes=0-{len(session.received) - 1}"} if session.received else {}
        return _Reply(308, b"", headers)

    def _check_create(
        self, identity: Identity, metadata: dict[str, Any], query: dict[str, str]
    ) -> Item | None:
        parents = metadata.get("parents") or []
        parent = self._visible(identity, parents[0], query) if parents else None
        if parent is not None and parent.mime_type != FOLDER:
            raise drive_error(400, "badRequest", "The specified parent is not a folder.")
        if parent is not None and self._role(identity, parent, query) not in WRITERS:
            raise drive_error(
                403,
                "insufficientFilePermissions",
                "The user does not have sufficient permissions for this file.",
            )
        wanted = metadata.get("id")
        if wanted is not None:
            if wanted in self.items:
                raise drive_error(409, "fileIdInUse", "A file already exists with the provided ID.")
            if wanted not in self.reserved_ids:
                raise drive_error(400, "fileIdNotUsable", "The provided file ID is not usable.")
        in_my_drive = parent is None or parent.drive_id is None
        account = identity.service_account
        if (
            in_my_drive
            and metadata.get("mimeType") != FOLDER
            and account
            and not account.has_storage
        ):
            raise drive_error(403, "storageQuotaExceeded", NO_QUOTA)
        return parent

    def _commit(
        self, identity: Identity, metadata: dict[str, Any], content: bytes, query: dict[str, str]
    ) -> Item:
        with self._lock:
            parent = self._check_create(identity, metadata, query)
            item = Item(
                id=metadata.get("id") or "1" + secrets.token_urlsafe(24),
                name=str(metadata.get("name") or "Untitled"),
                mime_type=str(metadata.get("mimeType") or "application/octet-stream"),
                parents=[parent.id] if parent else [],
                drive_id=parent.drive_id if parent else None,
                owner=None if parent and parent.drive_id else identity.email,
                created_by_client=identity.client_id,
                content=content,
            )
            if metadata.get("appProperties"):
                item.app_properties[identity.client_id] = dict(metadata["appProperties"])
            self.items[item.id] = item
        return item

    def _permission(
        self, identity: Identity, file_id: str, query: dict[str, str], handler: _Handler
    ) -> _Reply:
        item = self._visible(identity, file_id, query)
        if self._role(identity, item, query) not in WRITERS:
            raise drive_error(
                403,
                "insufficientFilePermissions",
                "The user does not have sufficient permissions for this file.",
            )
        body = json.loads(handler.body() or b"{}")
        kind, role = body.get("type"), body.get("role")
        if kind not in ("user", "group", "domain", "anyone") or role not in (
            "reader",
            "commenter",
            "writer",
        ):
            raise drive_error(400, "invalid", "Invalid permission type or role.")
        if kind == "domain" and not body.get("domain"):
            raise drive_error(400, "required", "The domain must be set for a domain permission.")
        ident = (
            "anyoneWithLink"
            if kind == "anyone"
            else f"{kind}:{body.get('domain') or body.get('emailAddress')}"
        )
        with self._lock:
            if not any(p["id"] == ident for p in item.permissions):
                item.permissions.append({**body, "id": ident})
        return _Reply(
            200,
            _fields(
                {"kind": "drive#permission", "id": ident, "type": kind, "role": role},
                query.get("fields"),
            ),
        )

    def _delete(self, identity: Identity, file_id: str, query: dict[str, str]) -> _Reply:
        item = self._visible(identity, file_id, query)
        if self._role(identity, item, query) not in DELETERS:
            raise drive_error(
                403,
                "insufficientFilePermissions",
                "The user does not have sufficient permissions for this file.",
            )
        with self._lock:
            del self.items[file_id]
        return _Reply(204, b"")

    def _resource(self, item: Item, identity: Identity, fields: str | None) -> dict[str, Any]:
        role = self._role(identity, item, {"supportsAllDrives": "true"})
        resource: dict[str, Any] = {
            "kind": "drive#file",
            "id": item.id,
            "name": item.name,
            "mimeType": item.mime_type,
            "parents": item.parents,
            "trashed": item.trashed,
            "webViewLink": (
                f"https://drive.google.com/drive/folders/{item.id}"
                if item.mime_type == FOLDER
                else f"https://drive.google.com/file/d/{item.id}/view?usp=drivesdk"
            ),
            "capabilities": {"canAddChildren": item.mime_type == FOLDER and role in WRITERS},
        }
        if item.mime_type != FOLDER:
            resource["size"] = str(len(item.content))
            resource["md5Checksum"] = hashlib.md5(item.content).hexdigest()  # noqa: S324
        if item.drive_id:
            resource["driveId"] = item.drive_id
        if identity.client_id in item.app_properties:
            resource["appProperties"] = item.app_properties[identity.client_id]
        return _fields(resource, fields or "kind,id,name,mimeType")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else Nagle and delayed ACKs add ~40 ms a request
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    _body: bytes | None = None  # of the request being handled (one handler serves many)

    def body(self) -> bytes:
        if self._body is None:
            length = int(self.headers.get("Content-Length") or 0)
            self._body = self.rfile.read(length) if length else b""
        return self._body

    def reply(self, status: int, body: Any, headers: dict[str, str]) -> None:
        self.body()  # drain what the client sent, for keep-alive
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def _dispatch(self) -> None:
        fake: FakeDrive = self.server.fake  # type: ignore[attr-defined]
        self._body = None
        try:
            fake.handle(self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], bytes]:
    """The metadata and the media of a ``multipart/related`` upload."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    parts = list(message.iter_parts())
    if len(parts) != 2:
        raise drive_error(400, "badMultipart", "Expected metadata and media parts.")
    metadata = json.loads(cast(bytes, parts[0].get_payload(decode=True)) or b"{}")
    return metadata, cast(bytes, parts[1].get_payload(decode=True)) or b""


def _fields(resource: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """``resource`` cut down to a ``fields`` selector such as ``id,user(emailAddress)``."""
    if not fields or fields == "*":
        return resource
    chosen: dict[str, Any] = {}
    for name, inner in _parse_fields(fields):
        if name in resource:
            value = resource[name]
            chosen[name] = _fields(value, inner) if inner and isinstance(value, dict) else value
    return chosen


def _parse_fields(fields: str) -> Iterator[tuple[str, str | None]]:
    depth, start = 0, 0
    for i, char in enumerate(fields + ","):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            part = fields[start:i].strip()
            start = i + 1
            if part:
                name, _, inner = part.partition("(")
                yield name.strip(), inner[:-1] if inner else None
