"""``pdf_job_results`` as released before migrations existed: revision 0001. Frozen.

Databases in the field were made from exactly this (``metadata.create_all`` of the
old code, or the old ``sql/*.sql``). Revision 0001 creates it; revision 0002 starts
SQLite's copy of the table from it, since a table rebuilt from this definition is
the same on every database, where one reflected from SQLite would not be (and
offline SQL has no database to reflect). Later schema changes belong in new
revisions, never here.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, String, Text
from sqlalchemy.schema import SchemaItem, conv

from ..sql.columns import Timestamp, utc_now_default

STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
#: Its indexes, created one by one in this order (a ``Table`` keeps indexes in a set,
#: and the generated SQL must come out the same on every run).
INDEXES = (
    ("idx_code_product", ["code", "product_id"]),
    ("idx_status", ["status"]),
    ("idx_created_at", ["created_at"]),
)


def jobs_v0() -> list[SchemaItem]:
    """The columns and the CHECK, new objects on every call (each belongs to one table).

    The CHECK's name is wrapped in ``conv`` so no naming convention changes it.
    """
    return [
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
            name=conv("ck_pdf_job_results_status"),
        ),
    ]
