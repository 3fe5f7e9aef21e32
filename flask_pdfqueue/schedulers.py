"""What the service reads of RQ's schedulers: whether one is alive, and its clock.

RQ's scheduler (one per queue across all hosts, by a lock) writes a record at every
heartbeat, each second: its own time as ``last_heartbeat``, and a TTL of its
interval + 60 s (RQ 3's ``RQScheduler.heartbeat``). The time since its last beat is
what that TTL has lost: Redis counts it, no host's clock does. And the beat's own
time, against Redis's time of the same beat, says how far the scheduler's clock
is from Redis's.

That matters because RQ's scheduler moves a scheduled job into its queue once the
job's time has come by the clock of the host it runs on. A retry scheduled "in
10 s" by a worker whose clock is 30 s ahead of the scheduler's would wait 40 s;
one scheduled by a worker 30 s behind would be woken at once. :func:`wake_time`
puts the delay into the clock of the scheduler that will wake the job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.utils import utcparse

from .timestamps import utcnow

#: A scheduler heartbeats every second; one silent this long is dead.
SCHEDULER_SILENCE = timedelta(seconds=10)
#: The TTL RQ's scheduler gives its record at each heartbeat: its interval (1 s) + 60 s.
SCHEDULER_RECORD_TTL = 61


@dataclass(frozen=True)
class _Beat:
    """The last heartbeat of a queue's scheduler: how long ago (by Redis), and how far its
    clock was from Redis's then (None before its first beat)."""

    silence: timedelta
    clock_offset: timedelta | None
    redis_now: datetime


def _last_beat(connection: Redis, queue_name: str) -> _Beat | None:
    owner = connection.get(RQScheduler.get_locking_key(queue_name))
    if owner is None:
        return None
    record = SCHEDULER_KEY_TEMPLATE % (owner.decode() if isinstance(owner, bytes) else owner)
    with connection.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.pttl(record)
        pipe.hget(record, "last_heartbeat")
        (seconds, microseconds), left_ms, beat = pipe.execute()
    now = datetime.fromtimestamp(seconds + microseconds / 1e6, UTC)
    if int(left_ms) < 0 or beat is None:  # a lock just taken: its record is not written yet
        return _Beat(timedelta(0), None, now)
    silence = timedelta(milliseconds=max(0, SCHEDULER_RECORD_TTL * 1000 - int(left_ms)))
    beat_at = utcparse(beat.decode() if isinstance(beat, bytes) else beat)
    return _Beat(silence, beat_at.replace(tzinfo=UTC) - (now - silence), now)


def scheduler_silence(connection: Redis, queue_name: str) -> timedelta | None:
    """How long the scheduler holding ``queue_name``'s lock has been silent, by Redis's
    clock (two hosts whose clocks disagree still agree on it); None when nobody holds the
    lock. A lock just taken, whose scheduler has not written its record yet, counts as a
    beat now."""
    beat = _last_beat(connection, queue_name)
    return beat.silence if beat is not None else None


def scheduler_alive(connection: Redis, queue_name: str) -> bool:
    silence = scheduler_silence(connection, queue_name)
    return silence is not None and silence < SCHEDULER_SILENCE


def wake_time(connection: Redis, queue_name: str, delay: float) -> datetime:
    """``delay`` seconds from now by the clock of ``queue_name``'s scheduler (the local
    clock while none has beaten yet), rounded up to the whole second RQ keeps."""
    beat = _last_beat(connection, queue_name)
    if beat is None or beat.clock_offset is None:
        due = utcnow() + timedelta(seconds=delay)
    else:
        due = beat.redis_now + beat.clock_offset + timedelta(seconds=delay)
    return datetime.fromtimestamp(math.ceil(due.timestamp()), UTC)
