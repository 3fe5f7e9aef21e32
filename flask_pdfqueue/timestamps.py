"""Time as the service keeps it: aware UTC datetimes, shown as ISO 8601 with a ``Z``.

Times that several hosts compare come from one clock, not from each host's own:
:func:`redis_now` for what lives in Redis, the database's for what lives in SQL
(:class:`~flask_pdfqueue.records.sql.clock.DatabaseClock`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError


def utcnow() -> datetime:
    return datetime.now(UTC)


def redis_now(connection: Redis) -> datetime:
    """Redis's clock: what every host agrees on for times kept in Redis, however far
    their own clocks drift."""
    seconds, microseconds = connection.time()
    return datetime.fromtimestamp(seconds + microseconds / 1e6, UTC)


def redis_clock(connection: Redis) -> Callable[[], datetime | None]:
    """:func:`redis_now` as a clock to agree on: None while Redis cannot be read."""

    def now() -> datetime | None:
        try:
            return redis_now(connection)
        except RedisError:
            return None

    return now


def as_utc(value: datetime | None) -> datetime | None:
    """Databases hand back naive datetimes; everything the service stores is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def iso_utc(value: datetime | None) -> str | None:
    """``2026-11-25T10:06:37.366Z``: every timestamp in API answers and webhooks."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
