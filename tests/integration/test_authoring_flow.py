"""Issue 11 on the real stack: a custom template folder, renderer warnings in the status,
a per-product PDF/A variant, the PDF inline in the webhook, and trace context; and a
second report pack (``examples/packs/certificate``) added by its settings alone.

A worker and a delivery worker of their own (``flask pdfqueue worker`` and
``delivery-worker``), configured with a template folder and map of this module's
making, on their own Redis database, SQLite file and MongoDB database.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader

from flask_pdfqueue import PDFQueueState
from tests.conftest import (
    API_KEY,
    isolated_worker_env,
    make_isolated_app,
    start_worker_process,
    stop_worker_process,
)
from tests.integration.helpers import (
    callback_paths,
    new_report,
    settled,
    submit,
    submit_report,
    verified,
)
from tests.pdfs import pdfa_identification
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer

pytestmark = pytest.mark.integration

EXAMPLE_PACK = Path(__file__).resolve().parents[2] / "examples" / "packs" / "certificate"

AUTH = {"X-API-Key": API_KEY}
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"

#: A template a careless author might write: a misspelt CSS property and a font the
#: machine does not have. WeasyPrint warns about both and renders the page anyway.
WARNED_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<style>
@font-face { font-family: Missing; src: local("No Such Font Anywhere") }
p.name {colr: red}
</style></head>
<body><p class="name">{{ participant.name }}</p><p>{{ report.code }}</p></body></html>
"""


@dataclass(frozen=True)
class Stack:
    state: PDFQueueState
    client: FlaskClient
    worker_log: Path


@pytest.fixture(scope="module")
def stack(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("authoring")
    templates = home / "templates"
    templates.mkdir()
    (templates / "warned.html").write_text(WARNED_TEMPLATE)
    settings = {
        **stack_settings,
        "PDFQUEUE_TEMPLATE_FOLDER": str(templates),
        "PDFQUEUE_REPORT_PACKS": f"certificate={EXAMPLE_PACK}",
        "PDFQUEUE_TEMPLATE_MAP": (
            "warned=warned.html, archive=psikotes.html pdf/a-3b, courseCertificate=certificate"
        ),
    }
    app = make_isolated_app(settings, redis_server, home, redis_db=12)
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.documents.seed(state.renderer.packs["certificate"].sample_documents())
    env = isolated_worker_env(settings, state)
    worker = start_worker_process(state, env, home / "worker.log")
    deliveries = start_worker_process(state, env, home / "delivery.log", "delivery-worker")
    try:
        yield Stack(state, app.test_client(), home / "worker.log")
    finally:
        stop_worker_process(worker)
        stop_worker_process(deliveries)
        state.close()


def _render(stack: Stack, product_id: str, **body: object) -> tuple[str, dict[str, object]]:
    """Submit a fresh report for ``product_id`` and wait for its outcome; job id and status."""
    document = new_report(stack.state, product_id=product_id)
    job_id = str(
        submit(stack.client, AUTH, code=document["code"], productId=product_id, **body)["job_id"]
    )
    settled(stack.state, job_id, timeout=90)
    status: dict[str, object] = stack.client.get(f"/api/jobs/{job_id}", headers=AUTH).get_json()
    return job_id, status


def _download(stack: Stack, job_id: str) -> bytes:
    response = stack.client.get(f"/api/jobs/{job_id}/download", headers=AUTH)
    assert response.status_code == 200
    return bytes(response.data)


def test_renderer_warnings_show_in_the_status_of_a_completed_job(stack: Stack) -> None:
    job_id, status = _render(stack, "warned")

    assert status["status"] == "completed"
    assert status["render_warnings"] == [
        "Font-face 'Missing' cannot be loaded",
        "Ignored `colr: red` at 3:9, unknown property.",  # line 3 of the <style>
    ]
    pdf = PdfReader(io.BytesIO(_download(stack, job_id)))
    assert "Rina Wulandari" in pdf.pages[0].extract_text()

    _, clean = _render(stack, "minatBakatUmum")
    assert clean["render_warnings"] == []


def test_a_product_mapped_to_pdf_a_gets_pdf_a_and_the_others_do_not(stack: Stack) -> None:
    archived, _ = _render(stack, "archive")
    plain, _ = _render(stack, "minatBakatUmum")

    assert pdfa_identification(_download(stack, archived)) == ("3", "B")
    assert pdfa_identification(_download(stack, plain)) is None


def test_a_second_pack_renders_its_product_through_the_queue(stack: Stack) -> None:
    response = submit(stack.client, AUTH, code="CERT-001", productId="courseCertificate")
    settled(stack.state, str(response["job_id"]), timeout=90)
    pdf = _download(stack, str(response["job_id"]))

    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Report Writing for Assessors" in text and "Rina Wulandari" in text
    assert pdfa_identification(pdf) == ("3", "B")  # the pack's own PDF variant


def test_an_inline_delivery_carries_the_very_pdf_that_was_stored(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    ok_path, _ = callback_paths()
    linked_path, _ = callback_paths()
    document = new_report(stack.state)
    body = {"code": document["code"], "productId": document["product_id"]}
    job_id = submit(
        stack.client, AUTH, **body, callback=receiver.url_for(ok_path), deliver="inline"
    )["job_id"]
    joined = stack.client.post(  # a second caller, happy with a link
        "/api/reports/generate-async",
        json={**body, "callback": receiver.url_for(linked_path)},
        headers=AUTH,
    )
    assert joined.get_json()["job_id"] == job_id

    [hook] = receiver.wait_for(ok_path, timeout=90)
    [linked] = receiver.wait_for(linked_path, timeout=30)
    secret = stack.state.settings.webhook_secret
    payload, link_only = verified(hook, secret), verified(linked, secret)

    stored = _download(stack, job_id)
    assert base64.b64decode(payload["pdf_base64"], validate=True) == stored
    assert payload["pdf_size"] == len(stored)
    assert payload["pdf_sha256"] == hashlib.sha256(stored).hexdigest()
    assert payload["pdf_url"].endswith(f"/api/jobs/{job_id}/download")
    assert "pdf_base64" not in link_only


def test_the_submits_trace_reaches_the_worker_log_and_every_delivery(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    ok_path, _ = callback_paths()
    document = new_report(stack.state)
    response = stack.client.post(
        "/api/reports/generate-async",
        json={
            "code": document["code"],
            "productId": document["product_id"],
            "callback": receiver.url_for(ok_path),
        },
        headers={**AUTH, "traceparent": TRACEPARENT},
    )
    job_id = response.get_json()["job_id"]

    [hook] = receiver.wait_for(ok_path, timeout=90)
    sent = hook.headers["traceparent"]
    assert re.fullmatch(rf"00-{TRACE_ID}-[0-9a-f]{{16}}-01", sent)
    assert sent != TRACEPARENT  # the delivery is a span of its own
    settled(stack.state, job_id)
    status = stack.client.get(f"/api/jobs/{job_id}", headers=AUTH).get_json()
    assert status["trace_id"] == TRACE_ID

    job_lines = [line for line in stack.worker_log.read_text().splitlines() if job_id in line]
    stages = ("loading", "rendering", "storing", "recording", "completed")
    for stage in stages:
        [line] = [line for line in job_lines if f"job {job_id} {stage}" in line]
        assert f"trace={TRACE_ID}:" in line, line
    delivered = [  # the job process made the attempt, on its courier thread
        line for line in job_lines if f"job {job_id}: completed webhook" in line
    ]
    assert delivered and all(f"trace={TRACE_ID}:" in line for line in delivered)


def test_a_submit_without_a_trace_gets_one_of_its_own(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    ok_path, _ = callback_paths()
    document = new_report(stack.state)
    job_id = submit_report(
        stack.client,
        AUTH,
        document,
        callback=receiver.url_for(ok_path),
    )["job_id"]

    [hook] = receiver.wait_for(ok_path, timeout=90)
    settled(stack.state, job_id)
    trace_id = stack.client.get(f"/api/jobs/{job_id}", headers=AUTH).get_json()["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    assert hook.headers["traceparent"].split("-")[1] == trace_id
