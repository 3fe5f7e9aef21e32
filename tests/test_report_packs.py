"""Report packs: the built-in psikotes pack, a second pack added by configuration alone
(``examples/packs/certificate``), in the renderer, the preview, ``seed-demo`` and
``render``; and every way a pack can be wrong, said at start-up."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfReader

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.cli import pdfqueue_cli
from flask_pdfqueue.config.settings import ConfigError, Settings
from flask_pdfqueue.errors import TemplateError
from flask_pdfqueue.reports.pack import load_pack, load_packs
from flask_pdfqueue.reports.packs import psikotes
from flask_pdfqueue.reports.rendering import ReportRenderer
from tests.conftest import API_KEY, make_app
from tests.pdfs import pdfa_identification

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "packs" / "certificate"
CERTIFICATE_PRODUCT = "courseCertificate"


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _certificate() -> dict[str, Any]:
    [document] = load_pack("certificate", str(EXAMPLE)).sample_documents()
    return document


def _write_pack(folder: Path, init: str, templates: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(init)
    if templates is not None:
        (folder / "templates").mkdir()
        for name, text in templates.items():
            (folder / "templates" / name).write_text(text)
    return folder


def test_a_pack_loads_from_a_folder_with_what_its_module_says() -> None:
    pack = load_pack("certificate", str(EXAMPLE))

    assert pack.templates == EXAMPLE / "templates"
    assert (pack.template, pack.pdf_variant) == ("certificate.html", "pdf/a-3b")
    assert pack.build_context(_certificate())["course"] == "Report Writing for Assessors"


def test_the_built_in_pack_is_always_there_and_loads_by_module_name() -> None:
    packs = load_packs({})

    assert list(packs) == ["psikotes"]
    assert packs["psikotes"].template == psikotes.TEMPLATE
    assert packs["psikotes"].sample_documents()[0]["code"] == "DEMO-001"


def test_a_second_pack_renders_its_products_and_the_default_pack_the_rest() -> None:
    renderer = ReportRenderer(
        packs=load_packs({"certificate": str(EXAMPLE)}),
        template_map={CERTIFICATE_PRODUCT: "certificate"},
    )
    certificate = renderer.render(_certificate(), CERTIFICATE_PRODUCT)
    assessment = renderer.render(psikotes.sample_documents()[0], "minatBakatUmum")

    text = _text(certificate.pdf)
    assert "Rina Wulandari" in text and "Report Writing for Assessors" in text
    assert "16 hours, completed on 14 March 2025" in text
    assert pdfa_identification(certificate.pdf) == ("3", "B")  # the pack's own variant
    assert (renderer.pack_for(CERTIFICATE_PRODUCT), renderer.pack_for("other")) == (
        "certificate",
        "psikotes",
    )
    assert "PSYCHOLOGICAL TEST REPORT" in _text(assessment.pdf)
    assert pdfa_identification(assessment.pdf) is None


def test_the_template_map_can_override_a_packs_variant_and_template(tmp_path: Path) -> None:
    pack = _write_pack(
        tmp_path / "slip",
        "def build_context(document):\n    return {'who': document['who']}\n",
        {"report.html": "<p>main {{ who }}</p>", "short.html": "<p>short {{ who }}</p>"},
    )
    renderer = ReportRenderer(
        packs=load_packs({"slip": str(pack)}),
        template_map={"a": "slip", "b": "slip pdf/ua-1"},
    )

    assert renderer.render_html({"who": "Ana"}, "a") == "<p>main Ana</p>"
    assert renderer.template_for("a") == "report.html"
    assert (renderer.pdf_variant_for("a"), renderer.pdf_variant_for("b")) == (None, "pdf/ua-1")


def test_a_pack_template_reads_files_of_its_own_pack_only(tmp_path: Path) -> None:
    outside = f"{psikotes.__file__.rsplit('/', 1)[0]}/templates/psikotes.css"
    pack = _write_pack(
        tmp_path / "nosy",
        "def build_context(document):\n    return {}\n",
        {"report.html": f'<link rel="stylesheet" href="file://{outside}"><p>x</p>'},
    )
    renderer = ReportRenderer(packs=load_packs({"nosy": str(pack)}), default_pack="nosy")

    with pytest.raises(TemplateError, match="only data: URLs and files inside"):
        renderer.render({}, "any")


@pytest.mark.parametrize(
    ("init", "templates", "message"),
    [
        ("X = 1\n", {}, "has no build_context"),
        ("def build_context(d):\n    return {}\n", None, "has no templates/ folder"),
        ("raise RuntimeError('broken on purpose')\n", {}, "failed to load: broken on purpose"),
        ("def build_context(d):\n    return {}\nsample_documents = 3\n", {}, "must be a function"),
    ],
)
def test_a_broken_pack_is_refused_naming_the_pack_and_the_fault(
    tmp_path: Path, init: str, templates: dict[str, str] | None, message: str
) -> None:
    name = f"p{uuid.uuid4().hex[:8]}"
    folder = _write_pack(tmp_path / name, init, templates)

    with pytest.raises(ValueError, match=f"report pack '{name}'.*{message}"):
        load_pack(name, str(folder))


def test_a_pack_location_that_is_neither_folder_nor_module_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"is not a folder with __init__\.py"):
        load_pack("empty", str(tmp_path))
    with pytest.raises(ValueError, match="cannot import 'no_such_pack_module'"):
        load_pack("gone", "no_such_pack_module")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"PDFQUEUE_TEMPLATE_MAP": "a=certificate"}, "names report pack 'certificate'; add it"),
        ({"PDFQUEUE_DEFAULT_PACK": "nope"}, "PDFQUEUE_DEFAULT_PACK='nope' is not a report pack"),
        ({"PDFQUEUE_REPORT_PACKS": "bad.name=x"}, "'bad.name' is not a pack name"),
        ({"PDFQUEUE_TEMPLATE_MAP": "a=no/such"}, "neither a template file name nor"),
    ],
)
def test_pack_settings_are_checked_at_start_up(
    tmp_path: Path, config: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_config(config, instance_path=str(tmp_path))


@pytest.fixture
def certificate_app(stack_settings: dict[str, str], tmp_path: Path) -> Iterator[Flask]:
    """The test stack's app with the example pack added by its settings alone."""
    settings = {
        **stack_settings,
        "PDFQUEUE_MONGO_DB": f"packs_{uuid.uuid4().hex[:12]}",
        "PDFQUEUE_REPORT_PACKS": f"certificate={EXAMPLE}",
        "PDFQUEUE_TEMPLATE_MAP": f"{CERTIFICATE_PRODUCT}=certificate",
        "PDFQUEUE_PREVIEW": "true",
    }
    app = make_app(settings, tmp_path)
    yield app
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.documents.client.drop_database(state.settings.mongo_db)
    state.close()


def test_seed_demo_inserts_every_packs_samples_and_preview_renders_them(
    certificate_app: Flask, tmp_path: Path
) -> None:
    runner = certificate_app.test_cli_runner()
    seeded = runner.invoke(pdfqueue_cli, ["seed-demo"])
    assert seeded.exit_code == 0, seeded.output
    assert "certificate: sample documents inserted: 1" in seeded.output
    assert f"psikotes: sample documents inserted: {len(psikotes.sample_documents())}" in (
        seeded.output
    )

    client = certificate_app.test_client()
    query = f"code=CERT-001&productId={CERTIFICATE_PRODUCT}"
    html = client.get(f"/api/reports/preview?{query}", headers={"X-API-Key": API_KEY})
    assert html.status_code == 200
    assert "<h2>Report Writing for Assessors</h2>" in html.get_data(as_text=True)

    pdf = tmp_path / "cert.pdf"
    rendered = runner.invoke(
        pdfqueue_cli,
        ["render", "--product", CERTIFICATE_PRODUCT, "--code", "CERT-001", "-o", str(pdf)],
    )
    assert rendered.exit_code == 0, rendered.output
    assert "report pack certificate, template certificate.html, pdf/a-3b" in rendered.output
    assert "Rina Wulandari" in _text(pdf.read_bytes())
