"""LocalStorage: one ``<job_id>.pdf`` per job, replaced atomically, served only by safe keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from flask_pdfqueue.config.settings import Settings
from flask_pdfqueue.storage import DeletingStorage, StoredPDF, create_storage
from flask_pdfqueue.storage.local import LocalStorage

PDF = b"%PDF-1.7\n\x00\xff binary body\n%%EOF\n"


def test_save_writes_job_file_and_returns_key(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    stored = storage.save("job-123_abc", PDF, "Report Rina.pdf")
    assert stored == StoredPDF(key="job-123_abc.pdf", google_drive_link=None)
    assert (tmp_path / "job-123_abc.pdf").read_bytes() == PDF
    assert [p.name for p in tmp_path.iterdir()] == ["job-123_abc.pdf"]  # filename is a label


def test_save_again_replaces_without_leftovers(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.save("j1", PDF, "a.pdf")
    second = storage.save("j1", b"%PDF-second", "a.pdf")
    assert second.key == "j1.pdf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j1.pdf"]  # no .upload-* temp files
    assert (tmp_path / "j1.pdf").read_bytes() == b"%PDF-second"
    storage.save("j2", PDF, "b.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j1.pdf", "j2.pdf"]


def test_save_creates_missing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "does" / "not" / "exist"
    storage = LocalStorage(folder)
    stored = storage.save("j1", PDF, "x.pdf")
    assert (folder / stored.key).read_bytes() == PDF
    assert storage.local_path(stored.key) == folder / "j1.pdf"


def test_local_path_for_saved_and_missing_keys(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = storage.save("j1", PDF, "x.pdf").key
    path = storage.local_path(key)
    assert path == tmp_path / "j1.pdf"
    assert path is not None and path.read_bytes() == PDF
    assert storage.local_path("j2.pdf") is None
    assert LocalStorage(tmp_path / "absent").local_path("j1.pdf") is None


@pytest.mark.parametrize(
    "key",
    [
        "../x.pdf",
        "a/b.pdf",
        "x.txt",
        "j1",
        ".pdf",
        "j1.pdf/",
        "j 1.pdf",
        "..\\j1.pdf",
    ],
)
def test_local_path_refuses_unsafe_keys(tmp_path: Path, key: str) -> None:
    """Each of these would name an existing file if the key were not checked."""
    folder = tmp_path / "pdfs"
    storage = LocalStorage(folder)
    storage.save("j1", PDF, "x.pdf")
    (tmp_path / "x.pdf").write_bytes(PDF)  # ../x.pdf
    (folder / "a").mkdir()
    (folder / "a" / "b.pdf").write_bytes(PDF)  # a/b.pdf
    (folder / "x.txt").write_bytes(PDF)
    (folder / "j1").write_bytes(PDF)
    (folder / ".pdf").write_bytes(PDF)
    (folder / "j 1.pdf").write_bytes(PDF)
    (folder / "..\\j1.pdf").write_bytes(PDF)
    assert storage.local_path(key) is None


def test_local_path_refuses_absolute_paths(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.save("j1", PDF, "x.pdf")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.pdf"
    outside.write_bytes(PDF)
    try:
        assert storage.local_path(str(tmp_path / "j1.pdf")) is None
        assert storage.local_path(str(outside)) is None
    finally:
        outside.unlink()


def test_create_storage_is_local_on_resolved_storage_dir(tmp_path: Path) -> None:
    explicit = dataclasses.replace(Settings(), storage_dir=str(tmp_path / "explicit"))
    storage = create_storage(explicit)
    assert isinstance(storage, LocalStorage)
    assert storage.folder == explicit.resolved_storage_dir == tmp_path / "explicit"
    storage.save("j1", PDF, "x.pdf")
    assert (tmp_path / "explicit" / "j1.pdf").read_bytes() == PDF

    default = dataclasses.replace(Settings(), instance_path=str(tmp_path / "instance"))
    storage = create_storage(default)
    assert isinstance(storage, LocalStorage)
    assert storage.folder == tmp_path / "instance" / "pdfs"


def test_a_storage_failure_names_no_server_path(tmp_path: Path) -> None:
    """The message travels to n8n in the failure webhook: the reason, not the folder."""
    from flask_pdfqueue.errors import StorageError
    from flask_pdfqueue.jobs.steps.store import store_pdf
    from flask_pdfqueue.records.sql import JobRecord
    from flask_pdfqueue.timestamps import utcnow

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the PDF folder should be")
    state = SimpleNamespace(storage=LocalStorage(blocked))
    record = JobRecord("pdf_1", "C", "P", "processing", "storing", "normal", utcnow(), 0)
    with pytest.raises(StorageError) as excinfo:
        store_pdf(state, record, b"%PDF-1.7")  # type: ignore[arg-type]
    assert excinfo.value.message.startswith("could not store the PDF (")
    assert str(tmp_path) not in excinfo.value.message


def test_local_delete_removes_the_file_once_and_refuses_unsafe_keys(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "pdfs")
    stored = storage.save("pdf_1", b"%PDF-1.7 x", "x.pdf")
    outside = tmp_path / "pdfs" / ".." / "keep.pdf"
    outside.write_bytes(b"keep")
    storage.delete(stored.key)
    storage.delete(stored.key)  # gone already: no error
    storage.delete("../keep.pdf")  # never outside the folder
    assert storage.local_path(stored.key) is None
    assert outside.read_bytes() == b"keep"
    assert isinstance(storage, DeletingStorage)
