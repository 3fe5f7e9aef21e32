"""Secrets the service generates on first start and keeps in files: the API key, the
dashboard password, the webhook secret."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path


def load_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """Read a generated secret from ``path``, creating it (mode 0600) on first use.

    The file appears complete or not at all (written aside, then linked into place),
    so processes starting together all end up with the same secret.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp creates it with mode 0600
                handle.write(make() + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its value
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def new_api_key() -> str:
    return "pdfq_" + secrets.token_urlsafe(32)


def new_dashboard_password() -> str:
    return secrets.token_urlsafe(18)


def new_webhook_secret() -> str:
    """A Standard Webhooks secret whose key is text (64 hex digits, 256 bits): n8n's Crypto
    node takes an HMAC key as text only, so a key of raw bytes could not be checked there."""
    return "whsec_" + base64.b64encode(secrets.token_hex(32).encode()).decode()
