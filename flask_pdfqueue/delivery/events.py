"""The body of a job's terminal event (SPEC §3), fixed when the outcome is recorded.

The body is stored with the delivery and sent byte for byte on every attempt and
replay, so a receiver sees one payload per ``webhook-id``.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import is_retryable
from ..records.sql.jobs import JobRecord
from ..timestamps import iso_utc


def success_payload(record: JobRecord, metadata: dict[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "job_id": record.job_id,
        "status": "completed",
        "google_drive_link": record.google_drive_link,
        "pdf_url": record.pdf_url,
        "completed_at": iso_utc(record.completed_at),
        "code": record.code,
        "productId": record.product_id,
    }
    if record.google_drive_link is not None:  # stored in Google Drive: its file id too
        payload["google_drive_file_id"] = record.storage_key
    if metadata is not None:
        payload["metadata"] = metadata
    return payload


def failure_payload(record: JobRecord, metadata: dict[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "job_id": record.job_id,
        "status": record.status,
        "error": record.error_message,
        "error_code": record.error_code,
        "retryable": is_retryable(record.error_code),
        "failed_at": iso_utc(record.completed_at),
        "retry_count": record.retry_count,
        "code": record.code,
        "productId": record.product_id,
    }
    if metadata is not None:
        payload["metadata"] = metadata
    return payload


def event_body(record: JobRecord, metadata: dict[str, Any] | None) -> str:
    """The JSON text of the finished job's event for one subscriber."""
    build = success_payload if record.status == "completed" else failure_payload
    return json.dumps(
        build(record, metadata), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
