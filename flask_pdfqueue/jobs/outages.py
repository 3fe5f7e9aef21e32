"""Outages of what a render needs (MongoDB, SQL, the storage): waited out, not failed.

A run that fails because one of them does not answer spends none of the job's
retries: it reports the outage (:func:`report_down`) and the job goes back to its
queue uncounted (:mod:`.attempts`). Render workers look at the open outages before
they take a job and, while one they need is open and younger than
``PDFQUEUE_OUTAGE_GRACE``, take none: they probe it with a short timeout every
:data:`PROBE_EVERY` seconds and close it once it answers (:func:`report_up`), so the
jobs stay queued meanwhile. Past the grace the workers take jobs again and each
fails for good with ``dependency_unavailable`` (retryable): nobody waits for ever.
Delivery workers need neither MongoDB nor the storage and never pause.

The record lives in Redis, a hash per dependency, stamped with Redis's clock, so
every worker and web process on every host agrees on since when a dependency is
down (``/api/health``, ``/metrics`` and the ``outage`` alert read it too).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pymongo
from redis import Redis

from ..state import PDFQueueState
from ..timestamps import redis_now

log = logging.getLogger(__name__)

DEPENDENCIES = ("mongo", "sql", "storage")
KEY = "pdfqueue:outage:{dependency}"
#: A run an outage cut that could not be recorded then: the dependency, for a day.
CUT_RUN_KEY = "pdfqueue:cut-by-outage:{run}"
CUT_RUN_TTL = 24 * 3600
#: Seconds between a paused worker's probes of a dependency that is down.
PROBE_EVERY = 5.0
#: How long a probe may wait for an answer.
PROBE_SECONDS = 3.0
#: What the records and messages call each dependency.
NAMES = {"mongo": "MongoDB", "sql": "the SQL database", "storage": "the PDF storage"}


@dataclass(frozen=True)
class Outage:
    """A dependency that stopped answering, since when (Redis's clock), and why."""

    dependency: str
    since: datetime
    reason: str

    def age(self, now: datetime) -> timedelta:
        return max(now - self.since, timedelta(0))


def report_down(redis: Redis, dependency: str, reason: str) -> Outage:
    """Record that ``dependency`` does not answer; an outage already open keeps its start."""
    key = KEY.format(dependency=dependency)
    now = redis_now(redis).timestamp()
    with redis.pipeline() as pipe:
        pipe.hsetnx(key, "since", now)
        pipe.hset(key, "reason", reason[:300])
        pipe.hget(key, "since")
        opened, _, since = pipe.execute()
    if opened:
        log.error("outage: %s does not answer (%s); jobs wait for it", NAMES[dependency], reason)
    return Outage(dependency, _moment(since), reason)


def report_up(redis: Redis, dependency: str) -> bool:
    """Close ``dependency``'s outage; True when one was open."""
    closed = bool(redis.delete(KEY.format(dependency=dependency)))
    if closed:
        log.warning("outage over: %s answers again", NAMES[dependency])
    return closed


def open_outages(redis: Redis) -> list[Outage]:
    """Every open outage, oldest first."""
    with redis.pipeline() as pipe:
        for dependency in DEPENDENCIES:
            pipe.hgetall(KEY.format(dependency=dependency))
        records = pipe.execute()
    outages = [
        Outage(dependency, _moment(record[b"since"]), record.get(b"reason", b"").decode())
        for dependency, record in zip(DEPENDENCIES, records, strict=True)
        if record.get(b"since")
    ]
    return sorted(outages, key=lambda outage: outage.since)


def answers(state: PDFQueueState, dependency: str) -> bool:
    """Whether ``dependency`` answers now, asked with a short timeout."""
    try:
        if dependency == "mongo":
            with pymongo.timeout(PROBE_SECONDS):
                state.documents.ping()
        elif dependency == "sql":
            state.jobs.ping()
        else:
            ping = getattr(state.storage, "ping", None)
            if ping is not None:
                ping()
    except Exception as exc:  # any failure of a probe means "not yet"
        log.info("outage: %s still does not answer: %s", NAMES[dependency], type(exc).__name__)
        return False
    return True


def note_cut_run(redis: Redis, run: str, dependency: str) -> None:
    """Remember that an outage of ``dependency`` cut ``run`` and nothing could record it
    (SQL was down): the reconciler, finding the run lost, runs the job again uncounted."""
    redis.set(CUT_RUN_KEY.format(run=run), dependency, ex=CUT_RUN_TTL)


def cut_by(redis: Redis, run: str) -> str | None:
    """The dependency whose outage cut ``run`` unrecorded, if one did (asked once)."""
    dependency = redis.getdel(CUT_RUN_KEY.format(run=run))
    if dependency is None:
        return None
    return dependency.decode() if isinstance(dependency, bytes) else str(dependency)


def _moment(raw: bytes | str | None) -> datetime:
    text = raw.decode() if isinstance(raw, bytes) else str(raw or 0)
    return datetime.fromtimestamp(float(text), UTC)
