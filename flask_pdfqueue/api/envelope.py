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
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

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
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields) if fields else None
        self.headers = dict(headers) if headers else {}


def unavailable(code: str, message: str) -> APIError:
    """A 503 that tells the client when to come back."""
    return APIError(503, code, message, headers={"Retry-After": RETRY_AFTER_SECONDS})


def error_response(error: APIError) -> Response:
    body: dict[str, object] = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    response = jsonify({"error": body})
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


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


def unknown_route(unknown: str) -> Response:
    """Any path under the prefix that no route serves: 405 if the path exists, else 404."""
    adapter = current_app.create_url_adapter(request)
    allowed = []
    for method in _METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)  # type: ignore[union-attr]
        except HTTPException:
            continue
        if not str(endpoint).endswith("." + UNKNOWN_ROUTE_ENDPOINT):
            allowed.append(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise NotFound()


def register_error_handlers(bp: Blueprint) -> None:
    """JSON errors for everything the blueprint serves, unknown paths under it included."""
    bp.register_error_handler(APIError, error_response)
    bp.register_error_handler(HTTPException, _handle_http)
    bp.register_error_handler(Exception, _handle_unexpected)
    bp.add_url_rule(
        "/",
        endpoint=UNKNOWN_ROUTE_ENDPOINT,
        view_func=unknown_route,
        methods=_METHODS,
        defaults={"unknown": ""},
        provide_automatic_options=False,
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

    Routing raises these before any blueprint is chosen, so this one handler is the
    app's; elsewhere it hands over to whatever handled 405 before, or Flask's page.
    """
    previous = app.error_handler_spec[None].get(405, {}).get(MethodNotAllowed)

    def handle(exc: MethodNotAllowed) -> Any:
        if request.path == url_prefix or request.path.startswith(url_prefix + "/"):
            return _handle_http(exc)
        return previous(exc) if previous else exc

    app.register_error_handler(MethodNotAllowed, handle)
