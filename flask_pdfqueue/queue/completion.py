"""Waking a request that waits for its job: a Redis list per job, pushed when it ends.

The legacy synchronous endpoint blocks on ``BLPOP`` (no polling) until the job's
terminal transition pushes to ``pdfqueue:finished:<job_id>``. The list outlives
the push for a while, so a waiter that starts late still wakes at once, and each
waiter puts the token back for the next one (several calls may wait for one job,
dedupe joins them). Waiters use a connection pool of their own: blocking calls
never hold the connections that submits need.
"""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: How long the finished signal stays for late waiters (longer than any wait).
SIGNAL_TTL = 300


def finished_key(job_id: str) -> str:
    return f"pdfqueue:finished:{job_id}"


def announce_finished(connection: Redis, job_id: str) -> None:
    """Wake whoever waits for ``job_id`` (best effort: a waiter checks SQL at its deadline)."""
    key = finished_key(job_id)
    try:
        with connection.pipeline() as pipe:
            pipe.rpush(key, "1")
            pipe.expire(key, SIGNAL_TTL)
            pipe.execute()
    except RedisError as exc:
        log.warning("job %s: waiters not woken: %s", job_id, type(exc).__name__)


class CompletionWaiter:
    """Blocks until a job finished or a timeout passed, on a pool of its own."""

    def __init__(self, redis_url: str, *, longest_wait: float) -> None:
        self.connection = Redis.from_url(
            redis_url, socket_connect_timeout=5, socket_timeout=longest_wait + 10
        )

    def wait(self, job_id: str, timeout: float) -> bool:
        """True when the job finished within ``timeout`` seconds."""
        key = finished_key(job_id)
        got = self.connection.blpop([key], timeout=max(timeout, 0.01))
        if got is None:
            return False
        with self.connection.pipeline() as pipe:  # the next waiter for this job wakes too
            pipe.rpush(key, got[1])
            pipe.expire(key, SIGNAL_TTL)
            pipe.execute()
        return True

    def close(self) -> None:
        self.connection.close()
