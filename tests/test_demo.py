"""Demo documents: the promised codes exist, they render, and seeding is idempotent."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader

from flask_pdfqueue.demo import (
    DEMO_PRODUCT_ID,
    PERSONALITY_PRODUCT_ID,
    demo_documents,
    seed_demo_documents,
)
from flask_pdfqueue.rendering import DEFAULT_TEMPLATE, ReportRenderer
from flask_pdfqueue.report_context import build_psikotes_context


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
        reader = PdfReader(io.BytesIO(renderer.render(document, document["product_id"])))
        pages = [page.extract_text() for page in reader.pages]
        assert len(pages) >= 2, document["code"]
        assert f"Page 1 of {len(pages)}" in pages[0]
        assert document["participant"]["name"] in pages[0]


@dataclass
class _UpdateResult:
    upserted_id: Any


class _FakeCollection:
    """Just the ``update_one`` upsert semantics seed_demo_documents relies on."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def update_one(
        self, filter: dict[str, Any], update: dict[str, Any], upsert: bool = False
    ) -> _UpdateResult:
        assert set(update) == {"$setOnInsert"} and upsert
        for document in self.documents:
            if all(document.get(k) == v for k, v in filter.items()):
                return _UpdateResult(None)
        self.documents.append({**filter, **update["$setOnInsert"]})
        return _UpdateResult(len(self.documents))


def test_seed_is_idempotent_and_keeps_existing_state() -> None:
    collection = _FakeCollection()
    total = len(demo_documents())
    assert seed_demo_documents(collection) == total  # type: ignore[arg-type]
    collection.documents[0]["pdf_generation"] = {"status": "completed"}
    assert seed_demo_documents(collection) == 0  # type: ignore[arg-type]
    assert len(collection.documents) == total
    assert collection.documents[0]["pdf_generation"] == {"status": "completed"}
    assert collection.documents[0] == {
        **demo_documents()[0],
        "pdf_generation": {"status": "completed"},
    }
