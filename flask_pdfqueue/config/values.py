"""Setting values as ``app.config`` may hold them (typed, or strings as the environment
gives them) converted to the type of their :class:`~.settings.Settings` field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _split(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return [str(part).strip() for part in raw]


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _to_pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    items = raw.items() if isinstance(raw, Mapping) else (p.split("=", 1) for p in _split(raw))
    pairs = []
    for item in items:
        key, value = item
        pairs.append((str(key).strip(), str(value).strip()))
    return tuple(pairs)


_CONVERTERS: dict[Any, Callable[[Any], Any]] = {
    str: str,
    int: int,
    float: float,
    bool: _to_bool,
    tuple[str, ...]: lambda raw: tuple(_split(raw)),
    tuple[int, ...]: lambda raw: tuple(int(p) for p in _split(raw)),
    tuple[tuple[str, str], ...]: _to_pairs,
}


def convert(hint: Any, raw: Any) -> Any:
    """``raw`` as a value of the field type ``hint``; ValueError or TypeError if not one."""
    if isinstance(raw, (list, tuple, set)) and hint in (str, int, float):
        raise TypeError("expected a single value")
    return _CONVERTERS[hint](raw)
