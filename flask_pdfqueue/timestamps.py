"""Time as the service keeps it: aware UTC datetimes, shown as ISO 8601 with a ``Z``.

Times that several hosts compare come from one clock, not from each host's own:
:func:`redis_now` for what lives in Redis.
"""

from __future__ import annotations

from datetime import UTC, datetime

from redis import Redis


def utcnow() -> datetime:
    return datetime.now(UTC)


def redis_now(connection: Redis) -> datetime:
    """Redis's clock: what every host agrees on for times kept in Redis, however far
    their own clocks drift."""
    seconds, microseconds = connection.time()
    return datetime.fromtimestamp(seconds + microseconds / 1e6, UTC)


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
