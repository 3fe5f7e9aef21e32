"""Webhook signing and one delivery attempt, against a real HTTP receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from flask_pdfqueue.config import new_webhook_secret
from flask_pdfqueue.webhook_listener import make_listener
from flask_pdfqueue.webhooks import WebhookSender, sign, verify
from tests.receiver import WebhookReceiver
from tests.servers import free_port

SECRET = new_webhook_secret()


@pytest.fixture
def rec() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def sender() -> WebhookSender:
    return WebhookSender(
        secret=SECRET, allowed_hosts=("127.0.0.1",), timeout=2.0, connect_timeout=1.0
    )


def test_signature_matches_the_reference_library() -> None:
    body = b'{"job_id":"pdf_1","status":"completed"}'
    ours = sign(SECRET, "pdf_1.completed", 1764064800, body)
    when = datetime.fromtimestamp(1764064800, tz=UTC)
    assert ours == Webhook(SECRET).sign("pdf_1.completed", when, body.decode())
    assert ours != sign(new_webhook_secret(), "pdf_1.completed", 1764064800, body)


def test_delivery_posts_signed_json_to_the_exact_url(
    rec: WebhookReceiver, sender: WebhookSender
) -> None:
    path = "/webhook-waiting/7?signature=ab%2Fcd&x=1"
    result = sender.deliver(rec.url_for(path), "pdf_9.completed", {"job_id": "pdf_9", "n": "é"})
    assert (result.delivered, result.status) == (True, 200)
    [got] = rec.requests(path)
    assert got.method == "POST"
    assert got.path == path
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == "pdf_9.completed"
    assert Webhook(SECRET).verify(got.body, got.headers) == {"job_id": "pdf_9", "n": "é"}
    assert json.loads(got.body) == {"job_id": "pdf_9", "n": "é"}


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        ((409, {}, b'{"message":"The execution \\"44\\" is running already."}'), True),
        ((409, {}, b'{"message":"The execution \\"4\\" has finished already."}'), False),
        (404, False),
        (410, False),
        (401, False),
    ],
)
def test_failed_answers_say_whether_to_try_again(
    rec: WebhookReceiver, sender: WebhookSender, reply: object, retryable: bool
) -> None:
    rec.respond("/hook", reply)  # type: ignore[arg-type]
    result = sender.deliver(rec.url_for("/hook"), "id", {"a": 1})
    assert result.delivered is False
    assert result.retryable is retryable
    assert result.error


def test_redirects_are_not_followed(rec: WebhookReceiver, sender: WebhookSender) -> None:
    rec.respond("/hook", (302, {"Location": rec.url_for("/elsewhere")}, b""))
    result = sender.deliver(rec.url_for("/hook"), "id", {"a": 1})
    assert (result.delivered, result.status) == (False, 302)
    assert rec.requests("/elsewhere") == []


def test_connection_refused_is_worth_retrying(sender: WebhookSender) -> None:
    result = sender.deliver(f"http://127.0.0.1:{free_port()}/hook", "id", {"a": 1})
    assert (result.delivered, result.retryable, result.status) == (False, True, None)


def test_hosts_outside_the_allow_list_get_no_request(rec: WebhookReceiver) -> None:
    strict = WebhookSender(
        secret=SECRET, allowed_hosts=("n8n.internal",), timeout=2, connect_timeout=1
    )
    result = strict.deliver(rec.url_for("/hook"), "id", {"a": 1})
    assert result.delivered is False and result.retryable is False
    assert "PDFQUEUE_CALLBACK_ALLOWED_HOSTS" in (result.error or "")
    assert rec.requests() == []


def test_slow_receivers_time_out(rec: WebhookReceiver) -> None:
    quick = WebhookSender(
        secret=SECRET, allowed_hosts=("127.0.0.1",), timeout=0.5, connect_timeout=1
    )
    rec.respond("/slow", ("delay", 3.0))
    result = quick.deliver(rec.url_for("/slow"), "id", {"a": 1})
    assert (result.delivered, result.retryable) == (False, True)


def test_verify_accepts_our_events_and_refuses_tampered_or_stale_ones() -> None:
    body = b'{"a":1}'
    now = int(time.time())
    headers = {
        "webhook-id": "pdf_1.completed",
        "webhook-timestamp": str(now),
        "webhook-signature": "v1,bogus " + sign(SECRET, "pdf_1.completed", now, body),
    }
    assert verify(SECRET, headers, body)
    assert not verify(SECRET, headers, b'{"a":2}')
    assert not verify(new_webhook_secret(), headers, body)
    stale = now - 3600
    old = {**headers, "webhook-timestamp": str(stale)}
    old["webhook-signature"] = sign(SECRET, "pdf_1.completed", stale, body)
    assert not verify(SECRET, old, body)
    assert not verify(SECRET, {}, body)


def test_demo_listener_prints_events_with_the_signature_verdict(sender: WebhookSender) -> None:
    lines: list[str] = []
    listener = make_listener("127.0.0.1", free_port(), SECRET, lines.append)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.server_port}/webhook/pdf-complete"
        assert sender.deliver(url, "pdf_5.completed", {"job_id": "pdf_5"}).delivered
        forged = WebhookSender(
            secret=new_webhook_secret(), allowed_hosts=("127.0.0.1",), timeout=2, connect_timeout=1
        )
        assert forged.deliver(url, "pdf_6.completed", {"job_id": "pdf_6"}).delivered
    finally:
        listener.shutdown()
        listener.server_close()
    assert "signature=valid id=pdf_5.completed" in lines[0]
    assert '"job_id": "pdf_5"' in lines[1]
    assert "signature=INVALID id=pdf_6.completed" in lines[2]
