"""Notify: hand the job's owed webhook events to whoever makes their first attempt.

The events were owed in the transaction that recorded the outcome. In the default
render worker's job process its courier attempts them on a thread, beside the next
render; anywhere else (a forking worker's horse, a web request that cancels) each gets
a delivery job on the webhook queue. Retries are always delivery jobs. Should Redis
refuse, the reconciler queues them later: nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...records.sql import Delivery
from ...state import PDFQueueState
from ..delivery import courier
from ..delivery.dispatch import dispatch


def announce(state: PDFQueueState, owed: Iterable[Delivery] | None) -> None:
    """Start the delivery of each owed event (None: another run owns the outcome)."""
    if not owed:
        return
    ours = courier.installed()
    if ours is not None:
        ours.hand_over(owed)
    else:
        dispatch(state, owed)
