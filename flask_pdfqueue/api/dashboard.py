"""rq-dashboard at ``/rq``: read-only, behind HTTP Basic auth, with a strict CSP.

rq-dashboard has no auth of its own when embedded (its maintainers leave that to
the host app), renders job fields without escaping (rq-dashboard#526), and offers
actions that would make RQ say what SQL does not (requeue, empty a registry,
delete). So, for every request to its blueprint:

- HTTP Basic auth against ``PDFQUEUE_DASHBOARD_USERNAME`` / ``_PASSWORD``, compared
  in constant time; with no password configured the dashboard is closed;
- only reading: every action answers 403 and names the CLI command that does it
  the way the records stay true (``flask pdfqueue failed --requeue``, ``reconcile``);
- a Content-Security-Policy that lets run exactly the dashboard's own inline
  scripts (by hash) and its static files, and nothing a job field could smuggle in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re

from flask import Flask, Response, jsonify, request

from ..config.settings import Settings

log = logging.getLogger(__name__)

URL_PREFIX = "/rq"
BLUEPRINT = "rq_dashboard"
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_READING = ("GET", "HEAD")


def register_dashboard(app: Flask, settings: Settings) -> bool:
    """Mount rq-dashboard on ``app`` if it is installed; True when mounted."""
    try:
        import rq_dashboard
    except ImportError:
        log.info("rq-dashboard is not installed: no dashboard at %s", URL_PREFIX)
        return False
    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", settings.redis_url)
    app.config["RQ_DASHBOARD_DISABLE_DELETE"] = True
    rq_dashboard.web.setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)

    @app.before_request
    def _guard() -> Response | None:
        if request.blueprint != BLUEPRINT:
            return None
        if not _authorised(settings):
            answer = jsonify(
                {"error": {"code": "unauthorized", "message": "The dashboard needs a login."}}
            )
            answer.status_code = 401
            answer.headers["WWW-Authenticate"] = 'Basic realm="pdfqueue dashboard"'
            return answer
        if request.method not in _READING or "/requeue/" in request.path:
            answer = jsonify(
                {
                    "error": {
                        "code": "read_only",
                        "message": "The dashboard only shows. Requeue dead letters with "
                        "`flask pdfqueue failed --requeue`; Redis and SQL are brought in "
                        "line by `flask pdfqueue reconcile`.",
                    }
                }
            )
            answer.status_code = 403
            return answer
        return None

    @app.after_request
    def _protect(response: Response) -> Response:
        if request.blueprint == BLUEPRINT:
            response.headers["Content-Security-Policy"] = _policy(response)
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return True


def _authorised(settings: Settings) -> bool:
    if not settings.dashboard_password:
        return False
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    user_ok = hmac.compare_digest(username.encode(), settings.dashboard_username.encode())
    password_ok = hmac.compare_digest(password.encode(), settings.dashboard_password.encode())
    return user_ok and password_ok


def _policy(response: Response) -> str:
    """Scripts from the dashboard's own files, and its inline scripts by their hash: an
    event handler or script that a job field smuggles into the page does not run.
    (``'unsafe-eval'`` stays: the dashboard compiles its underscore templates at run time,
    which lets only its own scripts evaluate strings, not markup in the page.)"""
    hashes = ""
    if response.mimetype == "text/html" and not response.direct_passthrough:
        for body in _INLINE_SCRIPT.findall(response.get_data()):
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            hashes += f" 'sha256-{digest}'"
    return (
        "default-src 'self'; "
        f"script-src 'self' 'unsafe-eval'{hashes}; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
