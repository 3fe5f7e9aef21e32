"""The ``Idempotency-Key`` header: the same key and body again get the first answer again.

Keys belong to the client that used them (its API key, hashed), and are kept 24
hours. The key is reserved before the work, so a retry racing the first request
gets a 409 instead of a second job; a request that fails frees its key. A request
that died holding the key (or could not store its answer) leaves it to the next one
after a minute: that one does the work again, and the request's reference (passed
to the work, written with each job's subscriber) lets it find the job the dead one
made instead of subscribing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request

from ..state import current_pdfqueue
from .auth import presented_key
from .envelope import APIError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def idempotent(body: Any, answer: Callable[[str | None], Response]) -> Response:
    """Answer through ``answer(request_ref)`` once per key and body; replay that answer
    afterwards. ``request_ref`` names the request for the records (None without a key)."""
    key = request.headers.get(HEADER)
    if key is None:
        return answer(None)
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise APIError(
            400,
            "invalid_idempotency_key",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.",
        )
    store = current_pdfqueue().idempotency
    client = hashlib.sha256((presented_key() or "").encode()).hexdigest()
    fingerprint = hashlib.sha256(
        f"{request.path}\n{json.dumps(body, sort_keys=True)}".encode()
    ).hexdigest()
    held = store.reserve(client, key, fingerprint)
    if held is not None:
        if held.request_hash != fingerprint:
            raise APIError(
                422,
                "idempotency_key_reused",
                f"This {HEADER} was used with another request in the last 24 hours.",
            )
        if held.status_code is None:  # the first request is still being answered
            raise APIError(
                409,
                "idempotency_key_in_use",
                f"A request with this {HEADER} is still running; if it does not answer, "
                "the same request again after a minute takes its place.",
            )
        replay = jsonify(held.response)
        replay.status_code = held.status_code
        return replay
    try:
        response = answer(hashlib.sha256(f"{client}\n{key}".encode()).hexdigest())
    except BaseException:
        store.release(client, key)
        raise
    store.answer(client, key, response.status_code, response.get_json())
    return response
