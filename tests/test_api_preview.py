"""``GET /api/reports/preview``: a report rendered on the spot (real MongoDB, WeasyPrint)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents
from tests.conftest import make_isolated_app
from tests.servers import RunningServer

PREVIEW = "/api/reports/preview"


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=11)
    yield app
    app.extensions["pdfqueue"].close()


def test_a_report_previews_as_html_and_as_pdf(app: Flask, auth: dict[str, str]) -> None:
    name = sample_documents()[0]["participant"]["name"]
    client = app.test_client()
    html = client.get(f"{PREVIEW}?code=DEMO-001&productId=minatBakatUmum", headers=auth)
    assert (html.status_code, html.mimetype) == (200, "text/html")
    assert name in html.get_data(as_text=True)
    pdf = client.get(f"{PREVIEW}?code=DEMO-001&productId=minatBakatUmum&format=pdf", headers=auth)
    assert (pdf.status_code, pdf.mimetype) == (200, "application/pdf")
    assert pdf.data.startswith(b"%PDF")
    state: PDFQueueState = app.extensions["pdfqueue"]
    assert state.queue.waiting() == 0  # nothing queued, nothing recorded


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("code=NOPE&productId=minatBakatUmum", 404, "report_not_found"),
        ("code=BROKEN&productId=minatBakatUmum", 422, "template_error"),
        ("productId=minatBakatUmum", 400, "invalid_query"),
        ("code=DEMO-001&productId=minatBakatUmum&format=docx", 400, "invalid_query"),
    ],
)
def test_what_cannot_be_previewed_says_why(
    app: Flask, auth: dict[str, str], query: str, status: int, code: str
) -> None:
    state: PDFQueueState = app.extensions["pdfqueue"]
    broken = {**sample_documents()[0], "code": "BROKEN", "results": "not a list"}
    state.documents.collection.update_one({"code": "BROKEN"}, {"$set": broken}, upsert=True)
    response = app.test_client().get(f"{PREVIEW}?{query}", headers=auth)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_production_has_no_preview_unless_switched_on(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    tmp_path: Path,
    auth: dict[str, str],
) -> None:
    production = {
        **stack_settings,
        "PDFQUEUE_PROFILE": "production",
        "PDFQUEUE_PUBLIC_URL": "https://pdf.example.com",
        "PDFQUEUE_DASHBOARD_PASSWORD": "dashboard-secret",
        "PDFQUEUE_CALLBACK_ALLOWED_HOSTS": "n8n.example.com",
    }
    for switch, status in (("false", 403), ("true", 200)):
        (tmp_path / switch).mkdir()
        app = make_isolated_app(
            {**production, "PDFQUEUE_PREVIEW": switch}, redis_server, tmp_path / switch, redis_db=11
        )
        response = app.test_client().get(
            f"{PREVIEW}?code=DEMO-001&productId=minatBakatUmum", headers=auth
        )
        assert response.status_code == status
        if status == 403:
            assert response.get_json()["error"]["code"] == "preview_disabled"
        app.extensions["pdfqueue"].close()
