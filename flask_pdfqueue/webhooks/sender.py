"""One POST of one webhook event, signed, to the address the callback guard checked.

Delivery follows no redirects and connects to the pinned address (no DNS
rebinding). The result says whether trying again may help, and for how long the
receiver asked us to wait (``Retry-After``).
"""

from __future__ import annotations

import email.utils
import http.client
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlunsplit

import urllib3
import urllib3.connection

from ..version import __version__
from .callback_urls import (
    CallbackRefused,
    UnresolvableHost,
    check_callback_url,
    resolve_for_delivery,
)
from .signing import signatures

#: Answers that mean "try again later" (SPEC §3); any other non-2xx is final.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
#: n8n's answer to a resume URL whose execution was already resumed or timed out.
N8N_FINISHED_MARKER = "has finished already"
#: How much of a refusal's body is read (and kept as its reason).
MAX_ANSWER_BYTES = 500
#: How an attempt's error starts when the whole request went out and no answer came back
#: in time: the receiver may have taken it (see :mod:`.dispatch`).
SENT_UNANSWERED = "sent, no answer in time"


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt went; ``retryable`` says whether trying again may help."""

    delivered: bool
    status: int | None
    retryable: bool
    error: str | None = None
    retry_after: float | None = None
    #: n8n's "has finished already": the execution this URL resumes is over.
    finished_already: bool = False


class WebhookSender:
    """Signs and POSTs webhook events, one attempt per call."""

    def __init__(
        self,
        *,
        secrets: Sequence[str],
        allowed_hosts: tuple[str, ...],
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self.secrets = tuple(secrets)
        self.allowed_hosts = allowed_hosts
        self.connect_timeout = connect_timeout
        self.read_timeout = timeout

    def deliver(
        self, url: str, webhook_id: str, body: bytes, *, traceparent: str | None = None
    ) -> DeliveryResult:
        """POST ``body`` once (with ``traceparent``, W3C trace context, when given)."""
        try:
            parts = check_callback_url(url, self.allowed_hosts)
            addresses = resolve_for_delivery(parts)
        except UnresolvableHost as exc:  # DNS hiccup, n8n restarting: worth another try
            return DeliveryResult(False, None, retryable=True, error=str(exc))
        except CallbackRefused as exc:
            return DeliveryResult(False, None, retryable=False, error=f"refused: {exc}")
        timestamp = int(time.time())
        headers = {
            "Host": parts.netloc,
            "Content-Type": "application/json",
            "User-Agent": f"flask-pdfqueue/{__version__}",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signatures(self.secrets, webhook_id, timestamp, body),
        }
        if traceparent is not None:
            headers["traceparent"] = traceparent
        # The target goes out byte for byte (n8n's resume URL, signature included): a
        # plain connection, since a connection pool would re-encode it.
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        error = "no address to connect to"
        for address in addresses:  # e.g. localhost: ::1, then 127.0.0.1
            conn = _connection_for(parts.scheme, address, parts.port, parts.hostname or "", self)
            try:
                try:
                    conn.connect()
                    # From now on the read timeout: urllib3 applies ``timeout`` to the socket
                    # again when the answer is read.
                    conn.timeout = self.read_timeout
                    conn.sock.settimeout(self.read_timeout)
                    conn.request("POST", target, body=body, headers=headers, preload_content=False)
                except urllib3.exceptions.NewConnectionError as exc:
                    error = _describe(exc)
                    continue  # nothing was sent; the next address may answer
                except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
                    return DeliveryResult(False, None, retryable=True, error=_describe(exc))
                try:
                    return _result_of(conn.getresponse())
                except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
                    error = f"{SENT_UNANSWERED}: {_describe(exc)}"
                    return DeliveryResult(False, None, retryable=True, error=error)
            finally:
                conn.close()
        return DeliveryResult(False, None, retryable=True, error=error)


def _describe(exc: Exception) -> str:
    """The error's kind and reason, without the URL (its query string is n8n's secret)."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "://" in text or "?" in text:
        text = "see the worker log"
    return f"{type(exc).__name__}: {text}"


def _result_of(response: urllib3.BaseHTTPResponse) -> DeliveryResult:
    """Success is any 2xx; n8n's "has finished already" and other 4xx are final."""
    status = response.status
    if 200 <= status < 300:
        return DeliveryResult(True, status, retryable=False)
    text = response.read(MAX_ANSWER_BYTES).decode("utf-8", "replace")
    if status == 409 and N8N_FINISHED_MARKER in text:
        return DeliveryResult(
            False, status, retryable=False, error=f"HTTP 409: {text}", finished_already=True
        )
    retryable = status in RETRYABLE_STATUSES or status >= 500
    return DeliveryResult(
        False,
        status,
        retryable=retryable,
        error=f"HTTP {status}: {text}",
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _connection_for(
    scheme: str, address: str, port: int | None, hostname: str, sender: WebhookSender
) -> urllib3.connection.HTTPConnection:
    """A connection to the pinned address, TLS still checked against the host name."""
    if scheme == "https":
        return urllib3.connection.HTTPSConnection(
            address,
            port or 443,
            timeout=sender.connect_timeout,
            server_hostname=hostname,
            assert_hostname=hostname,
        )
    return urllib3.connection.HTTPConnection(address, port or 80, timeout=sender.connect_timeout)
