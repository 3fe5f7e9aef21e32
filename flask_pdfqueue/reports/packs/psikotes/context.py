"""The default context builder: a ``workflow.psikotes_v2`` document → template context.

All scoring logic (percentages, levels, interpretation texts, strengths) lives here,
in plain Python, so templates only lay things out and the rules can be unit-tested
without rendering a PDF. Anything that ends up in an SVG attribute (bar colours,
widths) comes from the tables below or from validated numbers, never from the
document itself.

Missing required fields raise :class:`KeyError` with the dotted field name, malformed
values raise :class:`ValueError`; the renderer turns both into a ``TemplateError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from .texts import GENERIC_SCALE, SCALES

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

# (lowest percentage, level, bar colour); the first band whose floor is reached wins.
LEVELS: tuple[tuple[int, str, str], ...] = (
    (80, "Very High", "#1f6f50"),
    (60, "High", "#3f9a6b"),
    (40, "Average", "#4f7cac"),
    (20, "Low", "#d08c2e"),
    (0, "Very Low", "#b8483a"),
)
_BAND_OF_LEVEL = {
    "Very High": "high",
    "High": "high",
    "Average": "average",
    "Low": "low",
    "Very Low": "low",
}

PRODUCTS: dict[str, tuple[str, str]] = {
    "minatBakatUmum": ("Minat & Bakat Umum", "General Interest and Aptitude Assessment"),
    "kepribadianDasar": ("Kepribadian Dasar", "Basic Personality Profile"),
}
_DEFAULT_SUBTITLE = "Psychological Assessment Report"

GENDERS = {"male": "Male", "female": "Female", "m": "Male", "f": "Female",
           "laki-laki": "Male", "perempuan": "Female"}  # fmt: skip


def level_for(percent: int) -> tuple[str, str]:
    """Return (level, bar colour) for a percentage."""
    return next((level, colour) for floor, level, colour in LEVELS if percent >= floor)


def format_date(value: date) -> str:
    """Format as '12 March 2025', independent of the process locale."""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def age_on(birth: date, on: date) -> int:
    """Whole years between two dates."""
    if birth > on:
        raise ValueError("participant.birth_date is after test_date")
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def build_psikotes_context(document: Mapping[str, Any]) -> dict[str, Any]:
    """Build the ``psikotes.html`` context from a ``psikotes_v2`` document."""
    participant = _mapping(_require(document, "participant", ""), "participant")
    name = _text(participant, "name", "participant.")
    first_name = name.split()[0]
    birth = _date(_require(participant, "birth_date", "participant."), "participant.birth_date")
    tested = _date(_require(document, "test_date", ""), "test_date")
    product_id = _text(document, "product_id", "")
    product_name, subtitle = PRODUCTS.get(product_id, (product_id, _DEFAULT_SUBTITLE))
    gender = _optional(participant, "gender")

    scales = [_scale(item, index, first_name) for index, item in enumerate(_results(document))]
    groups: dict[str, list[dict[str, Any]]] = {}
    for scale in scales:
        groups.setdefault(scale["group"], []).append(scale)
    ranked = sorted(scales, key=lambda s: -s["percent"])  # stable: ties keep document order
    overall = (sum(s["percent"] for s in scales) * 2 + len(scales)) // (2 * len(scales))
    return {
        "lang": "en",
        "report": {
            "code": _text(document, "code", ""),
            "product_id": product_id,
            "product_name": product_name,
            "subtitle": subtitle,
            "test_date": format_date(tested),
            "test_version": _optional(document, "test_version"),
            "purpose": _optional(document, "purpose"),
            "psychologist": _optional(document, "psychologist"),
        },
        "participant": {
            "name": name,
            "first_name": first_name,
            "email": _optional(participant, "email"),
            "gender": GENDERS.get(gender.lower(), gender),
            "education": _optional(participant, "education"),
            "institution": _optional(participant, "institution"),
            "birth_date": format_date(birth),
            "age": age_on(birth, tested),
        },
        "scales": scales,
        "levels": _level_legend(),
        "groups": [{"name": group, "scales": members} for group, members in groups.items()],
        "summary": {
            "overall_percent": overall,
            "overall_level": level_for(overall)[0],
            "strengths": ranked[:3],
            "development": [s for s in reversed(ranked) if s["percent"] < 40][:2],
        },
    }


def _scale(item: Any, index: int, first_name: str) -> dict[str, Any]:
    """Validate one ``results`` entry and derive its percentage, level and texts."""
    where = f"results[{index}]."
    entry = _mapping(item, where[:-1])
    key = _text(entry, "scale", where)
    score = _number(entry, "score", where)
    max_score = _number(entry, "max_score", where)
    if max_score <= 0:
        raise ValueError(f"{where}max_score must be positive, got {max_score}")
    if not 0 <= score <= max_score:
        raise ValueError(f"{where}score {score} is outside 0..{max_score}")
    percent = int(score * 100 / max_score + 0.5)
    level, colour = level_for(percent)
    text = SCALES.get(key, GENERIC_SCALE)
    return {
        "key": key,
        "name": _text(entry, "name", where),
        "group": text.group,
        "score": score,
        "max_score": max_score,
        "percent": percent,
        "level": level,
        "level_key": level.lower().replace(" ", "-"),
        "colour": colour,
        "about": text.about,
        "interpretation": getattr(text, _BAND_OF_LEVEL[level]).format(name=first_name),
        "advice": text.advice,
    }


def _level_legend() -> list[dict[str, str]]:
    """Levels from lowest to highest with their percentage ranges, for the chart legend."""
    legend = []
    ceiling = 100
    for floor, level, colour in LEVELS:
        legend.append({"name": level, "colour": colour, "range": f"{floor}\u2013{ceiling}%"})
        ceiling = floor - 1
    return legend[::-1]


def _require(mapping: Mapping[str, Any], key: str, prefix: str) -> Any:
    if key not in mapping or mapping[key] is None:
        raise KeyError(f"{prefix}{key}")
    return mapping[key]


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be an object, got {type(value).__name__}")
    return value


def _text(mapping: Mapping[str, Any], key: str, prefix: str) -> str:
    value = _require(mapping, key, prefix)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{prefix}{key} must be a non-empty string")
    return value.strip()


def _optional(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return str(value).strip() if value is not None else ""


def _number(mapping: Mapping[str, Any], key: str, prefix: str) -> int | float:
    value = _require(mapping, key, prefix)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{prefix}{key} must be a number, got {value!r}")
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 1)
    return value


def _date(value: Any, field: str) -> date:
    """Accept ISO strings and the datetimes pymongo returns for BSON dates."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise ValueError(f"{field} must be an ISO date, got {value!r}")


def _results(document: Mapping[str, Any]) -> Sequence[Any]:
    results = _require(document, "results", "")
    if isinstance(results, str | bytes) or not isinstance(results, Sequence) or not results:
        raise ValueError("results must be a non-empty list of scale results")
    return results
