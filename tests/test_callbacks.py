"""The callback guard: allow-list, refused addresses, the failure URL n8n expects."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from flask_pdfqueue.callbacks import (
    CallbackRefused,
    check_callback_url,
    failure_callback_for,
    host_allowed,
    resolve_for_delivery,
)

RESUME_URL = (
    "http://127.0.0.1:5678/webhook-waiting/4?signature="
    "6b2a022ec340ccd0197c6656b7a4c1685349b85475d9d625a3667f103dd76ae6"
)


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("n8n.internal", ["n8n.internal"], True),
        ("N8N.Internal.", ["n8n.internal"], True),
        ("hooks.example.com", [".example.com"], True),
        ("example.com", [".example.com"], True),
        ("badexample.com", [".example.com"], False),
        ("example.com.evil.net", [".example.com"], False),
        ("127.0.0.2", ["127.0.0.1"], False),
    ],
)
def test_host_allowed(host: str, allowed: list[str], expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0:8080/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_addresses_no_receiver_lives_at_are_refused_even_when_allowed(url: str) -> None:
    host = urlsplit(url).hostname or ""
    with pytest.raises(CallbackRefused, match="never a webhook receiver"):
        check_callback_url(url, [host])


def test_resume_url_with_query_string_is_accepted_byte_for_byte() -> None:
    parts = check_callback_url(RESUME_URL, ["127.0.0.1"])
    assert parts.geturl() == RESUME_URL


@pytest.mark.parametrize(
    ("callback", "failure"),
    [
        ("http://n8n/webhook/pdf-complete", "http://n8n/webhook/pdf-failed"),
        ("http://n8n/webhook/pdf-complete?x=1", "http://n8n/webhook/pdf-failed?x=1"),
        (RESUME_URL, RESUME_URL),
        ("http://n8n/webhook/pdf-complete-v2", "http://n8n/webhook/pdf-complete-v2"),
    ],
)
def test_failure_callback_defaults(callback: str, failure: str) -> None:
    assert failure_callback_for(callback) == failure


def test_resolution_refuses_names_that_point_at_refused_addresses() -> None:
    assert set(resolve_for_delivery(urlsplit("http://localhost:9/x"))) <= {"127.0.0.1", "::1"}
    with pytest.raises(CallbackRefused, match="cannot resolve"):
        resolve_for_delivery(urlsplit("http://no-such-host.invalid/x"))


@pytest.mark.parametrize("url", ["http://[::1]:5678/webhook/x", "http://127.0.0.1:5678/x"])
def test_loopback_is_a_receiver_like_any_other(url: str) -> None:
    host = urlsplit(url).hostname or ""
    assert check_callback_url(url, [host]).hostname == host
