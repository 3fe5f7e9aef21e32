"""The default context builder: scoring rules, texts and validation, without rendering."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from flask_pdfqueue.reports.packs.psikotes.context import (
    age_on,
    build_psikotes_context,
    format_date,
    level_for,
)
from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents
from flask_pdfqueue.reports.packs.psikotes.texts import GENERIC_SCALE, SCALES


def _document(**changes: Any) -> dict[str, Any]:
    document = sample_documents()[0]
    document.update(changes)
    return document


def _result(scale: str, score: Any, max_score: float = 40, name: str = "X") -> dict[str, Any]:
    return {"scale": scale, "name": name, "score": score, "max_score": max_score}


@pytest.mark.parametrize(
    ("percent", "level"),
    [(0, "Very Low"), (19, "Very Low"), (20, "Low"), (39, "Low"), (40, "Average"),
     (59, "Average"), (60, "High"), (79, "High"), (80, "Very High"), (100, "Very High")],
)  # fmt: skip
def test_level_bands(percent: int, level: str) -> None:
    assert level_for(percent)[0] == level


def test_percentages_round_half_up_and_pick_level_text() -> None:
    context = build_psikotes_context(_document(results=[
        _result("verbal_reasoning", 29, 40),   # 72.5 -> 73, High
        _result("numerical_reasoning", 7, 40),  # 17.5 -> 18, Very Low
        _result("spatial_ability", 30, 30),     # 100
    ]))  # fmt: skip
    verbal, numerical, spatial = context["scales"]
    assert (verbal["percent"], verbal["level"], verbal["level_key"]) == (73, "High", "high")
    assert (numerical["percent"], numerical["level"]) == (18, "Very Low")
    assert spatial["percent"] == 100
    assert verbal["interpretation"] == SCALES["verbal_reasoning"].high.format(name="Rina")
    assert numerical["interpretation"] == SCALES["numerical_reasoning"].low.format(name="Rina")
    assert verbal["about"] == SCALES["verbal_reasoning"].about
    assert verbal["group"] == "Aptitude"


def test_unknown_scale_gets_generic_text() -> None:
    context = build_psikotes_context(_document(results=[_result("teamwork", 20, 40, "Teamwork")]))
    (scale,) = context["scales"]
    assert scale["group"] == "Other"
    assert scale["interpretation"] == GENERIC_SCALE.average.format(name="Rina")
    assert "Rina" in scale["interpretation"]


def test_summary_strengths_and_development_areas() -> None:
    context = build_psikotes_context(_document(results=[
        _result("verbal_reasoning", 10, 40, "A"),   # 25 Low
        _result("numerical_reasoning", 36, 40, "B"),  # 90
        _result("abstract_reasoning", 36, 40, "C"),   # 90 (tie keeps document order)
        _result("spatial_ability", 3, 30, "D"),      # 10 Very Low
        _result("clerical_accuracy", 30, 50, "E"),   # 60
    ]))  # fmt: skip
    summary = context["summary"]
    assert [s["name"] for s in summary["strengths"]] == ["B", "C", "E"]
    assert [s["name"] for s in summary["development"]] == ["D", "A"]
    assert summary["overall_percent"] == 55  # (25 + 90 + 90 + 10 + 60) / 5
    assert summary["overall_level"] == "Average"
    assert [g["name"] for g in context["groups"]] == ["Aptitude"]


def test_participant_age_dates_and_gender() -> None:
    context = build_psikotes_context(_document())
    participant = context["participant"]
    assert participant["age"] == 17  # born 2007-04-18, tested 2025-02-11
    assert participant["birth_date"] == "18 April 2007"
    assert participant["gender"] == "Female"
    assert context["report"]["test_date"] == "11 February 2025"
    assert context["report"]["product_name"] == "Minat & Bakat Umum"
    assert context["lang"] == "en"


def test_age_counts_birthday_on_test_day() -> None:
    birth = datetime(2000, 2, 29).date()
    assert age_on(birth, datetime(2018, 2, 28).date()) == 17
    assert age_on(birth, datetime(2018, 3, 1).date()) == 18
    assert format_date(birth) == "29 February 2000"


def test_accepts_bson_datetimes_and_float_scores() -> None:
    document = _document(test_date=datetime(2025, 2, 11, 1, 30, tzinfo=UTC),
                         results=[_result("verbal_reasoning", 30.0, 40.0)])  # fmt: skip
    document["participant"]["birth_date"] = datetime(2007, 4, 18)
    context = build_psikotes_context(document)
    assert context["participant"]["age"] == 17
    assert context["scales"][0]["score"] == 30
    assert isinstance(context["scales"][0]["score"], int)


def test_unknown_product_falls_back_to_its_id() -> None:
    context = build_psikotes_context(_document(product_id="tesKhusus"))
    assert context["report"]["product_name"] == "tesKhusus"


def test_optional_participant_fields_may_be_missing() -> None:
    document = _document()
    document["participant"] = {"name": "Ani", "birth_date": "2000-01-01"}
    participant = build_psikotes_context(document)["participant"]
    assert participant["email"] == participant["institution"] == participant["gender"] == ""


@pytest.mark.parametrize(
    ("path", "field"),
    [(("participant",), "participant"), (("participant", "name"), "participant.name"),
     (("participant", "birth_date"), "participant.birth_date"), (("test_date",), "test_date"),
     (("results",), "results"), (("code",), "code"), (("product_id",), "product_id")],
)  # fmt: skip
def test_missing_required_field_names_it(path: tuple[str, ...], field: str) -> None:
    document = _document()
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(KeyError) as excinfo:
        build_psikotes_context(document)
    assert excinfo.value.args == (field,)


def test_missing_result_field_names_its_index() -> None:
    document = _document()
    del document["results"][2]["max_score"]
    with pytest.raises(KeyError) as excinfo:
        build_psikotes_context(document)
    assert excinfo.value.args == ("results[2].max_score",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"results": []}, "results must be a non-empty list"),
     ({"results": "abc"}, "results must be a non-empty list"),
     ({"results": [_result("x", 41, 40)]}, "results[0].score 41 is outside 0..40"),
     ({"results": [_result("x", 1, 0)]}, "results[0].max_score must be positive"),
     ({"results": [_result("x", "12", 40)]}, "results[0].score must be a number"),
     ({"results": [_result("x", True, 40)]}, "results[0].score must be a number"),
     ({"results": ["verbal"]}, "results[0] must be an object"),
     ({"test_date": "11/02/2025"}, "test_date must be an ISO date"),
     ({"test_date": "2000-01-01"}, "participant.birth_date is after test_date"),
     ({"participant": "Rina"}, "participant must be an object"),
     ({"code": ""}, "code must be a non-empty string")],
)  # fmt: skip
def test_malformed_values_raise_value_error(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        build_psikotes_context(_document(**changes))
    assert message in str(excinfo.value)


def test_every_demo_document_builds() -> None:
    for document in sample_documents():
        context = build_psikotes_context(document)
        assert all(scale["group"] != "Other" for scale in context["scales"])
        assert len(context["summary"]["strengths"]) == 3
