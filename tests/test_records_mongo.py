"""ReportDocuments against a real MongoDB-wire server (SecantusDB).

The newer-wins rule is the point: a job that finishes late must never overwrite
the ``pdf_generation`` state written by a job submitted after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from flask_pdfqueue.errors import ReportNotFound
from flask_pdfqueue.records.mongo import QueuedNote, ReportDocuments
from flask_pdfqueue.records.queued_notes import QueuedNotes
from tests.integration.helpers import wait_until
from tests.servers import RunningServer

COLLECTION = "psikotes_v2"
# BSON datetimes keep milliseconds, so these round-trip exactly.
OLDER = datetime(2025, 3, 1, 8, 0, 0, 123000, tzinfo=UTC)
NEWER = OLDER + timedelta(seconds=5)


def _open(url: str, code_field: str = "code", product_field: str = "product_id") -> ReportDocuments:
    return ReportDocuments(
        url,
        database=f"t_{uuid.uuid4().hex[:16]}",
        collection=COLLECTION,
        code_field=code_field,
        product_field=product_field,
    )


@pytest.fixture
def documents(mongo_server: RunningServer) -> Iterator[ReportDocuments]:
    """A ReportDocuments on a database of its own, dropped afterwards."""
    docs = _open(mongo_server.url)
    yield docs
    docs.client.drop_database(docs.collection.database.name)
    docs.close()


def _insert(docs: ReportDocuments, code: str = "C-1", product: str = "prod") -> dict[str, Any]:
    document = {
        docs.code_field: code,
        docs.product_field: product,
        "participant": {"name": "Zoë Ñandú"},
        "results": [{"scale": "a", "score": 3}],
    }
    docs.collection.insert_one(dict(document))
    return document


def _stored(docs: ReportDocuments, code: str = "C-1") -> dict[str, Any]:
    found = docs.collection.find_one({docs.code_field: code}, {"_id": 0})
    assert found is not None
    return found


def test_load_returns_document_without_id(documents: ReportDocuments) -> None:
    expected = _insert(documents)
    _insert(documents, code="C-2")
    _insert(documents, code="C-1", product="other")
    loaded = documents.load("C-1", "prod")
    assert "_id" not in loaded
    assert loaded == expected


def test_load_unknown_raises_report_not_found_naming_what_was_sought(
    documents: ReportDocuments,
) -> None:
    _insert(documents)
    with pytest.raises(ReportNotFound) as info:
        documents.load("C-1", "wrong-product")
    message = str(info.value)
    assert "'C-1'" in message
    assert "'wrong-product'" in message
    assert f"{documents.collection.database.name}.{COLLECTION}" in message
    assert info.value.error_code == "report_not_found"
    assert info.value.retryable is False
    with pytest.raises(ReportNotFound, match="'NOPE'"):
        documents.load("NOPE", "prod")


def test_configurable_field_names(mongo_server: RunningServer) -> None:
    docs = _open(mongo_server.url, code_field="kode", product_field="produk")
    try:
        docs.collection.insert_one({"kode": "K-9", "produk": "p1", "value": 1})
        docs.collection.insert_one({"code": "K-9", "product_id": "p1", "value": 2})
        assert docs.load("K-9", "p1") == {"kode": "K-9", "produk": "p1", "value": 1}
        with pytest.raises(ReportNotFound, match="kode='K-9' and produk='p2'"):
            docs.load("K-9", "p2")
        assert docs.set_pdf_generation(
            "K-9", "p1", job_id="j1", requested_at=OLDER, fields={"status": "queued"}
        )
        written = docs.collection.find_one({"kode": "K-9"}, {"_id": 0})
        untouched = docs.collection.find_one({"code": "K-9"}, {"_id": 0})
        assert written is not None and untouched is not None
        assert written["pdf_generation"]["job_id"] == "j1"
        assert "pdf_generation" not in untouched
        docs.ensure_indexes()
        keys = [info["key"] for info in docs.collection.index_information().values()]
        assert [("kode", 1), ("produk", 1)] in keys
    finally:
        docs.client.drop_database(docs.collection.database.name)
        docs.close()


def test_set_pdf_generation_writes_state(documents: ReportDocuments) -> None:
    original = _insert(documents)
    fields = {"status": "completed", "pdf_url": "http://x/j1.pdf", "attempt": 2}
    assert documents.set_pdf_generation(
        "C-1", "prod", job_id="j1", requested_at=OLDER, fields=fields
    )
    stored = _stored(documents)
    assert stored == {
        **original,
        "pdf_generation": {
            "job_id": "j1",
            "requested_at": OLDER,
            "requested_at_us": _microseconds(OLDER),
            **fields,
        },
    }


def test_newer_job_wins_over_a_late_older_job(documents: ReportDocuments) -> None:
    _insert(documents)
    assert documents.set_pdf_generation(
        "C-1", "prod", job_id="old", requested_at=OLDER, fields={"status": "processing"}
    )
    assert documents.set_pdf_generation(
        "C-1", "prod", job_id="new", requested_at=NEWER, fields={"status": "queued"}
    )
    # The older job finishes late: its write is refused and the newer state stays.
    assert not documents.set_pdf_generation(
        "C-1", "prod", job_id="old", requested_at=OLDER, fields={"status": "completed"}
    )
    newer_state = {
        "job_id": "new",
        "requested_at": NEWER,
        "requested_at_us": _microseconds(NEWER),
        "status": "queued",
    }
    assert _stored(documents)["pdf_generation"] == newer_state
    # Even one millisecond older is refused.
    assert not documents.set_pdf_generation(
        "C-1",
        "prod",
        job_id="old",
        requested_at=NEWER - timedelta(milliseconds=1),
        fields={"status": "failed"},
    )
    assert _stored(documents)["pdf_generation"] == newer_state
    # The newer job itself may keep writing its own progress.
    assert documents.set_pdf_generation(
        "C-1", "prod", job_id="new", requested_at=NEWER, fields={"status": "completed"}
    )
    assert _stored(documents)["pdf_generation"] == {**newer_state, "status": "completed"}


def test_jobs_submitted_within_one_millisecond_still_compare_right(
    documents: ReportDocuments,
) -> None:
    _insert(documents)
    newer = NEWER.replace(microsecond=123_600)
    older = newer.replace(microsecond=123_100)  # same millisecond once stored as a BSON date
    assert documents.set_pdf_generation(
        "C-1", "prod", job_id="new", requested_at=newer, fields={"status": "queued"}
    )
    assert not documents.set_pdf_generation(
        "C-1", "prod", job_id="old", requested_at=older, fields={"status": "completed"}
    )
    assert _stored(documents)["pdf_generation"]["job_id"] == "new"


def _microseconds(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_write_for_missing_document_returns_false_and_creates_nothing(
    documents: ReportDocuments,
) -> None:
    _insert(documents)
    assert not documents.set_pdf_generation(
        "GHOST", "prod", job_id="j1", requested_at=OLDER, fields={"status": "failed"}
    )
    assert not documents.set_pdf_generation(
        "C-1", "other", job_id="j1", requested_at=OLDER, fields={"status": "failed"}
    )
    assert documents.collection.count_documents({}) == 1
    assert "pdf_generation" not in _stored(documents)


def _queued(code: str, job_id: str, requested_at: datetime) -> QueuedNote:
    return QueuedNote(code, "prod", job_id, requested_at, requested_at + timedelta(seconds=1))


def test_queued_notes_are_written_in_one_round_trip_never_over_a_later_state(
    documents: ReportDocuments,
) -> None:
    for code in ("C-1", "C-2", "C-3", "C-4"):
        _insert(documents, code)
    # C-2: the job's worker started before its note arrived; C-3: a newer job owns it.
    documents.set_pdf_generation(
        "C-2", "prod", job_id="job-2", requested_at=OLDER, fields={"status": "processing"}
    )
    documents.set_pdf_generation(
        "C-3", "prod", job_id="job-new", requested_at=NEWER, fields={"status": "queued"}
    )
    written = documents.note_queued(
        [
            _queued("C-1", "job-1", OLDER),
            _queued("C-2", "job-2", OLDER),
            _queued("C-3", "job-3", OLDER),
            _queued("C-missing", "job-x", OLDER),
        ]
    )
    assert written == 1
    first = _stored(documents, "C-1")["pdf_generation"]
    assert (first["job_id"], first["status"], first["retry_count"]) == ("job-1", "queued", 0)
    assert first["requested_at"] == OLDER
    assert first["updated_at"] == OLDER + timedelta(seconds=1)
    assert _stored(documents, "C-2")["pdf_generation"]["status"] == "processing"
    assert _stored(documents, "C-3")["pdf_generation"]["job_id"] == "job-new"
    assert "pdf_generation" not in _stored(documents, "C-4")
    assert documents.collection.count_documents({documents.code_field: "C-missing"}) == 0
    # An older job's document state is replaced by a newer job's note.
    documents.note_queued([_queued("C-2", "job-2b", NEWER)])
    assert _stored(documents, "C-2")["pdf_generation"]["job_id"] == "job-2b"


def test_the_note_writer_writes_after_add_returns_and_everything_at_close(
    documents: ReportDocuments,
) -> None:
    for code in ("C-1", "C-2"):
        _insert(documents, code)
    notes = QueuedNotes(documents)
    notes.add([_queued("C-1", "job-1", OLDER)])
    wait_until(lambda: "pdf_generation" in _stored(documents, "C-1"), timeout=5)
    notes.close()
    notes.add([_queued("C-2", "job-2", OLDER)])  # after close: no thread any more
    assert "pdf_generation" not in _stored(documents, "C-2")
    assert notes.flush() == 1
    assert _stored(documents, "C-2")["pdf_generation"]["job_id"] == "job-2"


def test_the_note_writer_gives_up_a_batch_mongodb_refuses_and_goes_on(
    documents: ReportDocuments, caplog: pytest.LogCaptureFixture
) -> None:
    _insert(documents, "C-1")
    unreachable = ReportDocuments(
        "mongodb://127.0.0.1:9/?directConnection=true",
        database="t_unreachable",
        collection=COLLECTION,
        timeout_ms=200,
    )
    notes = QueuedNotes(unreachable)
    notes.add([_queued("C-0", "job-0", OLDER)])
    wait_until(lambda: "could not write queued into 1 report document" in caplog.text, 10)
    notes.documents = documents  # MongoDB is back: the next notes go through
    notes.add([_queued("C-1", "job-1", OLDER)])
    wait_until(lambda: "pdf_generation" in _stored(documents, "C-1"), timeout=5)
    notes.close()
    unreachable.close()


def test_ensure_indexes_creates_code_product_index(documents: ReportDocuments) -> None:
    _insert(documents)
    documents.ensure_indexes()
    documents.ensure_indexes()  # idempotent
    keys = [info["key"] for info in documents.collection.index_information().values()]
    assert keys.count([("code", 1), ("product_id", 1)]) == 1


def test_datetimes_come_back_timezone_aware_utc(documents: ReportDocuments) -> None:
    _insert(documents)
    jakarta = timezone(timedelta(hours=7))
    requested = OLDER.astimezone(jakarta)
    assert documents.set_pdf_generation(
        "C-1",
        "prod",
        job_id="j1",
        requested_at=requested,
        fields={"completed_at": NEWER},
    )
    state = documents.load("C-1", "prod")["pdf_generation"]
    for value in (state["requested_at"], state["completed_at"]):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert state["requested_at"] == OLDER
    assert state["completed_at"] == NEWER
