"""Webhook signing and one delivery attempt, against a real HTTP receiver."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from flask_pdfqueue.cli.listener import make_listener
from flask_pdfqueue.config.generated import new_webhook_secret
from flask_pdfqueue.config.settings import ConfigError, Settings
from flask_pdfqueue.webhooks.sender import (
    SENT_UNANSWERED,
    DeliveryResult,
    WebhookSender,
    retry_after_seconds,
)
from flask_pdfqueue.webhooks.signing import sign, verify
from tests.receiver import Reply, WebhookReceiver
from tests.servers import free_port

SECRET = new_webhook_secret()
BODY = json.dumps({"job_id": "pdf_9", "n": "é 🙂"}, ensure_ascii=False).encode()
#: n8n's resume URL carries its own signature: a secret that no log or error may show.
N8N_SECRET = "secret123"


@pytest.fixture
def rec() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _sender(
    timeout: float = 2.0,
    allowed_hosts: tuple[str, ...] = ("127.0.0.1",),
    connect_timeout: float = 1.0,
) -> WebhookSender:
    return WebhookSender(
        secrets=[SECRET],
        allowed_hosts=allowed_hosts,
        timeout=timeout,
        connect_timeout=connect_timeout,
    )


@pytest.fixture
def sender() -> WebhookSender:
    return _sender()


# --- signing -----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b'{"job_id":"pdf_1","status":"completed"}', BODY])
def test_signature_matches_the_reference_library(body: bytes) -> None:
    ours = sign(SECRET, "msg_1", 1764064800, body)
    when = datetime.fromtimestamp(1764064800, tz=UTC)
    assert ours == Webhook(SECRET).sign("msg_1", when, body.decode())
    assert ours.startswith("v1,")
    assert ours != sign(new_webhook_secret(), "msg_1", 1764064800, body)
    assert ours != sign(SECRET, "msg_2", 1764064800, body)
    assert ours != sign(SECRET, "msg_1", 1764064801, body)


def test_during_a_rotation_receivers_with_either_secret_verify_every_event(
    rec: WebhookReceiver,
) -> None:
    new, old = new_webhook_secret(), SECRET
    rotating = WebhookSender(
        secrets=[new, old], allowed_hosts=("127.0.0.1",), timeout=2, connect_timeout=1
    )
    assert rotating.deliver(rec.url_for("/hook"), "msg_9", BODY).delivered
    [hook] = rec.requests("/hook")
    assert len(hook.headers["webhook-signature"].split()) == 2
    for secret in (new, old):  # the reference library, with the receiver's one secret
        Webhook(secret).verify(hook.body, hook.headers)
        assert verify(secret, hook.headers, hook.body)
    assert not verify(new_webhook_secret(), hook.headers, hook.body)


def test_a_rotation_is_two_secrets_in_the_setting() -> None:
    new, old = new_webhook_secret(), new_webhook_secret()
    settings = Settings.from_config({"PDFQUEUE_WEBHOOK_SECRET": f"{new} {old}"}, instance_path="")
    assert settings.webhook_secrets == (new, old)
    with pytest.raises(ConfigError, match="during a rotation"):
        Settings.from_config({"PDFQUEUE_WEBHOOK_SECRET": f"{new} oops"}, instance_path="")


def test_verify_accepts_our_events_and_refuses_tampered_or_stale_ones() -> None:
    body = b'{"a":1}'
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": "v1,bogus " + sign(SECRET, "msg_1", now, body),
    }
    assert verify(SECRET, headers, body)
    assert not verify(SECRET, headers, b'{"a":2}')
    assert not verify(new_webhook_secret(), headers, body)
    assert not verify(SECRET, {**headers, "webhook-id": "msg_2"}, body)
    for skew in (-3600, 3600):  # too old, or from the future
        when = now + skew
        shifted = {
            **headers,
            "webhook-timestamp": str(when),
            "webhook-signature": sign(SECRET, "msg_1", when, body),
        }
        assert not verify(SECRET, shifted, body)
        assert verify(SECRET, shifted, body, tolerance=7200)
    assert not verify(SECRET, {}, body)
    assert not verify(SECRET, {**headers, "webhook-timestamp": "soon"}, body)


# --- one delivery ------------------------------------------------------------------------


def test_delivery_posts_signed_json_to_the_exact_url(
    rec: WebhookReceiver, sender: WebhookSender
) -> None:
    path = f"/webhook-waiting/7?signature={N8N_SECRET}&x=%2F&y=a%20b"
    result = sender.deliver(rec.url_for(path), "msg_9", BODY)
    assert result == DeliveryResult(True, 200, retryable=False)
    [got] = rec.requests(path)
    assert got.method == "POST"
    assert got.path == path  # byte for byte, query string included
    assert got.body == BODY
    assert got.headers["content-type"] == "application/json"
    assert got.headers["content-length"] == str(len(BODY))
    assert got.headers["user-agent"].startswith("flask-pdfqueue/")
    assert got.headers["host"] == f"127.0.0.1:{rec.port}"
    assert got.headers["webhook-id"] == "msg_9"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    assert Webhook(SECRET).verify(got.body, got.headers) == {"job_id": "pdf_9", "n": "é 🙂"}
    assert verify(SECRET, got.headers, got.body)


def test_every_attempt_of_one_event_carries_the_same_id_and_body(
    rec: WebhookReceiver, sender: WebhookSender
) -> None:
    rec.respond("/hook", 503)
    assert not sender.deliver(rec.url_for("/hook"), "msg_9", BODY).delivered
    assert sender.deliver(rec.url_for("/hook"), "msg_9", BODY).delivered
    first, second = rec.requests("/hook")
    assert (first.headers["webhook-id"], first.body) == (second.headers["webhook-id"], second.body)


def test_the_query_string_is_sent_byte_for_byte_even_with_lower_case_escapes(
    rec: WebhookReceiver, sender: WebhookSender
) -> None:
    path = "/webhook-waiting/7?signature=ab%2fcd"
    assert sender.deliver(rec.url_for(path), "msg_9", BODY).delivered
    assert [r.path for r in rec.requests()] == [path]


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (429, True),
        (425, True),
        (408, True),
        ((409, {}, b'{"message":"The execution \\"44\\" is running already."}'), True),
        ((409, {}, b'{"message":"The execution \\"4\\" has finished already."}'), False),
        (404, False),
        (410, False),
        (401, False),
        (400, False),
        (422, False),
    ],
)
def test_failed_answers_say_whether_to_try_again(
    rec: WebhookReceiver, sender: WebhookSender, reply: Reply, retryable: bool
) -> None:
    rec.respond("/hook", reply)
    result = sender.deliver(rec.url_for("/hook"), "msg_1", BODY)
    status = reply if isinstance(reply, int) else reply[0]
    assert (result.delivered, result.status, result.retryable) == (False, status, retryable)
    assert result.error and result.error.startswith(f"HTTP {status}")
    assert len(rec.requests("/hook")) == 1  # one attempt per call: retrying is the caller's


def test_n8n_finished_answer_is_recorded_with_its_reason(
    rec: WebhookReceiver, sender: WebhookSender
) -> None:
    rec.respond("/hook", (409, {}, b'{"message":"The execution \\"4\\" has finished already."}'))
    result = sender.deliver(rec.url_for("/hook"), "msg_1", BODY)
    assert result.error is not None and "has finished already" in result.error


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_delivered(rec: WebhookReceiver, sender: WebhookSender, status: int) -> None:
    rec.respond("/hook", (status, {}, b""))
    result = sender.deliver(rec.url_for("/hook"), "msg_1", BODY)
    assert (result.delivered, result.status, result.retryable, result.error) == (
        True,
        status,
        False,
        None,
    )


def test_retry_after_in_seconds_is_reported(rec: WebhookReceiver, sender: WebhookSender) -> None:
    rec.respond("/hook", (503, {"Retry-After": "120"}, b"busy"))
    result = sender.deliver(rec.url_for("/hook"), "msg_1", BODY)
    assert (result.retryable, result.retry_after) == (True, 120.0)


def test_retry_after_as_an_http_date_is_reported(
    rec: WebhookReceiver, sender: WebhookSender
) -> None:
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    rec.respond("/hook", (429, {"Retry-After": when}, b"slow down"))
    result = sender.deliver(rec.url_for("/hook"), "msg_1", BODY)
    assert result.retryable
    assert result.retry_after is not None
    assert 80 <= result.retry_after <= 90


def test_no_retry_after_means_none(rec: WebhookReceiver, sender: WebhookSender) -> None:
    rec.respond("/hook", 503)
    assert sender.deliver(rec.url_for("/hook"), "msg_1", BODY).retry_after is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: now
    ],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


def test_a_malformed_retry_after_does_not_crash_the_delivery(
    rec: WebhookReceiver, sender: WebhookSender
) -> None:
    # http.server sends header values as Latin-1, so U+00B2 goes out as the byte 0xB2
    rec.respond("/hook", (503, {"Retry-After": "\u00b2"}, b"busy"))
    result = sender.deliver(rec.url_for("/hook"), "msg_1", BODY)
    assert (result.delivered, result.retryable, result.retry_after) == (False, True, None)


def test_redirects_are_not_followed(rec: WebhookReceiver, sender: WebhookSender) -> None:
    for status in (301, 302, 307, 308):
        rec.respond("/hook", (status, {"Location": rec.url_for("/elsewhere")}, b""))
        result = sender.deliver(rec.url_for("/hook"), "msg_1", BODY)
        assert (result.delivered, result.status, result.retryable) == (False, status, False)
    assert rec.requests("/elsewhere") == []


def test_connection_refused_is_worth_retrying(sender: WebhookSender) -> None:
    url = f"http://127.0.0.1:{free_port()}/webhook-waiting/7?signature={N8N_SECRET}"
    result = sender.deliver(url, "msg_1", BODY)
    assert (result.delivered, result.retryable, result.status) == (False, True, None)
    assert (result.error or "").startswith("NewConnectionError")  # nothing went out
    assert N8N_SECRET not in (result.error or "")
    assert "signature" not in (result.error or "")


def test_hosts_outside_the_allow_list_get_no_request(rec: WebhookReceiver) -> None:
    strict = _sender(allowed_hosts=("n8n.internal",))
    result = strict.deliver(rec.url_for(f"/hook?signature={N8N_SECRET}"), "msg_1", BODY)
    assert (result.delivered, result.retryable, result.status) == (False, False, None)
    assert "PDFQUEUE_CALLBACK_ALLOWED_HOSTS" in (result.error or "")
    assert N8N_SECRET not in (result.error or "")
    assert rec.requests() == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/hook",
        "http://user:pw@127.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "not a url",
    ],
)
def test_unusable_urls_are_final_and_send_nothing(rec: WebhookReceiver, url: str) -> None:
    lenient = _sender(allowed_hosts=("127.0.0.1", "169.254.169.254"))
    result = lenient.deliver(url, "msg_1", BODY)
    assert (result.delivered, result.retryable) == (False, False)
    assert (result.error or "").startswith("refused:")
    assert rec.requests() == []


def test_slow_receivers_time_out_without_showing_the_url(rec: WebhookReceiver) -> None:
    path = f"/webhook-waiting/7?signature={N8N_SECRET}"
    rec.respond("/webhook-waiting/7", ("delay", 3.0))
    started = time.monotonic()
    # The read timeout, not the (longer) connect timeout, bounds the wait for the answer.
    result = _sender(timeout=0.5, connect_timeout=5).deliver(rec.url_for(path), "msg_1", BODY)
    assert time.monotonic() - started < 2.5
    assert (result.delivered, result.retryable, result.status) == (False, True, None)
    assert (result.error or "").startswith(SENT_UNANSWERED)
    assert N8N_SECRET not in (result.error or "")
    assert "signature" not in (result.error or "")
    assert len(rec.requests()) == 1  # the request did go out once


# --- the demo listener -------------------------------------------------------------------


def test_demo_listener_prints_events_with_the_signature_verdict(sender: WebhookSender) -> None:
    lines: list[str] = []
    listener = make_listener("127.0.0.1", free_port(), [SECRET], lines.append)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.server_port}/webhook/pdf-complete"
        assert sender.deliver(url, "msg_5", b'{"job_id":"pdf_5"}').delivered
        forged = WebhookSender(
            secrets=[new_webhook_secret()],
            allowed_hosts=("127.0.0.1",),
            timeout=2,
            connect_timeout=1,
        )
        assert forged.deliver(url, "msg_6", b'{"job_id":"pdf_6"}').delivered
    finally:
        listener.shutdown()
        listener.server_close()
    assert "POST /webhook/pdf-complete signature=valid id=msg_5" in lines[0]
    assert '"job_id": "pdf_5"' in lines[1]
    assert "signature=INVALID id=msg_6" in lines[2]
    assert '"job_id": "pdf_6"' in lines[3]
