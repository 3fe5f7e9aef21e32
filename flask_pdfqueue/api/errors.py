"""The JSON error envelope of every API answer that is not a success.

``{"error": {"code", "message", "fields"?}}`` for every 4xx and 5xx under the
API prefix, including Flask's own 404/405/413 and unexpected exceptions (a JSON
500 carrying the correlation id that the log line carries too).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("flask_pdfqueue.api")

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


def error_response(error: APIError) -> Response:
    body: dict[str, object] = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    response = jsonify({"error": body})
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def register_error_handlers(app: Flask, url_prefix: str) -> None:
    """JSON errors under ``url_prefix``; the host app keeps its own pages elsewhere."""

    def ours() -> bool:
        return request.path == url_prefix or request.path.startswith(url_prefix + "/")

    def handle_api_error(error: APIError) -> Response:
        return error_response(error)

    def handle_http(exc: HTTPException) -> Response | HTTPException:
        if not ours():
            return exc
        status = exc.code or 500
        message = exc.description or exc.name
        headers = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return error_response(
            APIError(status, _CODES.get(status, "error"), message, headers=headers)
        )

    def handle_unexpected(exc: Exception) -> Response | HTTPException:
        correlation_id = uuid.uuid4().hex
        log.exception("unexpected error [correlation_id=%s] on %s", correlation_id, request.path)
        if not ours():
            return InternalServerError()
        return error_response(
            APIError(
                500,
                "internal_error",
                f"Unexpected error; quote correlation id {correlation_id} when reporting it.",
                headers={"X-Correlation-Id": correlation_id},
            )
        )

    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_unexpected)
