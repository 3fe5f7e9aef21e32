"""Terminal-event webhooks to n8n: payloads, Standard Webhooks signatures, delivery.

One event per job outcome. The ``webhook-id`` is derived from the job and the
outcome, so every attempt of one event carries the same id and receivers can
drop duplicates. Delivery follows no redirects and connects to the address the
callback guard checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlunsplit

import urllib3

from . import __version__
from .callbacks import (
    CallbackRefused,
    UnresolvableHost,
    check_callback_url,
    resolve_for_delivery,
)
from .records.sql import JobRecord
from .timestamps import iso_utc

log = logging.getLogger(__name__)

#: Answers that mean "try again later" (SPEC §3); any other non-2xx is final.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
#: n8n's answer to a resume URL whose execution was already resumed or timed out.
N8N_FINISHED_MARKER = "has finished already"


def success_payload(record: JobRecord) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "job_id": record.job_id,
        "status": "completed",
        "google_drive_link": record.google_drive_link,
        "pdf_url": record.pdf_url,
        "completed_at": iso_utc(record.completed_at),
        "code": record.code,
        "productId": record.product_id,
    }
    if record.metadata is not None:
        payload["metadata"] = record.metadata
    return payload


def failure_payload(record: JobRecord, *, retryable: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "job_id": record.job_id,
        "status": record.status,
        "error": record.error_message,
        "error_code": record.error_code,
        "retryable": retryable,
        "failed_at": iso_utc(record.completed_at),
        "retry_count": record.retry_count,
        "code": record.code,
        "productId": record.product_id,
    }
    if record.metadata is not None:
        payload["metadata"] = record.metadata
    return payload


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with a ``whsec_`` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, tolerance: int = 300) -> bool:
    """Check a received event's signature and timestamp, as a receiver should.

    ``headers`` must use lower-case names (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature``). Any of several space-separated signatures may match.
    """
    try:
        webhook_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        presented = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, webhook_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in presented)


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt went; ``retryable`` says whether trying again may help."""

    delivered: bool
    status: int | None
    retryable: bool
    error: str | None = None


class WebhookSender:
    """Signs and POSTs webhook events, one attempt per call."""

    def __init__(
        self,
        *,
        secret: str,
        allowed_hosts: tuple[str, ...],
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self.secret = secret
        self.allowed_hosts = allowed_hosts
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=timeout)

    def deliver(self, url: str, webhook_id: str, payload: dict[str, Any]) -> DeliveryResult:
        body = json.dumps(
            payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
        timestamp = int(time.time())
        try:
            parts = check_callback_url(url, self.allowed_hosts)
            addresses = resolve_for_delivery(parts)
        except UnresolvableHost as exc:  # DNS hiccup, n8n restarting: worth another try
            return DeliveryResult(False, None, retryable=True, error=str(exc))
        except CallbackRefused as exc:
            return DeliveryResult(False, None, retryable=False, error=f"refused: {exc}")
        headers = {
            "Host": parts.netloc,
            "Content-Type": "application/json",
            "User-Agent": f"flask-pdfqueue/{__version__}",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.secret, webhook_id, timestamp, body),
        }
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        error = "no address to connect to"
        for address in addresses:  # e.g. localhost: ::1, then 127.0.0.1
            pool = _pool_for(parts.scheme, address, parts.port, parts.hostname or "", self.timeout)
            try:
                response = pool.urlopen(
                    "POST", target, body=body, headers=headers, redirect=False, retries=False
                )
            except urllib3.exceptions.NewConnectionError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue  # nothing was sent; the next address may answer
            except urllib3.exceptions.HTTPError as exc:
                return DeliveryResult(
                    False, None, retryable=True, error=f"{type(exc).__name__}: {exc}"
                )
            finally:
                pool.close()
            return _result_of(response)
        return DeliveryResult(False, None, retryable=True, error=error)


def _result_of(response: urllib3.BaseHTTPResponse) -> DeliveryResult:
    """Success is any 2xx; n8n's "has finished already" and other 4xx are final."""
    status = response.status
    if 200 <= status < 300:
        return DeliveryResult(True, status, retryable=False)
    text = response.data[:500].decode("utf-8", "replace")
    if status == 409 and N8N_FINISHED_MARKER in text:
        return DeliveryResult(False, status, retryable=False, error=f"HTTP 409: {text}")
    retryable = status in RETRYABLE_STATUSES or status >= 500
    return DeliveryResult(False, status, retryable=retryable, error=f"HTTP {status}: {text}")


def _pool_for(
    scheme: str, address: str, port: int | None, hostname: str, timeout: urllib3.Timeout
) -> urllib3.HTTPConnectionPool:
    """A one-off pool connected to the pinned address, TLS still checked against the name."""
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            port or 443,
            timeout=timeout,
            server_hostname=hostname,
            assert_hostname=hostname,
            maxsize=1,
        )
    return urllib3.HTTPConnectionPool(address, port or 80, timeout=timeout, maxsize=1)
