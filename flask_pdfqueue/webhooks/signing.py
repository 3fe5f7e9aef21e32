"""Standard Webhooks signatures: how events are signed, and how a receiver checks them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

__all__ = ["sign", "verify"]


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with a ``whsec_`` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signatures(secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one signature per secret, space-separated, as
    Standard Webhooks has it for a secret rotation (a receiver checks the one it knows)."""
    return " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets)


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
