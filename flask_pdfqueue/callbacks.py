"""Which callback URLs the service will POST to: the guard against request forgery.

Callbacks usually point at n8n on a private network, so private addresses are not
refused outright; instead the host must be on ``PDFQUEUE_CALLBACK_ALLOWED_HOSTS``.
Addresses no webhook receiver lives at (link-local, cloud metadata, unspecified,
multicast) are refused for every host, and names are resolved again at delivery
time and the connection pinned to the checked address (no DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit, urlunsplit

COMPLETE_SUFFIX = "/pdf-complete"
FAILED_SUFFIX = "/pdf-failed"


class CallbackRefused(ValueError):
    """The URL may not be used as a callback; the message says why."""


class UnresolvableHost(CallbackRefused):
    """The callback's host name does not resolve now; a later attempt may succeed."""


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """``host`` equals an entry, or ends with an entry that starts with a dot."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().strip()
        if entry.startswith(".") and (host.endswith(entry) or host == entry[1:]):
            return True
        if host == entry:
            return True
    return False


def _never_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:  # ::1 sits in the reserved ::/8, yet n8n on this host is fine
        return False
    return ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved


def check_callback_url(url: str, allowed_hosts: Iterable[str]) -> SplitResult:
    """Parse and vet a callback URL, or raise :class:`CallbackRefused`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("must not carry a user name or password")
    if port == 0:
        raise CallbackRefused("must not use port 0")
    host = parts.hostname
    if not host_allowed(host, allowed_hosts):
        raise CallbackRefused(
            f"host {host!r} is not in PDFQUEUE_CALLBACK_ALLOWED_HOSTS; add it there to allow it"
        )
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and _never_allowed(str(literal)):
        raise CallbackRefused(f"address {host} is never a webhook receiver")
    return parts


def failure_callback_for(callback: str) -> str:
    """``…/pdf-complete`` becomes ``…/pdf-failed``; any other URL receives failures itself."""
    parts = urlsplit(callback)
    if parts.path.endswith(COMPLETE_SUFFIX):
        path = parts.path[: -len(COMPLETE_SUFFIX)] + FAILED_SUFFIX
        return urlunsplit(parts._replace(path=path))
    return callback


def resolve_for_delivery(parts: SplitResult) -> list[str]:
    """The addresses to try, in order, each checked after resolution (the request is pinned
    to one of them, so a second lookup cannot swap in another)."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise CallbackRefused(f"{host!r} is not a valid host name: {exc}") from exc
    except OSError as exc:
        raise UnresolvableHost(f"cannot resolve {host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = [a for a in addresses if _never_allowed(a)]
    if refused:
        raise CallbackRefused(f"{host!r} resolves to a refused address ({refused[0]})")
    return addresses
