"""The store step with Drive: the file id is reserved once per job and kept in SQL before
the upload, so a job that runs again (RQ delivers at least once) writes the same file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from flask_pdfqueue.errors import StorageRejected
from flask_pdfqueue.jobs.steps.store import store_pdf
from flask_pdfqueue.records.migrations import upgrade
from flask_pdfqueue.records.sql import JobStore, make_engine
from flask_pdfqueue.webhooks.events import event_body
from tests.drive.conftest import DriveSetup
from tests.drive.fake_drive import FakeDrive

PDF = b"%PDF-1.7\n" + b"x" * 5000 + b"\n%%EOF\n"


@pytest.fixture
def jobs(tmp_path: Path) -> JobStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    upgrade(engine)
    return JobStore(engine, event_body)


def running_job(jobs: JobStore, job_id: str = "pdf_store1") -> None:
    jobs.insert_queued(
        job_id=job_id, code="C-1", product_id="minatBakatUmum", priority="normal", subscriber=None
    )
    assert jobs.start_attempt(job_id, job_id)


def test_the_reserved_id_is_kept_in_sql_and_a_second_run_reuses_it(
    shared_drive_setup: DriveSetup, fake: FakeDrive, jobs: JobStore, tmp_path: Path
) -> None:
    state = SimpleNamespace(storage=shared_drive_setup.storage(tmp_path), jobs=jobs)
    running_job(jobs)
    first_run = jobs.get("pdf_store1")
    assert first_run is not None and first_run.storage_key is None
    stored = store_pdf(state, first_run, PDF)  # type: ignore[arg-type]
    kept = jobs.get("pdf_store1")
    assert kept is not None and kept.storage_key == stored.key  # kept before the outcome
    assert stored.google_drive_link and stored.key in stored.google_drive_link

    # The work horse died before recording: the next run reads the row and re-uses the id.
    again = store_pdf(state, kept, PDF + b"% a re-render differs")  # type: ignore[arg-type]
    assert again == stored
    assert [item.id for item in shared_drive_setup.uploads()] == [stored.key]
    assert len(fake.reserved_ids & {stored.key}) == 1


def test_concurrent_runs_agree_on_the_first_kept_id(jobs: JobStore) -> None:
    running_job(jobs, "pdf_store2")
    assert jobs.keep_storage_key("pdf_store2", "1first") == "1first"
    assert jobs.keep_storage_key("pdf_store2", "1second") == "1first"
    assert jobs.keep_storage_key("pdf_unknown", "1third") is None


def test_a_file_not_made_for_the_job_is_refused_not_overwritten(
    shared_drive_setup: DriveSetup, fake: FakeDrive, jobs: JobStore, tmp_path: Path
) -> None:
    storage = shared_drive_setup.storage(tmp_path)
    other = storage.save("pdf_someone_else", PDF, "other.pdf")
    running_job(jobs, "pdf_store3")
    jobs.keep_storage_key("pdf_store3", other.key)  # as if the row named another job's file
    record = jobs.get("pdf_store3")
    state = SimpleNamespace(storage=storage, jobs=jobs)
    with pytest.raises(StorageRejected, match="not this job's PDF"):
        store_pdf(state, record, PDF)  # type: ignore[arg-type]
    assert len(shared_drive_setup.uploads()) == 1
