"""Listing jobs newest first, a page at a time, with a cursor that stays put.

Keyset pagination on ``(created_at, job_id)``: a page continues after the last
row of the previous one, so jobs accepted meanwhile never shift or repeat rows
(an offset would). The cursor is opaque to clients: URL-safe base64 of that pair.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, or_, select

from .job_rows import COLUMNS, JobRecord, pdf_job_results

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class BadCursor(ValueError):
    """The cursor was not one this service handed out."""


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobRecord]
    next_cursor: str | None


def completed_codes(
    engine: Engine, product_id: str, *, codes: Sequence[str] = (), since: datetime | None = None
) -> list[str]:
    """Codes of the product's reports that have a PDF (completed since ``since``), sorted."""
    jobs = pdf_job_results.c
    query = (
        select(jobs.code)
        .distinct()
        .where(jobs.product_id == product_id, jobs.status == "completed")
    )
    if codes:
        query = query.where(jobs.code.in_(list(codes)))
    if since is not None:
        query = query.where(jobs.completed_at >= since)
    with engine.connect() as conn:
        return [str(row[0]) for row in conn.execute(query.order_by(jobs.code))]


def encode_cursor(record: JobRecord) -> str:
    raw = f"{record.created_at.isoformat()}|{record.job_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, job_id = raw.split("|", 1)
        return datetime.fromisoformat(created), job_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor("not a cursor from this listing") from exc


def list_jobs(
    engine: Engine,
    *,
    status: str | None = None,
    code: str | None = None,
    product_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> JobPage:
    """One page of jobs, newest first, filtered by whatever is given."""
    table = pdf_job_results.c
    query = select(*COLUMNS)
    if status is not None:
        query = query.where(table.status == status)
    if code is not None:
        query = query.where(table.code == code)
    if product_id is not None:
        query = query.where(table.product_id == product_id)
    if cursor is not None:
        created, job_id = decode_cursor(cursor)
        query = query.where(
            or_(
                table.created_at < created,
                and_(table.created_at == created, table.job_id < job_id),
            )
        )
    query = query.order_by(table.created_at.desc(), table.job_id.desc()).limit(limit + 1)
    with engine.connect() as conn:
        rows = [JobRecord.from_row(row) for row in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return JobPage(rows, encode_cursor(rows[-1]) if more and rows else None)
