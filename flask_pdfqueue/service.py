"""The stand-alone service: an app with only PDFQueue, configured by profile.

``gunicorn 'flask_pdfqueue.service:create_app()'`` serves it; the workers run
``flask --app flask_pdfqueue.service:create_worker_app pdfqueue worker``, the same app
without its HTTP side (what a worker never serves, it need not import). The profile
file comes from the ``config/`` folder of ``PDFQUEUE_HOME`` (default: the current
directory), and generated secrets, SQLite and PDFs live in its ``var/`` folder. Every
``PDFQUEUE_*`` environment variable is loaded into ``app.config`` after the profile
file, so the environment wins. The served app is the API and nothing else: every
error, on any path, answers in the JSON envelope.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from .config.settings import PROFILES, ConfigError, from_environ
from .extension import PDFQueue
from .jobs.tracing import TraceIdFilter


def create_app(profile: str | None = None, *, web: bool = True) -> Flask:
    """The service's app; without ``web``, the jobs side only (see :class:`PDFQueue`)."""
    home = Path(os.environ.get("PDFQUEUE_HOME") or Path.cwd()).resolve()
    profile = profile or os.environ.get("PDFQUEUE_PROFILE") or "development"
    if profile not in PROFILES:
        raise ConfigError(f"PDFQUEUE_PROFILE must be one of {', '.join(PROFILES)}")
    app = Flask(__name__, instance_path=str(home / "var"))
    # the service serves the metrics and the dashboard (a profile or the environment may not)
    app.config.update(PDFQUEUE_METRICS=True, PDFQUEUE_DASHBOARD=True)
    profile_file = home / "config" / f"{profile}.py"
    if profile_file.is_file():
        app.config.from_pyfile(str(profile_file))
    app.config.update(from_environ(os.environ))
    app.config.update(embedded_urls(os.environ))
    app.config["PDFQUEUE_PROFILE"] = profile
    logging.basicConfig(
        level=os.environ.get("PDFQUEUE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s%(trace)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:  # a job's lines show its trace id
        if not any(isinstance(f, TraceIdFilter) for f in handler.filters):
            handler.addFilter(TraceIdFilter())
    # WeasyPrint logs a dozen "Step N" lines per render at INFO: noise at any volume.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    # Alembic, imported by `flask pdfqueue db` when it runs, announces its plugins at INFO.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    PDFQueue(app, web=web)
    if web:
        from .api.envelope import register_app_error_handlers

        register_app_error_handlers(app)
    return app


#: The embedded servers ``make run`` starts (scripts/run.sh), at the ports it reads.
EMBEDDED_URLS = {
    "PDFQUEUE_REDIS_URL": ("PDFQUEUE_REDIS_PORT", "redis://127.0.0.1:{port}/0"),
    "PDFQUEUE_MONGO_URL": (
        "PDFQUEUE_MONGO_PORT",
        "mongodb://127.0.0.1:{port}/?directConnection=true",
    ),
}


def embedded_urls(environ: Mapping[str, str]) -> dict[str, str]:
    """The URLs of the embedded Redis and MongoDB on ``PDFQUEUE_REDIS_PORT`` and
    ``PDFQUEUE_MONGO_PORT``, as ``make run`` derives them, where no URL is given: so
    ``flask pdfqueue …`` in the shell that ran ``PDFQUEUE_REDIS_PORT=26400 make run``
    talks to the same servers."""
    return {
        url: template.format(port=environ[port])
        for url, (port, template) in EMBEDDED_URLS.items()
        if environ.get(port) and not environ.get(url)
    }


def create_worker_app(profile: str | None = None) -> Flask:
    """The app the worker commands run in: settings, connections and jobs, no HTTP side."""
    return create_app(profile, web=False)
