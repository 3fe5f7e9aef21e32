"""The API's rate limit per API key (``PDFQUEUE_RATE_LIMIT``), with Flask-Limiter.

- One budget per API key, shared by every route of the blueprint (a moving window),
  counted in the app's Redis (``PDFQUEUE_REDIS_URL``) under a SHA-256 of the key, never
  the key itself. One key's traffic never limits another key.
- Never counted: health (monitors poll it), ``OPTIONS`` (a CORS preflight carries no
  key) and requests without a valid key. Flask-Limiter checks limits in an app-level
  ``before_request``, which runs before the blueprint's own authentication; so the
  limit exempts requests whose key is not valid, and those get their 401 uncounted.
- Over the limit: 429 ``rate_limited`` in the JSON envelope, with ``Retry-After``.
- The host app's own routes are never limited (a request filter), and the host's
  ``RATELIMIT_DEFAULT`` / ``RATELIMIT_APPLICATION`` do not reach the API through this
  limiter. ``RATELIMIT_ENABLED = False`` (Flask-Limiter's switch) turns it off.
- A ``Limiter`` keeps its storage on itself, so each app gets one of its own, kept in
  ``app.extensions``.
- Redis unreachable: the limit falls back to counting in this process's memory (and
  tries Redis again with backoff), logging a warning; should even that fail, the
  request passes (``swallow_errors``). An outage of the counter never turns answers
  into errors: status answers come from SQL and keep working without Redis.
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import Blueprint, Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from flask_limiter import ExemptionScope, Limiter, RateLimitExceeded
from redis.exceptions import RedisError

from ..state import EXTENSION_KEY, PDFQueueState, current_pdfqueue
from .auth import key_is_valid, presented_key
from .envelope import APIError, error_response

#: Where each app keeps its limiter.
LIMITER_KEY = "pdfqueue_limiter"
#: Prefix of the limiter's keys in Redis.
STORAGE_PREFIX = "pdfqueue:ratelimit"
#: The one budget every limited route of the API draws from.
SCOPE = "api"
#: Endpoints never limited (``/metrics``, outside the blueprint, is not limited either).
UNLIMITED_ENDPOINTS = frozenset({"pdfqueue.health"})
#: Counting takes Redis well under a millisecond; a Redis that does not answer within a
#: second costs each request at most that, then the in-memory fallback takes over.
STORAGE_TIMEOUT_SECONDS = 1


def limit_per_key(bp: Blueprint) -> None:
    """Limit the routes of ``bp`` per API key, on every app it is registered on."""
    bp.record_once(_install)
    bp.register_error_handler(RateLimitExceeded, _rate_limited)


def current_limiter() -> Limiter:
    """The current app's limiter (needs an app context)."""
    limiter: Limiter = current_app.extensions[LIMITER_KEY]
    return limiter


def _install(setup: BlueprintSetupState) -> None:
    app, blueprint = setup.app, setup.blueprint
    assert isinstance(app, Flask) and isinstance(blueprint, Blueprint)
    state: PDFQueueState = app.extensions[EXTENSION_KEY]
    settings = state.settings
    limiter = Limiter(
        _key_digest,
        storage_uri=settings.redis_url,
        storage_options={
            "key_prefix": STORAGE_PREFIX,
            "socket_connect_timeout": STORAGE_TIMEOUT_SECONDS,
            "socket_timeout": STORAGE_TIMEOUT_SECONDS,
        },
        strategy="moving-window",
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        headers_enabled=False,
    )
    limiter.request_filter(lambda: request.blueprint != blueprint.name)
    limiter.exempt(blueprint, flags=ExemptionScope.APPLICATION | ExemptionScope.DEFAULT)
    limiter.shared_limit(settings.rate_limit, scope=SCOPE, exempt_when=_not_counted)(blueprint)
    limiter.init_app(app)
    app.extensions[LIMITER_KEY] = limiter


def _key_digest() -> str:
    """What the budget is counted under: a hash of the presented key."""
    return hashlib.sha256((presented_key() or "").encode()).hexdigest()


def _not_counted() -> bool:
    if request.method == "OPTIONS" or request.endpoint in UNLIMITED_ENDPOINTS:
        return True
    key = presented_key()
    return key is None or not key_is_valid(key, current_pdfqueue().settings.api_keys)


def _rate_limited(exc: RateLimitExceeded) -> Response:
    wait = _seconds_until_allowed(exc)
    return error_response(
        APIError(
            429,
            "rate_limited",
            f"Too many requests with this API key (at most {exc.description}); "
            f"try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    )


def _seconds_until_allowed(exc: RateLimitExceeded) -> int:
    """When the oldest request of the window leaves it (the whole window if unknown)."""
    breached = current_limiter().current_limit
    try:
        if breached is not None:
            return max(1, math.ceil(breached.window.reset_time - time.time()))
    except RedisError:
        pass
    return int(exc.limit.limit.get_expiry())
