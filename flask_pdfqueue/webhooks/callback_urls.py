"""Which callback URLs the service will POST to: the guard against request forgery.

Callbacks usually point at n8n on a private network, so private addresses are not
refused outright; instead the host must be on ``PDFQUEUE_CALLBACK_ALLOWED_HOSTS``.
Addresses no webhook receiver lives at (link-local, cloud metadata, unspecified,
multicast) are refused for every host, in every spelling: IPv4 inside IPv6 (mapped,
NAT64, 6to4) and the decimal, octal and hex forms resolvers accept (``0xa9fea9fe``).
Names are resolved again at delivery time and the connection pinned to the checked
address (no DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit, urlunsplit

COMPLETE_SUFFIX = "/pdf-complete"
FAILED_SUFFIX = "/pdf-failed"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud metadata services outside 169.254.0.0/16 (link-local, refused anyway).
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "100.100.100.200/32",  # Alibaba Cloud
        "fd00:ec2::254/128",  # AWS instance metadata over IPv6
        "192.0.0.192/32",  # Oracle Cloud (classic) metadata
    )
)
#: IPv6 prefixes whose last 32 bits are an IPv4 address a translator connects to (RFC 6052,
#: RFC 8215 with the common /96 layout).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: A host of numbers only: what ``inet_aton`` (and so ``getaddrinfo``) reads as IPv4.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.I)


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
    return _refused(ipaddress.ip_address(address))


def _refused(ip: IPAddress) -> bool:
    """No webhook receiver lives there: link-local (cloud metadata), other metadata
    services, unspecified, multicast, reserved; judged by the IPv4 address an IPv6 one
    carries when it carries one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # the same host, reached over IPv6
            return _refused(ip.ipv4_mapped)
        translated = _translated_ipv4(ip)
        if translated is not None:  # a translator's target: never this host's loopback
            return translated.is_loopback or _refused(translated)
    if any(ip in network for network in METADATA_NETWORKS):
        return True
    if ip.is_loopback:  # ::1 sits in the reserved ::/8, yet n8n on this host is fine
        return False
    return ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved


def _translated_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64 or 6to4 address leads to, if it is one."""
    if any(ip in prefix for prefix in _NAT64):
        return ipaddress.IPv4Address(ip.packed[-4:])
    return ip.sixtofour


def _literal_address(host: str) -> IPAddress | None:
    """The address a URL's host spells out, in any form a resolver accepts, or None for a name.

    Besides the usual forms, ``inet_aton`` (behind ``getaddrinfo``) reads ``2852039166``,
    ``0251.0376.0251.0376``, ``0xa9fea9fe`` or ``169.254.43518`` as IPv4 addresses.
    """
    text = host.rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if not _NUMERIC_HOST.fullmatch(text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        raise CallbackRefused(f"host {host!r} is neither a name nor an IPv4 address") from None


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
    literal = _literal_address(host)
    if literal is not None and _refused(literal):
        raise CallbackRefused(f"address {host} is never a webhook receiver")
    if isinstance(literal, ipaddress.IPv4Address) and str(literal) != host.rstrip("."):
        raise CallbackRefused(f"host {host!r} stands for the address {literal}: write it so")
    if not host_allowed(host, allowed_hosts):
        raise CallbackRefused(
            f"host {host!r} is not in PDFQUEUE_CALLBACK_ALLOWED_HOSTS; add it there to allow it"
        )
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
