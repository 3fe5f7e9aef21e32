"""The queue's own SQL records, one module per table (SQLAlchemy Core).

``jobs`` (``pdf_job_results``), ``subscribers`` (``pdf_job_subscribers``),
``deliveries`` (``pdf_webhook_deliveries``), ``attempt_log``
(``pdf_webhook_attempts``), ``idempotency`` (``pdf_idempotency_keys``) and
``webhook_claims`` (``pdf_webhook_claims``). ``columns`` holds what they share; the migrations build
the same schema.
"""

from __future__ import annotations

from .attempt_log import AttemptLog
from .columns import make_engine, metadata
from .deliveries import DeliveryStore
from .delivery_rows import Delivery
from .job_rows import ACTIVE, STATUSES, TERMINAL, JobRecord, pdf_job_results
from .jobs import JobStore
from .subscribers import Subscriber, SubscriberRequest

__all__ = [
    "ACTIVE",
    "STATUSES",
    "TERMINAL",
    "AttemptLog",
    "Delivery",
    "DeliveryStore",
    "JobRecord",
    "JobStore",
    "Subscriber",
    "SubscriberRequest",
    "make_engine",
    "metadata",
    "pdf_job_results",
]
