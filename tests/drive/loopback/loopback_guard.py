"""Only loopback: a socket guard for the Drive tests and the workers they start.

Google's libraries reach out on their own (application default credentials probe the
GCE metadata server; google-auth looked up "regional access boundaries" in the
background): any connection to an address other than 127.0.0.0/8, ::1 or a Unix
socket is refused, written to stderr, and remembered in :data:`BLOCKED`, so that a
test can fail on it even when the library swallowed the error and retried.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

BLOCKED: list[str] = []
MARK = "loopback guard blocked a connection to"
_connect_original = socket.socket.connect
_connect_ex_original = socket.socket.connect_ex
_getaddrinfo_original = socket.getaddrinfo


def allowed(family: int, address: Any) -> bool:
    if family == getattr(socket, "AF_UNIX", None):
        return True
    if family not in (socket.AF_INET, socket.AF_INET6):
        return False
    host = str(address[0]).split("%", 1)[0]
    if isinstance(address[0], bytes):
        host = address[0].decode(errors="replace")
    if host in ("localhost", "", "::1"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: resolving it may already be leaving the machine


def _check(sock: socket.socket, address: Any) -> None:
    if not allowed(sock.family, address):
        where = f"{address!r}"
        BLOCKED.append(where)
        print(f"{MARK} {where}", file=sys.stderr, flush=True)
        raise ConnectionRefusedError(f"{MARK} {where} (tests stay on loopback)")


def _connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    _connect_original(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _connect_ex_original(self, address)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """Looking a name up is the first step out: only loopback names and addresses pass."""
    if host is not None and not allowed(socket.AF_INET, (host, 0)):
        where = f"{host!r} (name lookup)"
        BLOCKED.append(where)
        print(f"{MARK} {where}", file=sys.stderr, flush=True)
        raise socket.gaierror(socket.EAI_NONAME, f"{MARK} {where} (tests stay on loopback)")
    return _getaddrinfo_original(host, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = _getaddrinfo


def uninstall() -> None:
    socket.socket.connect = _connect_original  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex_original  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo_original
