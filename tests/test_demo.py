"""Demo documents: the promised codes exist, they render, and seeding is idempotent."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection
from pypdf import PdfReader

from flask_pdfqueue.records.mongo import ReportDocuments
from flask_pdfqueue.reports.packs.psikotes.samples import (
    DEMO_PRODUCT_ID,
    PERSONALITY_PRODUCT_ID,
    sample_documents,
)
from flask_pdfqueue.reports.rendering import ReportRenderer
from tests.servers import RunningServer


def test_spec_demo_codes_exist_for_minat_bakat_umum() -> None:
    keys = {(d["code"], d["product_id"]) for d in sample_documents()}
    assert {(f"DEMO-00{n}", DEMO_PRODUCT_ID) for n in range(1, 6)} <= keys
    assert {code for code, product in keys if product == PERSONALITY_PRODUCT_ID} >= {"DEMO-006"}
    assert len(keys) == len(sample_documents())  # (code, product_id) is unique


def test_demo_documents_are_fresh_copies() -> None:
    first = sample_documents()
    first[0]["participant"]["name"] = "changed"
    first[0]["results"].clear()
    second = sample_documents()
    assert second[0]["participant"]["name"] == "Rina Wulandari"
    assert len(second[0]["results"]) == 12


def test_demo_profiles_differ() -> None:
    profiles = {tuple(r["score"] for r in d["results"]) for d in sample_documents()}
    assert len(profiles) == len(sample_documents())


def test_every_demo_document_renders_to_several_pages() -> None:
    renderer = ReportRenderer()  # the built-in psikotes pack
    for document in sample_documents():
        reader = PdfReader(io.BytesIO(renderer.render(document, document["product_id"]).pdf))
        pages = [page.extract_text() for page in reader.pages]
        assert len(pages) >= 2, document["code"]
        assert f"Page 1 of {len(pages)}" in pages[0]
        assert document["participant"]["name"] in pages[0]


@pytest.fixture
def documents(mongo_server: RunningServer) -> Iterator[ReportDocuments]:
    """An empty report collection in a database of its own on the real SecantusDB."""
    name = f"demo_{uuid.uuid4().hex[:16]}"
    documents = ReportDocuments(mongo_server.url, database=name, collection="psikotes_v2")
    yield documents
    documents.client.drop_database(name)
    documents.close()


def _by_key(collection: Collection[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["code"], d["product_id"]): d for d in collection.find({}, {"_id": 0})}


def test_seed_is_idempotent_and_keeps_existing_state(documents: ReportDocuments) -> None:
    demo_collection = documents.collection
    expected = {(d["code"], d["product_id"]): d for d in sample_documents()}
    assert documents.seed(sample_documents()) == len(expected)
    assert _by_key(demo_collection) == expected  # every document once, exactly as defined
    assert demo_collection.count_documents({}) == len(expected)

    state = {"job_id": "j1", "status": "completed", "pdf_url": "http://x/j1.pdf"}
    first = ("DEMO-001", DEMO_PRODUCT_ID)
    demo_collection.update_one(
        {"code": first[0], "product_id": first[1]},
        {"$set": {"pdf_generation": state, "participant.name": "Edited"}},
    )
    assert documents.seed(sample_documents()) == 0
    assert demo_collection.count_documents({}) == len(expected)
    after = _by_key(demo_collection)
    assert after[first]["pdf_generation"] == state
    assert after[first]["participant"]["name"] == "Edited"  # existing documents untouched
    assert {k: v for k, v in after.items() if k != first} == {
        k: v for k, v in expected.items() if k != first
    }

    missing = ("DEMO-006", PERSONALITY_PRODUCT_ID)
    demo_collection.delete_one({"code": missing[0], "product_id": missing[1]})
    assert documents.seed(sample_documents()) == 1  # only the missing one comes back
    assert demo_collection.count_documents({}) == len(expected)
    again = _by_key(demo_collection)
    assert again[missing] == expected[missing]
    assert again[first]["pdf_generation"] == state
