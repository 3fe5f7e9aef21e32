"""The HTTP API blueprint: submit, jobs, webhooks, health. Every route but health needs a key
(``OPTIONS`` needs none; health checks one that is sent), and every keyed request counts
against its key's rate limit."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..state import current_pdfqueue
from .auth import presented_key, require_api_key
from .envelope import options_response, register_error_handlers
from .limits import limit_per_key
from .routes import PUBLIC_ENDPOINTS, register_routes


def create_blueprint() -> Blueprint:
    bp = Blueprint("pdfqueue", __name__)

    @bp.before_request
    def _authenticate_and_bound() -> Response | None:
        state = current_pdfqueue()
        # One byte over: Werkzeug cuts a streamed body at this limit without a word, so
        # only a byte read past the allowed size tells a body too long from a full one.
        request.max_content_length = state.settings.max_body_bytes + 1
        if request.method == "OPTIONS":  # no key, as CORS preflights carry none
            return options_response()
        # A key that is sent is checked even where none is needed, so a client testing
        # its key on the health route (n8n's credential test) learns that it is wrong.
        if state.settings.health_public and _public_path() and presented_key() is None:
            return None
        require_api_key(state.settings.api_keys)
        _refuse_long_body(state.settings.max_body_bytes)
        return None

    register_routes(bp)
    register_error_handlers(bp)
    limit_per_key(bp)
    return bp


def _public_path() -> bool:
    """A public route serves the request's path: any method there answers without a key
    (a method the route does not take gets its 405, not a 401 for a key it does not need).
    Public routes are read-only, so the path is matched for ``GET``."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return True
    adapter = current_app.create_url_adapter(request)
    try:
        endpoint, _ = adapter.match(request.path, method="GET")  # type: ignore[union-attr]
    except HTTPException:
        return False
    return endpoint in PUBLIC_ENDPOINTS


def _refuse_long_body(limit: int) -> None:
    """413 for a body over ``limit`` bytes, declared (``Content-Length``) or streamed
    (chunked: read here, at most one byte past the limit, and kept for the view)."""
    if request.content_length is not None:
        too_long = request.content_length > limit
    elif "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        too_long = len(request.get_data(cache=True)) > limit
    else:
        too_long = False
    if too_long:
        raise RequestEntityTooLarge(f"The body may have at most {limit} bytes.")
