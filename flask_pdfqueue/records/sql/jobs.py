"""The writes and reads of ``pdf_job_results``, the durable record of every accepted job
(its table and row: :mod:`.job_rows`).

The row is written when a job is accepted, before it reaches Redis, so a job
outlives a Redis loss. Status changes are conditional updates: only the caller
that moves a job out of a non-terminal state wins, and that same transaction
owes the job's webhook events (an outbox, :mod:`.deliveries`), so an outcome is
never recorded without its announcements. ``rq_job_id`` names the RQ job of the
current run: a run that is no longer current may still finish the job (its
result is as good as any), but never starts or steers it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)

from .clock import DatabaseClock
from .columns import Timestamp
from .delivery_rows import Delivery, owe_terminal_event
from .job_rows import ACTIVE, COLUMNS, JobRecord, dedupe_key, pdf_job_results, read_job
from .subscribers import (
    Subscriber,
    SubscriberRequest,
    add_subscriber,
    subscribers_of,
    subscription_by,
)

#: Writes the body of a finished job's event for one subscriber (the third argument: what
#: ``complete`` was given as ``pdf``). The webhook's shape is the delivery side's business:
#: the wiring hands it in.
EventBody = Callable[["JobRecord", Subscriber, Any], str]


# Built once: the submit path runs these on every request (parameters bound per call).
_INSERT_JOB = insert(pdf_job_results)
_ACTIVE_FOR = select(*COLUMNS).where(pdf_job_results.c.dedupe_key == bindparam("key"))


class JobStore:
    """Reads and conditional writes of ``pdf_job_results``."""

    def __init__(
        self, engine: Engine, event_body: EventBody, clock: DatabaseClock | None = None
    ) -> None:
        self.engine = engine
        self.event_body = event_body
        self.clock = clock or DatabaseClock(engine)

    def insert_queued(
        self,
        *,
        job_id: str,
        code: str,
        product_id: str,
        priority: str,
        subscriber: SubscriberRequest | None,
        traceparent: str | None = None,
    ) -> JobRecord:
        """Record an accepted job and who waits for it; built from what was written.

        Raises :class:`sqlalchemy.exc.IntegrityError` when a job for the same report is
        queued or running already (its ``dedupe_key`` is taken): join that one instead.
        """
        now = self.clock.now()
        record = JobRecord(
            job_id=job_id,
            code=code,
            product_id=product_id,
            status="queued",
            stage="queued",
            priority=priority,
            created_at=now,
            updated_at=now,
            retry_count=0,
            rq_job_id=job_id,
            enqueued_at=now,  # promised to the queue: the reconciler runs it if Redis lacks it
            traceparent=traceparent,
        )
        values = {f.name: getattr(record, f.name) for f in fields(JobRecord)}
        values["dedupe_key"] = dedupe_key(code, product_id)
        with self.engine.begin() as conn:
            conn.execute(_INSERT_JOB, values)
            if subscriber is not None:
                add_subscriber(conn, job_id, subscriber, now)
        return record

    def active_for(self, code: str, product_id: str) -> JobRecord | None:
        """The queued or running job of this report, if there is one."""
        with self.engine.connect() as conn:
            row = conn.execute(_ACTIVE_FOR, {"key": dedupe_key(code, product_id)}).first()
        return JobRecord.from_row(row) if row else None

    def join(self, job_id: str, subscriber: SubscriberRequest | None) -> bool:
        """Add a subscriber to a job that is still queued or running; False once it ended.

        The job's row is locked first (a conditional update), so the subscriber is
        either in place before the terminal transition reads the subscribers, or
        refused after it: never added to a job whose events were already owed.
        """
        now = self.clock.now()
        with self.engine.begin() as conn:
            if not _update_active(conn, job_id, updated_at=now):
                return False
            if subscriber is not None:
                add_subscriber(conn, job_id, subscriber, now)
        return True

    def requested_by(self, request_ref: str, *, since: datetime) -> tuple[JobRecord, bool] | None:
        """The job a request made or joined since ``since`` (True: joined), found by its
        ``request_ref``."""
        with self.engine.connect() as conn:
            found = subscription_by(conn, request_ref, since=since)
            return (read_job(conn, found[0]), found[1]) if found else None

    def subscribers(self, job_id: str) -> list[Subscriber]:
        """Who waits for the job, in the order they came."""
        with self.engine.connect() as conn:
            return subscribers_of(conn, job_id)

    def get(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*COLUMNS).where(pdf_job_results.c.job_id == job_id)).first()
        return JobRecord.from_row(row) if row else None

    def start_attempt(self, job_id: str, rq_job_id: str) -> bool:
        """Mark the job processing; False unless it is queued and ``rq_job_id`` is its run.

        A run starts once: a second execution of it (RQ handed it out twice) finds the
        job ``processing`` already and does nothing.
        """
        now = self.clock.now()
        return self._update(
            job_id,
            run=rq_job_id,
            statuses=("queued",),
            status="processing",
            stage="loading",
            started_at=func.coalesce(pdf_job_results.c.started_at, literal(now, Timestamp())),
            updated_at=now,
        )

    def set_stage(self, job_id: str, rq_job_id: str, stage: str) -> bool:
        """False when the run may not go on: the job ended (cancelled) or has another run."""
        return self._update(job_id, run=rq_job_id, stage=stage, updated_at=self.clock.now())

    def schedule_retry(
        self,
        job_id: str,
        *,
        from_run: str,
        next_run: str,
        error_message: str,
        error_code: str,
        counted: bool = True,
    ) -> bool:
        """The run ``from_run`` failed and another will follow: back to ``queued``, one
        more retry counted (unless the failure was an outage's), the reason kept. False
        when the job moved on meanwhile."""
        return self._update(
            job_id,
            run=from_run,
            status="queued",
            stage="queued",
            retry_count=pdf_job_results.c.retry_count + int(counted),
            rq_job_id=next_run,
            error_message=error_message,
            error_code=error_code,
            updated_at=self.clock.now(),
        )

    def keep_storage_key(self, job_id: str, key: str) -> str | None:
        """Keep ``key`` (a name reserved in the storage) as the job's ``storage_key``, unless
        the job has one already; returns the key kept, so concurrent runs of one job agree
        on a single file. None when the job is unknown."""
        with self.engine.begin() as conn:
            conn.execute(
                update(pdf_job_results)
                .where(pdf_job_results.c.job_id == job_id)
                .where(pdf_job_results.c.storage_key.is_(None))
                .where(pdf_job_results.c.status.in_(ACTIVE))
                .values(storage_key=key)
            )
            kept: str | None = conn.execute(
                select(pdf_job_results.c.storage_key).where(pdf_job_results.c.job_id == job_id)
            ).scalar()
        return kept

    def requeue(self, job_id: str, *, run: str) -> bool:
        """A queued job whose run Redis lost is about to be queued again under the same run
        (no attempt was made, none is counted). False when the job moved on meanwhile."""
        return self._update(job_id, run=run, statuses=("queued",), updated_at=self.clock.now())

    def complete(
        self,
        job_id: str,
        *,
        pdf_url: str,
        google_drive_link: str | None,
        storage_key: str,
        render_warnings: Sequence[str] = (),
        pdf: Any = None,
    ) -> list[Delivery] | None:
        """Move the job to ``completed`` and owe its success event to every subscriber
        (``pdf`` goes to the store's ``event_body``: for those that asked for it inline).

        Returns the deliveries owed, or None when another run got there first.
        """
        return self._finish(
            job_id,
            pdf,
            status="completed",
            pdf_url=pdf_url,
            google_drive_link=google_drive_link,
            storage_key=storage_key,
            render_warnings=tuple(render_warnings),
            error_message=None,
            error_code=None,
        )

    def fail(
        self, job_id: str, *, status: str, error_message: str, error_code: str
    ) -> list[Delivery] | None:
        """Move the job to ``failed`` or ``cancelled`` and owe its failure event.

        Returns the deliveries owed, or None when another run got there first.
        """
        if status not in ("failed", "cancelled"):
            raise ValueError(f"a job fails as 'failed' or 'cancelled', not {status!r}")
        return self._finish(
            job_id, None, status=status, error_message=error_message, error_code=error_code
        )

    def mirrored(self, job_id: str, status: str) -> None:
        """The report document now shows the job's terminal ``status``."""
        with self.engine.begin() as conn:
            conn.execute(
                update(pdf_job_results)
                .where(pdf_job_results.c.job_id == job_id)
                .where(pdf_job_results.c.status == status)
                .values(mirror_pending=False)
            )

    def active(self, *, idle_before: datetime, limit: int = 500) -> list[JobRecord]:
        """Queued or processing jobs untouched since ``idle_before`` (the reconciler's round)."""
        return self._select(
            (pdf_job_results.c.status.in_(ACTIVE), pdf_job_results.c.updated_at < idle_before),
            limit,
        )

    def mirror_lagging(self, *, idle_before: datetime, limit: int = 500) -> list[JobRecord]:
        """Finished jobs whose report document may not show their outcome yet."""
        return self._select(
            (
                pdf_job_results.c.mirror_pending.is_(True),
                pdf_job_results.c.updated_at < idle_before,
            ),
            limit,
        )

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def _select(self, conditions: Sequence[Any], limit: int) -> list[JobRecord]:
        query = (
            select(*COLUMNS).where(*conditions).order_by(pdf_job_results.c.updated_at).limit(limit)
        )
        with self.engine.connect() as conn:
            return [JobRecord.from_row(row) for row in conn.execute(query)]

    def _update(
        self, job_id: str, *, run: str, statuses: Sequence[str] = ACTIVE, **values: Any
    ) -> bool:
        """Change an active job's row, provided ``run`` is still its current run."""
        with self.engine.begin() as conn:
            return _update_active(conn, job_id, run=run, statuses=statuses, **values)

    def _finish(self, job_id: str, pdf: Any, **values: Any) -> list[Delivery] | None:
        """The terminal transition: the outcome, its deliveries owed and its mirror pending,
        and the report free for the next submit, in one transaction."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            finished = _update_active(
                conn,
                job_id,
                **values,
                stage="done",
                completed_at=now,
                updated_at=now,
                mirror_pending=True,
                dedupe_key=None,
            )
            if not finished:
                return None
            record = read_job(conn, job_id)
            return owe_terminal_event(
                conn,
                job_id,
                record.status,
                body_for=lambda subscriber: self.event_body(record, subscriber, pdf),
                traceparent=record.traceparent,
                now=now,
            )


def _update_active(
    conn: Connection,
    job_id: str,
    *,
    run: str | None = None,
    statuses: Sequence[str] = ACTIVE,
    **values: Any,
) -> bool:
    """Change the job's row while it is in ``statuses`` (and ``run`` is its current run,
    if given); True when it did. The row stays locked until the transaction ends."""
    query = (
        update(pdf_job_results)
        .where(pdf_job_results.c.job_id == job_id)
        .where(pdf_job_results.c.status.in_(statuses))
    )
    if run is not None:
        query = query.where(pdf_job_results.c.rq_job_id == run)
    return bool(conn.execute(query.values(**values)).rowcount == 1)
