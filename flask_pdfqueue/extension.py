"""``PDFQueue``: the Flask extension object, which builds each app's state and mounts its
HTTP side."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from flask import Flask
from redis import Redis

from .cli import pdfqueue_cli
from .config.generated import (
    load_or_create_secret,
    new_api_key,
    new_dashboard_password,
    new_webhook_secret,
)
from .config.settings import ConfigError, Settings, set_defaults
from .queue.queues import JobQueue
from .records.mongo import ReportDocuments
from .records.sql import DeliveryStore, JobStore, make_engine
from .records.sql.clock import DatabaseClock
from .records.sql.figures import recent_average_seconds
from .records.sql.idempotency import IdempotencyStore
from .records.sql.webhook_claims import WebhookClaims
from .state import EXTENSION_KEY, PDFQueueState, install
from .storage import create_storage
from .timestamps import redis_clock
from .webhooks.callback_urls import CallbackRefused, check_callback_url
from .webhooks.events import event_body
from .webhooks.sender import WebhookSender

log = logging.getLogger(__name__)
REDIS_TIMEOUT_SECONDS = 5


class PDFQueue:
    """Queued PDF report generation for a Flask app.

    :param app: Call :meth:`init_app` with this application right away.
    :param url_prefix: Where the API blueprint is mounted.
    :param web: Mount the HTTP side (the API, ``/metrics``, the dashboard). An app that
        only runs workers passes False: the jobs side alone, without the HTTP side's
        imports (pydantic, Flask-Limiter, prometheus-client, rq-dashboard), about 12 MB
        less in every worker process.
    """

    def __init__(
        self, app: Flask | None = None, *, url_prefix: str = "/api", web: bool = True
    ) -> None:
        if not url_prefix.strip("/"):
            raise ValueError("url_prefix must name a path such as '/api': the API owns it all")
        self.url_prefix = "/" + url_prefix.strip("/")
        self.web = web
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the ``PDFQUEUE_*`` settings, connect the backing services, mount the API.

        Settings come from ``app.config`` only (missing keys get their defaults there);
        to let the environment override them, load it into ``app.config`` first, as
        :func:`flask_pdfqueue.service.create_app` does.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "A PDFQueue is already registered on this app. Call init_app once per app "
                "and reach the state through flask_pdfqueue.current_pdfqueue()."
            )
        set_defaults(app.config)
        settings = _with_generated_secrets(
            Settings.from_config(app.config, instance_path=app.instance_path)
        )
        if settings.default_callback:
            try:
                check_callback_url(settings.default_callback, settings.callback_allowed_hosts)
            except CallbackRefused as exc:
                raise ConfigError(f"PDFQUEUE_DEFAULT_CALLBACK is refused: {exc}") from None
        if settings.alert_webhook:
            try:
                check_callback_url(settings.alert_webhook, settings.callback_allowed_hosts)
            except CallbackRefused as exc:
                raise ConfigError(f"PDFQUEUE_ALERT_WEBHOOK is refused: {exc}") from None
        # A stalled Redis must cost a request 5 s and a 503, never a hung thread.
        # (RQ's worker raises the read timeout of its own connection above its dequeue wait.)
        redis = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            health_check_interval=30,
        )
        engine = make_engine(settings.resolved_sql_url)
        clock = DatabaseClock(engine, reference=redis_clock(redis))
        state = PDFQueueState(
            settings=settings,
            redis=redis,
            queue=JobQueue(redis, settings, lambda: recent_average_seconds(engine)),
            jobs=JobStore(engine, event_body, clock),
            deliveries=DeliveryStore(engine, clock),
            idempotency=IdempotencyStore(engine, clock),
            webhook_claims=WebhookClaims(engine, clock),
            documents=ReportDocuments(
                settings.mongo_url,
                database=settings.mongo_db,
                collection=settings.mongo_collection,
                code_field=settings.mongo_code_field,
                product_field=settings.mongo_product_field,
            ),
            storage=create_storage(settings),
            webhooks=WebhookSender(
                secrets=settings.webhook_secrets,
                allowed_hosts=settings.callback_allowed_hosts,
                timeout=settings.webhook_timeout,
                connect_timeout=settings.webhook_connect_timeout,
            ),
            url_prefix=self.url_prefix,
        )
        install(app, state)
        app.cli.add_command(pdfqueue_cli)  # `flask pdfqueue …`, on this app only
        if self.web:
            _mount_web(app, settings, self.url_prefix)


def _mount_web(app: Flask, settings: Settings, url_prefix: str) -> None:
    """The HTTP side: the API blueprint, and ``/metrics`` and the dashboard when the
    settings ask for them (``PDFQUEUE_METRICS``, ``PDFQUEUE_DASHBOARD``).

    Imported here, not at the top: an app that only runs workers (``web=False``) never
    loads pydantic, Flask-Limiter, prometheus-client or rq-dashboard."""
    from .api import create_blueprint
    from .api.dashboard import register_dashboard
    from .api.envelope import register_method_not_allowed
    from .api.metrics import create_metrics_blueprint

    app.register_blueprint(create_blueprint(), url_prefix=url_prefix)
    register_method_not_allowed(app, url_prefix)
    if settings.metrics:
        app.register_blueprint(create_metrics_blueprint())  # /metrics, at the root
    if settings.dashboard:
        register_dashboard(app, settings)


def _with_generated_secrets(settings: Settings) -> Settings:
    """Outside production, missing secrets are generated once into the instance folder."""
    if settings.profile == "production":
        return settings
    instance = Path(settings.instance_path)
    updates: dict[str, object] = {}
    if not settings.api_keys:
        updates["api_keys"] = (load_or_create_secret(instance / "api-key", new_api_key),)
    if not settings.webhook_secret:
        updates["webhook_secret"] = load_or_create_secret(
            instance / "webhook-secret", new_webhook_secret
        )
    if not settings.dashboard_password:
        updates["dashboard_password"] = load_or_create_secret(
            instance / "dashboard-password", new_dashboard_password
        )
    return replace(settings, **updates) if updates else settings  # type: ignore[arg-type]
