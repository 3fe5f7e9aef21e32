"""Replay: owe settled webhook events again, same body, same ``webhook-id``.

For a receiver that was down longer than the retry schedule, or lost what it
got: the events are due at once, with a fresh schedule, and receivers that kept
the first copy drop the second by its ``webhook-id``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...records.sql import Delivery
from ...state import PDFQueueState
from .dispatch import dispatch


def replay(state: PDFQueueState, deliveries: Iterable[Delivery]) -> list[Delivery]:
    """Owe these deliveries again and queue them; those in flight are left alone."""
    reopened = state.deliveries.replay(d.webhook_id for d in deliveries)
    dispatch(state, reopened)
    return reopened
