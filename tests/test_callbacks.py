"""The callback guard: allow-list, refused addresses, the failure URL n8n expects."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from flask_pdfqueue.webhooks.callback_urls import (
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


#: Cloud metadata services, spelled every way a URL or a resolver accepts them.
METADATA_HOSTS = [
    "169.254.169.254",
    "169.254.170.2",  # ECS task metadata: all of 169.254/16 is link-local
    "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]",
    "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b::169.254.169.254]",
    "[2002:a9fe:a9fe::1]",
    "100.100.100.200",
    "[64:ff9b::6464:64c8]",  # Alibaba's, through NAT64
    "[fd00:ec2::254]",
    "2852039166",
    "0251.0376.0251.0376",
    "0xa9fea9fe",
    "0xA9FEA9FE",
    "169.254.43518",
]


@pytest.mark.parametrize("host", METADATA_HOSTS)
def test_metadata_addresses_are_refused_in_every_spelling_whatever_the_allow_list(
    host: str,
) -> None:
    url = f"http://{host}/latest/meta-data"
    allowed = [urlsplit(url).hostname or "", ".internal", "169.254.169.254"]
    with pytest.raises(CallbackRefused, match="never a webhook receiver"):
        check_callback_url(url, allowed)
    # Fully qualified. After an IPv6 literal ("[…].") that is no URL at all, and whether
    # urllib.parse says so itself depends on the Python patch release: only the refusal counts.
    with pytest.raises(CallbackRefused):
        check_callback_url(url.replace(f"{host}/", f"{host}./"), allowed)


@pytest.mark.parametrize("host", METADATA_HOSTS)
def test_metadata_addresses_are_refused_after_resolution(host: str) -> None:
    # getaddrinfo reads every one of these spellings itself: this is what delivery sees.
    with pytest.raises(CallbackRefused, match="resolves to a refused address"):
        resolve_for_delivery(urlsplit(f"http://{host}:80/hook"))


@pytest.mark.parametrize(
    ("host", "canonical"),
    [("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1")],
)
def test_unusual_spellings_of_allowed_addresses_are_refused_with_the_usual_one(
    host: str, canonical: str
) -> None:
    with pytest.raises(CallbackRefused, match=f"stands for the address {canonical}"):
        check_callback_url(f"http://{host}:5678/hook", [host, canonical])


def test_numbers_that_are_no_address_are_refused() -> None:
    with pytest.raises(CallbackRefused, match="neither a name nor an IPv4 address"):
        check_callback_url("http://99999999999/hook", ["99999999999"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5678/webhook/x",
        "http://[::1]:5678/webhook/x",
        "http://[::ffff:127.0.0.1]:5678/webhook/x",
        "http://localhost:5678/webhook/x",
        "http://[64:ff9b::808:808]/webhook/x",  # NAT64 to a public address
    ],
)
def test_loopback_and_ordinary_addresses_stay_allowed_on_the_allow_list(url: str) -> None:
    parts = check_callback_url(url, [urlsplit(url).hostname or ""])
    assert resolve_for_delivery(parts)


def test_a_translator_never_leads_to_this_hosts_loopback() -> None:
    with pytest.raises(CallbackRefused, match="never a webhook receiver"):
        check_callback_url("http://[64:ff9b::7f00:1]/hook", ["64:ff9b::7f00:1"])
