"""``pdf_job_results``: the durable record of every accepted job (SQLAlchemy Core).

The row is written when a job is accepted, before it reaches Redis, so a job
outlives a Redis loss. Status changes are conditional updates: only the caller
that moves a job out of a non-terminal state wins, which is what keeps terminal
side effects (the webhook above all) to one per job when RQ runs a job twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    case,
    create_engine,
    event,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from ..timestamps import as_utc, utcnow

STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
ACTIVE = ("queued", "processing")
TERMINAL = ("completed", "failed", "cancelled")

metadata = MetaData()


class Timestamp(TypeDecorator[datetime]):
    """UTC wall-clock time in a zone-less column, whatever the session's time zone.

    Aware datetimes go in as naive UTC and come back aware. MySQL and MariaDB get
    ``DATETIME(6)``: a plain DATETIME drops the microseconds there.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


class utc_now_default(FunctionElement[datetime]):
    """The current UTC time as a column default, for rows inserted by other tools.

    (The service always sets ``created_at`` itself.) Each dialect needs its own
    spelling: PostgreSQL and MySQL's ``CURRENT_TIMESTAMP`` is session-local time.
    """

    type = DateTime()
    inherit_cache = True


@compiles(utc_now_default)
def _utc_now_sqlite(element: utc_now_default, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"  # SQLite's is UTC


@compiles(utc_now_default, "postgresql")
def _utc_now_postgresql(element: utc_now_default, compiler: SQLCompiler, **kw: Any) -> str:
    return "timezone('utc', now())"


@compiles(utc_now_default, "mysql")
@compiles(utc_now_default, "mariadb")
def _utc_now_mysql(element: utc_now_default, compiler: SQLCompiler, **kw: Any) -> str:
    return "(UTC_TIMESTAMP(6))"


pdf_job_results = Table(
    "pdf_job_results",
    metadata,
    Column("job_id", String(255), primary_key=True),
    Column("code", String(255), nullable=False),
    Column("product_id", String(255), nullable=False),
    Column("google_drive_link", Text),
    Column("status", String(16), nullable=False, server_default="queued"),
    Column("error_message", Text),
    Column("created_at", Timestamp, nullable=False, server_default=utc_now_default()),
    Column("completed_at", Timestamp),
    Column("retry_count", Integer, nullable=False, server_default="0"),
    Column("priority", String(8), nullable=False, server_default="normal"),
    Column("stage", String(16), nullable=False, server_default="queued"),
    Column("started_at", Timestamp),
    Column("updated_at", Timestamp),
    Column("error_code", String(64)),
    Column("pdf_url", Text),
    Column("storage_key", Text),
    Column("callback_url", Text),
    Column("failure_callback_url", Text),
    Column("metadata_json", Text),
    Column("webhook_state", String(16)),
    Column("webhook_attempts", Integer, nullable=False, server_default="0"),
    Column("webhook_last_status", Integer),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{status}'" for status in STATUSES) + ")",
        name="ck_pdf_job_results_status",
    ),
    Index("idx_code_product", "code", "product_id"),
    Index("idx_status", "status"),
    Index("idx_created_at", "created_at"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_unicode_ci",
)


@dataclass(frozen=True)
class JobRecord:
    """One row of ``pdf_job_results``, with timestamps in UTC."""

    job_id: str
    code: str
    product_id: str
    status: str
    stage: str
    priority: str
    created_at: datetime
    retry_count: int
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    error_message: str | None = None
    error_code: str | None = None
    google_drive_link: str | None = None
    pdf_url: str | None = None
    storage_key: str | None = None
    callback_url: str | None = None
    failure_callback_url: str | None = None
    metadata: dict[str, Any] | None = None
    webhook_state: str | None = None
    webhook_attempts: int = 0
    webhook_last_status: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def pdf_filename(self) -> str:
        """A readable file name for the PDF: ``<code>-<productId>.pdf``, made safe."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.code}-{self.product_id}").strip("._")
        return f"{stem or self.job_id}.pdf"

    @classmethod
    def from_row(cls, row: Any) -> JobRecord:
        data = dict(row._mapping)
        raw_metadata = data.pop("metadata_json")
        return cls(**data, metadata=json.loads(raw_metadata) if raw_metadata else None)


class JobStore:
    """Reads and conditional writes of ``pdf_job_results``."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        # hide_parameters: bound values (callback URLs carry n8n's token) stay out of errors.
        self.engine: Engine = create_engine(
            url, pool_pre_ping=True, hide_parameters=True, **engine_options
        )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def create_schema(self) -> None:
        """Create the tables if missing (what ``sql/*.sql`` holds, per dialect)."""
        metadata.create_all(self.engine)

    def insert_queued(
        self,
        *,
        job_id: str,
        code: str,
        product_id: str,
        priority: str,
        callback_url: str | None,
        failure_callback_url: str | None,
        metadata: dict[str, Any] | None,
    ) -> JobRecord:
        """Record an accepted job; the record is built from what was written (no re-read)."""
        now = utcnow()
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
            callback_url=callback_url,
            failure_callback_url=failure_callback_url,
            metadata=metadata,
        )
        values = {
            column.name: getattr(record, column.name)
            for column in pdf_job_results.columns
            if column.name != "metadata_json"
        }
        values["metadata_json"] = json.dumps(metadata) if metadata is not None else None
        with self.engine.begin() as conn:
            conn.execute(insert(pdf_job_results).values(**values))
        return record

    def get(self, job_id: str) -> JobRecord | None:
        with self.engine.begin() as conn:
            row = conn.execute(
                select(pdf_job_results).where(pdf_job_results.c.job_id == job_id)
            ).first()
        return JobRecord.from_row(row) if row else None

    def delete(self, job_id: str) -> None:
        """Remove a row whose job never reached the queue (enqueue failed)."""
        with self.engine.begin() as conn:
            conn.execute(pdf_job_results.delete().where(pdf_job_results.c.job_id == job_id))

    def start_attempt(self, job_id: str, retry_count: int) -> bool:
        """Mark the job processing; False when it already reached a terminal state."""
        now = utcnow()
        return self._update_active(
            job_id,
            status="processing",
            stage="loading",
            retry_count=retry_count,
            started_at=func.coalesce(pdf_job_results.c.started_at, literal(now, Timestamp())),
            updated_at=now,
        )

    def set_stage(self, job_id: str, stage: str) -> None:
        self._update_active(job_id, stage=stage, updated_at=utcnow())

    def note_retry(self, job_id: str, *, error_message: str, error_code: str) -> bool:
        """An attempt failed and RQ will try again: back to ``queued``, keeping the reason."""
        return self._update_active(
            job_id,
            status="queued",
            stage="queued",
            error_message=error_message,
            error_code=error_code,
            updated_at=utcnow(),
        )

    def complete(
        self, job_id: str, *, pdf_url: str, google_drive_link: str | None, storage_key: str
    ) -> bool:
        """Move the job to ``completed``; True only for the caller that did it."""
        now = utcnow()
        return self._update_active(
            job_id,
            status="completed",
            stage=_owed(pdf_job_results.c.callback_url, "notifying", "done"),
            pdf_url=pdf_url,
            google_drive_link=google_drive_link,
            storage_key=storage_key,
            error_message=None,
            error_code=None,
            completed_at=now,
            updated_at=now,
            webhook_state=_owed(pdf_job_results.c.callback_url, "pending", None),
        )

    def fail(
        self, job_id: str, *, status: str, error_message: str, error_code: str, retry_count: int
    ) -> bool:
        """Move the job to ``failed`` or ``cancelled``; True only for the caller that did it."""
        if status not in ("failed", "cancelled"):
            raise ValueError(f"a job fails as 'failed' or 'cancelled', not {status!r}")
        now = utcnow()
        return self._update_active(
            job_id,
            status=status,
            stage=_owed(pdf_job_results.c.failure_callback_url, "notifying", "done"),
            error_message=error_message,
            error_code=error_code,
            retry_count=retry_count,
            completed_at=now,
            updated_at=now,
            webhook_state=_owed(pdf_job_results.c.failure_callback_url, "pending", None),
        )

    def claim_delivery(self, job_id: str) -> bool:
        """Take the owed webhook event for sending; True for the one caller that got it."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(pdf_job_results)
                .where(pdf_job_results.c.job_id == job_id)
                .where(pdf_job_results.c.webhook_state == "pending")
                .values(webhook_state="sending", updated_at=utcnow())
            )
        return bool(result.rowcount == 1)

    def release_delivery(self, job_id: str) -> None:
        """Give a claimed event back (the attempt never got an answer to record)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(pdf_job_results)
                .where(pdf_job_results.c.job_id == job_id)
                .where(pdf_job_results.c.webhook_state == "sending")
                .values(webhook_state="pending", updated_at=utcnow())
            )

    def record_delivery(
        self, job_id: str, *, delivered: bool, last_status: int | None, gave_up: bool = False
    ) -> None:
        """Count one webhook attempt: ``delivered``, ``failed`` (given up) or ``pending`` again."""
        state = "delivered" if delivered else "failed" if gave_up else "pending"
        with self.engine.begin() as conn:
            conn.execute(
                update(pdf_job_results)
                .where(pdf_job_results.c.job_id == job_id)
                .values(
                    webhook_attempts=pdf_job_results.c.webhook_attempts + 1,
                    webhook_last_status=last_status,
                    webhook_state=state,
                    stage="done",
                    updated_at=utcnow(),
                )
            )

    def _update_active(self, job_id: str, **values: Any) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(pdf_job_results)
                .where(pdf_job_results.c.job_id == job_id)
                .where(pdf_job_results.c.status.in_(ACTIVE))
                .values(**values)
            )
        return bool(result.rowcount == 1)

    def ping(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(select(1))

    def dispose(self) -> None:
        self.engine.dispose()


def _owed(url_column: Any, when_owed: str, otherwise: str | None) -> Any:
    """A terminal event is owed only when there is a URL to send it to."""
    return case((url_column.is_not(None), when_owed), else_=otherwise)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the web app read while a worker writes; wait rather than fail on a lock."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
