"""The body of a job's terminal event (SPEC §3), fixed when the outcome is recorded.

The body is stored with the delivery and sent byte for byte on every attempt and
replay, so a receiver sees one payload per ``webhook-id``. A subscriber that asked
for ``"deliver": "inline"`` also gets the PDF itself (``pdf_base64``) when it is no
larger than the inline limit; a larger one is left out, and the payload says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..errors import is_retryable
from ..records.sql.job_rows import JobRecord
from ..records.sql.subscribers import Subscriber
from ..timestamps import iso_utc


@dataclass(frozen=True)
class InlinePDF:
    """The finished job's PDF, for subscribers that want it in the webhook, and the
    largest PDF sent that way (``PDFQUEUE_INLINE_PDF_MAX_BYTES``)."""

    content: bytes
    max_bytes: int

    def fields(self) -> dict[str, Any]:
        """``pdf_base64`` (null when too large, with the reason), size and checksum."""
        size = len(self.content)
        fields: dict[str, Any] = {
            "pdf_size": size,
            "pdf_sha256": hashlib.sha256(self.content).hexdigest(),
        }
        if size <= self.max_bytes:
            fields["pdf_base64"] = base64.b64encode(self.content).decode("ascii")
        else:
            fields["pdf_base64"] = None
            fields["pdf_inline_skipped"] = "too_large"
            fields["pdf_inline_max_bytes"] = self.max_bytes
        return fields


def success_payload(
    record: JobRecord, metadata: dict[str, Any] | None, inline: InlinePDF | None = None
) -> dict[str, Any]:
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
    if inline is not None:
        payload.update(inline.fields())
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


def event_body(record: JobRecord, subscriber: Subscriber, pdf: InlinePDF | None) -> str:
    """The JSON text of the finished job's event for one subscriber (``pdf``: the PDF,
    for a completed job, sent to subscribers that asked for it inline)."""
    if record.status == "completed":
        inline = pdf if subscriber.deliver == "inline" else None
        payload = success_payload(record, subscriber.metadata, inline)
    else:
        payload = failure_payload(record, subscriber.metadata)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
