"""Notify: hand the job's owed webhook events to the delivery queue.

The events were owed in the transaction that recorded the outcome; here each gets
a delivery job on the webhook queue, which POSTs it (and retries it) apart from
rendering. Should Redis refuse, the reconciler queues them later: nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...records.sql import Delivery
from ...state import PDFQueueState
from ..delivery.dispatch import dispatch


def announce(state: PDFQueueState, owed: Iterable[Delivery] | None) -> None:
    """Queue the delivery of each owed event (None: another run owns the outcome)."""
    if owed:
        dispatch(state, owed)
