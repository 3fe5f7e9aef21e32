"""Demo documents: the promised codes exist, they render, and seeding is idempotent."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection
from pypdf import PdfReader

from flask_pdfqueue.reports.choice import DEFAULT_TEMPLATE
from flask_pdfqueue.reports.packs.psikotes.context import build_psikotes_context
from flask_pdfqueue.reports.packs.psikotes.samples import (
    DEMO_PRODUCT_ID,
    PERSONALITY_PRODUCT_ID,
    demo_documents,
    seed_demo_documents,
)
from flask_pdfqueue.reports.rendering import ReportRenderer
from tests.servers import RunningServer


def test_spec_demo_codes_exist_for_minat_bakat_umum() -> None:
    keys = {(d["code"], d["product_id"]) for d in demo_documents()}
    assert {(f"DEMO-00{n}", DEMO_PRODUCT_ID) for n in range(1, 6)} <= keys
    assert {code for code, product in keys if product == PERSONALITY_PRODUCT_ID} >= {"DEMO-006"}
    assert len(keys) == len(demo_documents())  # (code, product_id) is unique


def test_demo_documents_are_fresh_copies() -> None:
    first = demo_documents()
    first[0]["participant"]["name"] = "changed"
    first[0]["results"].clear()
    second = demo_documents()
    assert second[0]["participant"]["name"] == "Rina Wulandari"
    assert len(second[0]["results"]) == 12


def test_demo_profiles_differ() -> None:
    profiles = {tuple(r["score"] for r in d["results"]) for d in demo_documents()}
    assert len(profiles) == len(demo_documents())


def test_every_demo_document_renders_to_several_pages() -> None:
    renderer = ReportRenderer(
        template_folders=[],
        template_map={},
        default_template=DEFAULT_TEMPLATE,
        context_builder=build_psikotes_context,
    )
    for document in demo_documents():
        reader = PdfReader(io.BytesIO(renderer.render(document, document["product_id"]).pdf))
        pages = [page.extract_text() for page in reader.pages]
        assert len(pages) >= 2, document["code"]
        assert f"Page 1 of {len(pages)}" in pages[0]
        assert document["participant"]["name"] in pages[0]


@pytest.fixture
def demo_collection(mongo_server: RunningServer) -> Iterator[Collection[dict[str, Any]]]:
    """An empty report collection in a database of its own on the real SecantusDB."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongo_server.url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    name = f"demo_{uuid.uuid4().hex[:16]}"
    yield client[name]["psikotes_v2"]
    client.drop_database(name)
    client.close()


def _by_key(collection: Collection[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["code"], d["product_id"]): d for d in collection.find({}, {"_id": 0})}


def test_seed_is_idempotent_and_keeps_existing_state(
    demo_collection: Collection[dict[str, Any]],
) -> None:
    expected = {(d["code"], d["product_id"]): d for d in demo_documents()}
    assert seed_demo_documents(demo_collection) == len(expected)
    assert _by_key(demo_collection) == expected  # every document once, exactly as defined
    assert demo_collection.count_documents({}) == len(expected)

    state = {"job_id": "j1", "status": "completed", "pdf_url": "http://x/j1.pdf"}
    first = ("DEMO-001", DEMO_PRODUCT_ID)
    demo_collection.update_one(
        {"code": first[0], "product_id": first[1]},
        {"$set": {"pdf_generation": state, "participant.name": "Edited"}},
    )
    assert seed_demo_documents(demo_collection) == 0
    assert demo_collection.count_documents({}) == len(expected)
    after = _by_key(demo_collection)
    assert after[first]["pdf_generation"] == state
    assert after[first]["participant"]["name"] == "Edited"  # existing documents untouched
    assert {k: v for k, v in after.items() if k != first} == {
        k: v for k, v in expected.items() if k != first
    }

    missing = ("DEMO-006", PERSONALITY_PRODUCT_ID)
    demo_collection.delete_one({"code": missing[0], "product_id": missing[1]})
    assert seed_demo_documents(demo_collection) == 1  # only the missing one comes back
    assert demo_collection.count_documents({}) == len(expected)
    again = _by_key(demo_collection)
    assert again[missing] == expected[missing]
    assert again[first]["pdf_generation"] == state
