"""API-key authentication: ``X-API-Key`` or ``Authorization: Bearer``, constant-time compare."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from flask import request

from .envelope import APIError


def presented_key() -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def key_is_valid(key: str, valid_keys: Iterable[str]) -> bool:
    """Whether ``key`` is one of ``valid_keys``, compared in constant time."""
    matched = False
    for valid in valid_keys:  # compare with every key, so timing does not reveal which matched
        matched |= hmac.compare_digest(key.encode(), valid.encode())
    return matched


def require_api_key(valid_keys: Iterable[str]) -> None:
    """Raise 401 unless the request carries one of ``valid_keys`` (several allow rotation)."""
    key = presented_key()
    if key is None:
        raise APIError(
            401,
            "unauthorized",
            "An API key is required: send it as X-API-Key or Authorization: Bearer.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not key_is_valid(key, valid_keys):
        raise APIError(
            401, "unauthorized", "The API key is not valid.", headers={"WWW-Authenticate": "Bearer"}
        )
