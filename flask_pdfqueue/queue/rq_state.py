"""What the service reads of RQ's live state, by Redis's clock: the workers (who is
alive, in which role), the queues' schedulers (alive, and their clocks).

Health, stats, metrics, alerts and the estimate all ask here, so they cannot disagree.

A worker is alive while its beat (:data:`BEAT_KEY`, written at each of RQ's heartbeats
by :class:`~flask_pdfqueue.worker.classes.PDFWorker` and its kin) has not expired: Redis
counts that, so a host whose clock is off is judged like any other. RQ's own
``last_heartbeat`` is the worker's clock and only shown.

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.client import Pipeline
from rq import Queue, Worker, worker_registration
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.utils import utcparse

from ..config.settings import PRIORITIES
from ..timestamps import utcnow

#: A worker silent this long is dead (it beats at least every 30 s: RQ's job monitoring
#: interval while busy, its TTL - 15 s while idle), though its registration lingers.
WORKER_SILENCE = timedelta(seconds=70)
#: A worker's beat, alive for :data:`WORKER_SILENCE`.
BEAT_KEY = "pdfqueue:worker-beat:{worker}"
DELIVERY_QUEUE = "pdf-webhooks"


def queue_name(priority: str) -> str:
    return f"pdf-{priority}"


#: The render queues, in the order workers poll them.
RENDER_QUEUES = tuple(queue_name(priority) for priority in PRIORITIES)
ROLES = ("render", "delivery")
#: A scheduler heartbeats every second; one silent this long is dead.
SCHEDULER_SILENCE = timedelta(seconds=10)
#: The TTL RQ's scheduler gives its record at each heartbeat: its interval (1 s) + 60 s.
SCHEDULER_RECORD_TTL = 61


def queue_depths(connection: Redis) -> dict[str, int]:
    """Jobs waiting in each RQ list now: the three render queues and the webhook queue."""
    names = (*RENDER_QUEUES, DELIVERY_QUEUE)
    with connection.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(Queue.redis_queue_namespace_prefix + name)
        return {name: int(n) for name, n in zip(names, pipe.execute(), strict=True)}


def role_of(queues: Sequence[str]) -> str | None:
    """``render`` for a worker on the priority queues, ``delivery`` for one on the webhook
    queue, None for a worker of somebody else's queues sharing the Redis."""
    if any(name in RENDER_QUEUES for name in queues):
        return "render"
    if DELIVERY_QUEUE in queues:
        return "delivery"
    return None


@dataclass(frozen=True)
class WorkerInfo:
    """One worker: its role, what RQ's registration says of it, how long ago it beat, and
    whether it is alive (its beat has not expired)."""

    name: str
    role: str
    state: str
    queues: tuple[str, ...]
    heartbeat_age: float | None
    live: bool

    @property
    def busy(self) -> bool:
        return self.state == "busy"


def note_beat(connection: Redis | Pipeline, worker_name: str) -> None:
    """A worker's beat: it is alive for the next :data:`WORKER_SILENCE`."""
    key = BEAT_KEY.format(worker=worker_name)
    connection.set(key, 1, px=int(WORKER_SILENCE.total_seconds() * 1000))


def forget_beat(connection: Redis, worker_name: str) -> None:
    """A worker that stopped cleanly is dead at once."""
    connection.delete(BEAT_KEY.format(worker=worker_name))


def read_workers(connection: Redis) -> list[WorkerInfo]:
    """Every registered worker of ours, in one round trip after the registry's set.

    A live worker's heartbeat age is its beat's, by Redis's clock; a dead one's (shown,
    never judged) is how long ago RQ's ``last_heartbeat``, by its own clock, was."""
    keys = sorted(worker_registration.get_keys(connection=connection))
    names = [_text(key).removeprefix(Worker.redis_worker_namespace_prefix) for key in keys]
    with connection.pipeline(transaction=False) as pipe:
        pipe.time()
        for key, name in zip(keys, names, strict=True):
            pipe.hmget(key, "state", "queues", "last_heartbeat")
            pipe.pttl(BEAT_KEY.format(worker=name))
        (seconds, microseconds), *answers = pipe.execute()
    now = seconds + microseconds / 1e6
    silence_ms = WORKER_SILENCE.total_seconds() * 1000
    workers = []
    for i, name in enumerate(names):
        (state, queues, last_heartbeat), left_ms = answers[2 * i], int(answers[2 * i + 1])
        if state is None and queues is None:  # registration outlived the worker's hash
            continue
        queue_names = tuple(_text(queues).split(",")) if queues else ()
        role = role_of(queue_names)
        if role is None:
            continue
        if left_ms > 0:
            age: float | None = max(0.0, (silence_ms - left_ms) / 1000)
        elif last_heartbeat:
            age = now - utcparse(_text(last_heartbeat)).replace(tzinfo=UTC).timestamp()
        else:
            age = None
        workers.append(
            WorkerInfo(
                name,
                role,
                _text(state) if state else "unknown",
                queue_names,
                heartbeat_age=age,
                live=left_ms > 0,
            )
        )
    return workers


def live_workers(connection: Redis, role: str) -> int:
    """How many workers of ``role`` (``render``, ``delivery``) are alive now."""
    return sum(1 for worker in read_workers(connection) if worker.role == role and worker.live)


def live_by_role(workers: Sequence[WorkerInfo]) -> dict[str, int]:
    return {role: sum(w.live for w in workers if w.role == role) for role in ROLES}


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
    record = SCHEDULER_KEY_TEMPLATE % _text(owner)
    with connection.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.pttl(record)
        pipe.hget(record, "last_heartbeat")
        (seconds, microseconds), left_ms, beat = pipe.execute()
    now = datetime.fromtimestamp(seconds + microseconds / 1e6, UTC)
    if int(left_ms) < 0 or beat is None:  # a lock just taken: its record is not written yet
        return _Beat(timedelta(0), None, now)
    silence = timedelta(milliseconds=max(0, SCHEDULER_RECORD_TTL * 1000 - int(left_ms)))
    beat_at = utcparse(_text(beat))
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
