"""``flask pdfqueue render``: a report on the spot, from MongoDB or from a file with no
service running at all."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from flask import Flask
from pypdf import PdfReader

from flask_pdfqueue.cli import pdfqueue_cli
from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents
from tests.pdfs import pdfa_identification
from tests.servers import free_port


def _render_without_services(
    tmp_path: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The service's CLI with Redis, MongoDB and SQL pointed at nothing."""
    env = {
        **(extra_env or {}),
        **{k: v for k, v in os.environ.items() if not k.startswith("PDFQUEUE_")},
        "PDFQUEUE_HOME": str(tmp_path),
        "PDFQUEUE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "PDFQUEUE_MONGO_URL": f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        "PDFQUEUE_SQL_URL": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none",
    }
    command = [sys.executable, "-m", "flask", "--app", "flask_pdfqueue.service", "pdfqueue"]
    return subprocess.run(
        [*command, "render", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_document_from_a_file_renders_with_no_service_running(tmp_path: Path) -> None:
    document = sample_documents()[0]
    source = tmp_path / "doc.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    pdf, html = tmp_path / "report.pdf", tmp_path / "report.html"

    result = _render_without_services(
        tmp_path,
        "--document",
        str(source),
        "--product",
        "minatBakatUmum",
        "-o",
        str(pdf),
        "--html",
        str(html),
    )

    assert result.returncode == 0, result.stderr
    assert "template psikotes.html" in result.stdout
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert document["participant"]["name"] in text
    assert document["participant"]["name"] in html.read_text(encoding="utf-8")


def test_renderer_warnings_and_the_pdf_variant_are_shown_and_the_pdf_is_written(
    tmp_path: Path,
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "careless.html").write_text(
        "<html><head><style>p {colr: red}</style></head>"
        "<body><p>{{ report.code }}</p></body></html>"
    )
    source = tmp_path / "doc.json"
    source.write_text(json.dumps(sample_documents()[0]), encoding="utf-8")
    pdf = tmp_path / "report.pdf"

    result = _render_without_services(
        tmp_path,
        "--document",
        str(source),
        "--product",
        "archive",
        "-o",
        str(pdf),
        extra_env={
            "PDFQUEUE_TEMPLATE_FOLDER": str(templates),
            "PDFQUEUE_TEMPLATE_MAP": "archive=careless.html pdf/a-3b",
        },
    )

    assert result.returncode == 0, result.stderr
    assert "template careless.html, pdf/a-3b" in result.stdout
    assert result.stderr.splitlines() == ["warning: Ignored `colr: red` at 1:4, unknown property."]
    assert pdfa_identification(pdf.read_bytes()) == ("3", "B")


def test_a_document_that_does_not_fit_says_so_in_one_sentence(tmp_path: Path) -> None:
    document = sample_documents()[0]
    del document["participant"]
    source = tmp_path / "doc.json"
    source.write_text(json.dumps(document), encoding="utf-8")

    result = _render_without_services(
        tmp_path,
        "--document",
        str(source),
        "--product",
        "minatBakatUmum",
        "-o",
        str(tmp_path / "x.pdf"),
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "missing required field 'participant" in result.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_a_report_from_mongodb_and_the_usage_errors(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    pdf = tmp_path / "demo.pdf"
    result = runner.invoke(
        pdfqueue_cli,
        ["render", "--code", "DEMO-001", "--product", "minatBakatUmum", "-o", str(pdf)],
    )
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    missing = runner.invoke(
        pdfqueue_cli, ["render", "--code", "NOPE", "--product", "minatBakatUmum", "-o", str(pdf)]
    )
    assert missing.exit_code == 1 and "no report document with code='NOPE'" in missing.output
    neither = runner.invoke(pdfqueue_cli, ["render", "--product", "x", "-o", str(pdf)])
    assert neither.exit_code == 2 and "--code" in neither.output
