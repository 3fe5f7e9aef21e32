"""The JSON error envelope of every API answer that is not a success.

``{"error": {"code", "message", "fields"?}}`` for every 4xx and 5xx under the API
prefix: validation and auth errors, Flask's own 404/405/413, a backing service
that does not answer (503 with ``Retry-After``) and unexpected exceptions (a JSON
500 with a correlation id that the log carries too). Everything is registered on
the blueprint, plus a catch-all route for unknown paths under the prefix, so the
host app's own error pages and handlers are left alone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from flask import Blueprint, Flask, Response, current_app, request
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestURITooLarge,
    default_exceptions,
)

from .responses import ErrorBody, ErrorEnvelope, respond

log = logging.getLogger("flask_pdfqueue.api")

RETRY_AFTER_SECONDS = "30"
UNKNOWN_ROUTE_ENDPOINT = "unknown_route"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}
_SERVICES: tuple[tuple[type[Exception], str], ...] = (
    (RedisError, "Redis"),
    (PyMongoError, "MongoDB"),
    (SQLAlchemyError, "the SQL database"),
)


class APIError(Exception):
    """An error answer: HTTP status, stable machine code, human message, per-field problems."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields) if fields else None
        self.headers = dict(headers) if headers else {}
        self.job_id = job_id


def unavailable(code: str, message: str) -> APIError:
    """A 503 that tells the client when to come back."""
    return APIError(503, code, message, headers={"Retry-After": RETRY_AFTER_SECONDS})


def error_envelope(error: APIError) -> ErrorEnvelope:
    """The body of an error answer (also one refused item of a batch)."""
    body = ErrorBody(code=error.code, message=error.message)
    if error.fields:
        body.fields = error.fields
    envelope = ErrorEnvelope(error=body)
    if error.job_id is not None:
        envelope.job_id = error.job_id
    return envelope


def error_response(error: APIError) -> Response:
    return respond(error_envelope(error), error.status, error.headers)


def _handle_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    # Keep what the exception says besides its body: Allow, Retry-After, WWW-Authenticate.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    message = exc.description or exc.name
    return error_response(APIError(status, _CODES.get(status, "error"), message, headers=headers))


def _handle_unexpected(exc: Exception) -> Response:
    for kind, name in _SERVICES:
        if isinstance(exc, kind):
            log.warning("%s unreachable on %s: %s", name, request.path, type(exc).__name__)
            return error_response(
                unavailable("service_unavailable", f"{name} is not answering; try again later.")
            )
    correlation_id = uuid.uuid4().hex
    log.exception("unexpected error [correlation_id=%s] on %s", correlation_id, request.path)
    return error_response(
        APIError(
            500,
            "internal_error",
            f"Unexpected error; quote correlation id {correlation_id} when reporting it.",
            headers={"X-Correlation-Id": correlation_id},
        )
    )


def allowed_methods() -> list[str]:
    """The methods the API's own routes serve at the request's path (not the catch-all's)."""
    adapter = current_app.create_url_adapter(request)
    allowed = []
    for method in _METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)  # type: ignore[union-attr]
        except HTTPException:
            continue
        if not str(endpoint).endswith("." + UNKNOWN_ROUTE_ENDPOINT):
            allowed.append(method)
    return allowed


def unknown_route(unknown: str) -> Response:
    """Any path under the prefix that no route serves: 405 if the path exists, else 404."""
    allowed = allowed_methods()
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise NotFound()


def options_response() -> Response:
    """``OPTIONS``: 204 with ``Allow`` listing the path's methods; 404 where no route is.

    Flask's automatic answer would list the catch-all's methods too, so the API answers
    itself. No API key is asked for: a CORS preflight never carries one, and ``Allow``
    tells nothing the API's documentation does not.
    """
    allowed = allowed_methods()
    if not allowed:
        raise NotFound()
    response = current_app.response_class(status=204)
    response.headers["Allow"] = ", ".join(allowed)
    return response


def register_error_handlers(bp: Blueprint) -> None:
    """JSON errors for everything the blueprint serves, unknown paths under it included."""
    bp.register_error_handler(APIError, error_response)
    bp.register_error_handler(HTTPException, _handle_http)
    # Flask prefers a handler for the status code, the app's included, to one for a class:
    # so the API claims each code too, or a host's @app.errorhandler(404) would answer it.
    for status in default_exceptions:
        bp.register_error_handler(status, _handle_http)
    bp.register_error_handler(Exception, _handle_unexpected)
    bp.add_url_rule(
        "/",
        endpoint=UNKNOWN_ROUTE_ENDPOINT,
        view_func=unknown_route,
        methods=_METHODS,
        defaults={"unknown": ""},
        provide_automatic_options=False,
        strict_slashes=False,  # the prefix without its slash is ours too, not a redirect
    )
    bp.add_url_rule(
        "/<path:unknown>",
        endpoint=UNKNOWN_ROUTE_ENDPOINT,
        view_func=unknown_route,
        methods=_METHODS,
        provide_automatic_options=False,
    )


def register_method_not_allowed(app: Flask, url_prefix: str) -> None:
    """405 for methods no route knows at all (``TRACE``, ``PROPFIND``): JSON under the prefix.

    Routing fails for these before any blueprint is chosen, so no blueprint handler sees
    them. Flask raises the routing error only after the app's ``before_request``
    functions ran, so one of those answers it under the prefix; the app's error
    handlers are not touched, and elsewhere its own 405 handler or page answers.
    """

    def answer_under_prefix() -> Response | None:
        exc = request.routing_exception
        under = request.path == url_prefix or request.path.startswith(url_prefix + "/")
        if isinstance(exc, MethodNotAllowed) and under:
            return _handle_http(exc)
        return None

    app.before_request(answer_under_prefix)


def register_app_error_handlers(app: Flask) -> None:
    """The envelope for every error of an app that is nothing but the API (the stand-alone
    service): unknown paths and methods outside the prefix answer JSON too, and so does a
    URL over :data:`MAX_URL_BYTES` (gunicorn lets any length through to the app, see
    ``config/gunicorn.py``, so that its own HTML 414 page never answers)."""
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
    app.before_request(_refuse_long_url)


#: The longest request target the stand-alone service reads.
MAX_URL_BYTES = 8192


def _refuse_long_url() -> None:
    target = request.environ.get("RAW_URI") or request.full_path
    if len(target) > MAX_URL_BYTES:
        raise RequestURITooLarge(f"The URL is longer than {MAX_URL_BYTES} bytes.")
