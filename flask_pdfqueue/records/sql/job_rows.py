"""``pdf_job_results``: the table and its row (:class:`JobRecord`), and what makes two
submits the same report. The writes are :class:`~.jobs.JobStore`'s."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    Text,
    select,
)

from .columns import MYSQL_OPTIONS, TextList, Timestamp, metadata, utc_now_default

STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
ACTIVE = ("queued", "processing")
TERMINAL = ("completed", "failed", "cancelled")

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
    Column("rq_job_id", String(255)),
    Column("enqueued_at", Timestamp),
    Column("mirror_pending", Boolean, nullable=False, server_default="0"),
    Column("dedupe_key", String(64)),
    Column("traceparent", String(55)),
    Column("render_warnings", TextList),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{status}'" for status in STATUSES) + ")", name="status"
    ),
    Index("idx_code_product", "code", "product_id"),
    Index("idx_status", "status"),
    Index("idx_created_at", "created_at"),
    # Stats, alerts and /metrics (records/sql/figures.py; migration 0004).
    Index("idx_status_priority_started", "status", "priority", "started_at"),
    Index("idx_status_completed_started", "status", "completed_at", "started_at"),
    Index("uq_pdf_job_results_dedupe_key", "dedupe_key", unique=True),
    **MYSQL_OPTIONS,
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
    rq_job_id: str | None = None
    enqueued_at: datetime | None = None
    mirror_pending: bool = False
    traceparent: str | None = None
    render_warnings: tuple[str, ...] = ()

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
        return cls(**dict(row._mapping))


#: The columns a JobRecord is read from (also by the listing).
COLUMNS = [pdf_job_results.c[f.name] for f in fields(JobRecord)]


def dedupe_key(code: str, product_id: str) -> str:
    """What makes two submits the same report (hashed: both parts may be 255 characters)."""
    return hashlib.sha256(f"{code}\x00{product_id}".encode()).hexdigest()


def read_job(conn: Connection, job_id: str) -> JobRecord:
    row = conn.execute(select(*COLUMNS).where(pdf_job_results.c.job_id == job_id)).one()
    return JobRecord.from_row(row)
