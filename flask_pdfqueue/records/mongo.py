"""Report documents in MongoDB (``workflow.psikotes_v2``) and their ``pdf_generation`` field.

The worker reads the report data from the document and writes the job's state
back into it. Writes are conditional on the job's submission time, so an older
job finishing late never overwrites the result of a newer job for the same report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection

from ..errors import ReportNotFound

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The longest any one MongoDB operation may wait for its answer.
SOCKET_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class QueuedNote:
    """A new job's ``queued`` state, for its report document."""

    code: str
    product_id: str
    job_id: str
    requested_at: datetime
    updated_at: datetime


class ReportDocuments:
    """The report collection, matched by code and product id (field names configurable)."""

    def __init__(
        self,
        url: str,
        *,
        database: str,
        collection: str,
        code_field: str = "code",
        product_field: str = "product_id",
        timeout_ms: int = 5000,
    ) -> None:
        self._options = (url, database, collection, timeout_ms)
        self.client: MongoClient[dict[str, Any]] = MongoClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            # A server that accepts and never answers must not hold a worker for ever.
            socketTimeoutMS=SOCKET_TIMEOUT_MS,
            connect=False,
        )
        self.collection: Collection[dict[str, Any]] = self.client[database][collection]
        self.code_field = code_field
        self.product_field = product_field

    def reopened(self) -> ReportDocuments:
        """A fresh client with the same settings, for a forked process (clients are not
        fork-safe; the parent's sockets must not be shared)."""
        url, database, collection, timeout_ms = self._options
        return ReportDocuments(
            url,
            database=database,
            collection=collection,
            code_field=self.code_field,
            product_field=self.product_field,
            timeout_ms=timeout_ms,
        )

    def _match(self, code: str, product_id: str) -> dict[str, Any]:
        return {self.code_field: code, self.product_field: product_id}

    def load(self, code: str, product_id: str) -> dict[str, Any]:
        """The report document, or :class:`ReportNotFound` naming what was looked for."""
        document = self.collection.find_one(self._match(code, product_id), {"_id": 0})
        if document is None:
            raise ReportNotFound(
                f"no report document with {self.code_field}={code!r} and "
                f"{self.product_field}={product_id!r} in "
                f"{self.collection.database.name}.{self.collection.name}"
            )
        return document

    def set_pdf_generation(
        self,
        code: str,
        product_id: str,
        *,
        job_id: str,
        requested_at: datetime,
        fields: Mapping[str, Any],
    ) -> bool:
        """``$set`` ``pdf_generation`` unless a newer job already wrote it; True if written."""
        found, update = self._generation(code, product_id, job_id, requested_at, fields)
        return self.collection.update_one(found, update).matched_count == 1

    def note_queued(self, notes: Sequence[QueuedNote]) -> int:
        """Write ``queued`` for many new jobs in one round trip; how many were written.

        Each is written unless a newer job owns the document, or the job itself wrote a
        later state already (its worker may have started before this note was sent).
        """
        updates = []
        for note in notes:
            fields = {"status": "queued", "retry_count": 0, "updated_at": note.updated_at}
            found, update = self._generation(
                note.code, note.product_id, note.job_id, note.requested_at, fields
            )
            updates.append(
                UpdateOne({**found, "pdf_generation.job_id": {"$ne": note.job_id}}, update)
            )
        if not updates:
            return 0
        return self.collection.bulk_write(updates, ordered=False).modified_count

    def _generation(
        self,
        code: str,
        product_id: str,
        job_id: str,
        requested_at: datetime,
        fields: Mapping[str, Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The filter and update that write a job's state unless a newer job owns it."""
        # BSON dates keep milliseconds only: order by whole microseconds, so two jobs
        # submitted within one millisecond still compare right.
        requested_us = (requested_at - _EPOCH) // timedelta(microseconds=1)
        state = {
            "job_id": job_id,
            "requested_at": requested_at,
            "requested_at_us": requested_us,
            **fields,
        }
        newer_job_absent = {"pdf_generation.requested_at_us": {"$not": {"$gt": requested_us}}}
        return {**self._match(code, product_id), **newer_job_absent}, {
            "$set": {"pdf_generation": state}
        }

    def seed(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Insert the documents that are missing; return how many were inserted.

        ``$setOnInsert`` leaves existing documents (and their ``pdf_generation`` state)
        untouched, so seeding on every start is safe.
        """
        inserted = 0
        for document in documents:
            fields = dict(document)
            key = self._match(str(fields.pop("code")), str(fields.pop("product_id")))
            result = self.collection.update_one(key, {"$setOnInsert": fields}, upsert=True)
            inserted += result.upserted_id is not None
        return inserted

    def ensure_indexes(self) -> None:
        self.collection.create_index([(self.code_field, 1), (self.product_field, 1)])

    def ping(self) -> None:
        self.client.admin.command("ping")

    def close(self) -> None:
        self.client.close()
