"""When to try a webhook again: SPEC §3's schedule, with jitter, bounded ``Retry-After``.

The schedule (``PDFQUEUE_WEBHOOK_RETRY_SCHEDULE``) lists the waits between
attempts: the first attempt is immediate, the n-th retry waits the n-th value.
Each wait is spread by ±20 % so that events that failed together (n8n restarting)
do not all come back at the same second. A receiver's ``Retry-After`` is honoured
when it asks for longer, up to the schedule's longest wait.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

JITTER = 0.2


def retry_wait(
    *,
    attempts_made: int,
    schedule: Sequence[int],
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` attempts in this round, or
    None when the schedule is used up (the delivery has failed).

    A wait, not a time: the database's clock turns it into the delivery's due time, and
    the worker's own clock into when RQ's scheduler wakes the attempt."""
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    wait = float(schedule[attempts_made - 1])
    wait *= 1 + (rng or random).uniform(-JITTER, JITTER)
    if retry_after is not None:
        wait = max(wait, min(retry_after, float(max(schedule))))
    return wait
