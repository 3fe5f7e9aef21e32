"""ReportRenderer with real Jinja2 and WeasyPrint: report content, hardening, configuration."""

from __future__ import annotations

import io
import os
import re
import select
import signal
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from flask_pdfqueue.errors import TemplateError
from flask_pdfqueue.reports.packs import psikotes
from flask_pdfqueue.reports.packs.psikotes.context import build_psikotes_context
from flask_pdfqueue.reports.packs.psikotes.samples import DEMO_PRODUCT_ID, sample_documents
from flask_pdfqueue.reports.render_warnings import MAX_RENDER_WARNINGS, MAX_WARNING_CHARS
from flask_pdfqueue.reports.rendering import (
    ReportRenderer,
    harfbuzz_subset_available,
    load_context_builder,
)
from tests.pdfs import pdfa_identification

DEFAULT_TEMPLATE = psikotes.TEMPLATE
BUILTIN_TEMPLATE_FOLDER = Path(psikotes.__file__).parent / "templates"


def _renderer(*folders: Path, template_map: Mapping[str, str] | None = None,
              default_template: str = DEFAULT_TEMPLATE,
              context_builder: Any = build_psikotes_context) -> ReportRenderer:  # fmt: skip
    return ReportRenderer(
        template_folders=list(folders),
        template_map=template_map or {},
        default_template=default_template,
        context_builder=context_builder,
    )


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _page(body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>"


@pytest.fixture(scope="module")
def renderer() -> ReportRenderer:
    return _renderer()


@pytest.fixture(scope="module")
def demo_pdf(renderer: ReportRenderer) -> bytes:
    return renderer.render(sample_documents()[0], DEMO_PRODUCT_ID).pdf


def test_harfbuzz_subsetting_is_available() -> None:
    assert harfbuzz_subset_available() is True


def test_demo_report_contains_participant_scores_and_page_numbers(demo_pdf: bytes) -> None:
    document = sample_documents()[0]
    context = build_psikotes_context(document)
    assert demo_pdf.startswith(b"%PDF")
    pages = _pages(demo_pdf)
    text = "\n".join(pages)
    assert len(pages) >= 2
    assert document["participant"]["name"] in text
    for scale in context["scales"]:
        row = rf"{re.escape(scale['name'])}\s+{scale['score']}\s+{scale['max_score']}\s+" \
              rf"{scale['percent']}%\s+{scale['level']}"  # fmt: skip
        assert re.search(row, text), f"score table row missing: {row}"
    for number, page_text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page_text
    metadata = PdfReader(io.BytesIO(demo_pdf)).metadata
    assert metadata is not None
    assert metadata.title == "Minat & Bakat Umum \u2013 Rina Wulandari (DEMO-001)"


def test_rendering_is_deterministic(renderer: ReportRenderer, demo_pdf: bytes) -> None:
    assert renderer.render(sample_documents()[0], DEMO_PRODUCT_ID).pdf == demo_pdf


def test_html_has_lang_and_svg_chart_with_one_bar_per_scale(renderer: ReportRenderer) -> None:
    document = sample_documents()[0]
    html = renderer.render_html(document, DEMO_PRODUCT_ID)
    assert '<html lang="en">' in html
    chart = re.search(r'<svg class="chart".*?</svg>', html, re.DOTALL)
    assert chart is not None
    bars = re.findall(r'<rect class="bar"[^>]* width="([\d.]+)"', chart.group(0))
    assert len(bars) == len(document["results"]) == 12
    percents = [scale["percent"] for scale in build_psikotes_context(document)["scales"]]
    assert [float(width) for width in bars] == [p * 340 / 100 for p in percents]


def test_participant_name_is_autoescaped(renderer: ReportRenderer) -> None:
    document = sample_documents()[0]
    document["participant"]["name"] = "<script>alert(1)</script>"
    html = renderer.render_html(document, DEMO_PRODUCT_ID)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in "\n".join(_pages(renderer.render(document, "x").pdf))


def test_undefined_variable_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "strict.html").write_text(_page("{{ participant.nickname }}"))
    renderer = _renderer(tmp_path, default_template="strict.html")
    with pytest.raises(TemplateError, match="nickname") as excinfo:
        renderer.render_html(sample_documents()[0], DEMO_PRODUCT_ID)
    assert excinfo.value.error_code == "template_error"
    assert excinfo.value.retryable is False


def test_missing_template_is_a_template_error() -> None:
    missing = _renderer(template_map={"tesKhusus": "nope.html"})
    with pytest.raises(TemplateError, match=r"'nope\.html' not found"):
        missing.render(sample_documents()[0], "tesKhusus")


def test_template_syntax_error_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "broken.html").write_text(_page("{% if %}"))
    with pytest.raises(TemplateError, match=r"syntax error on line 1"):
        _renderer(tmp_path, default_template="broken.html").render_html({}, "x")


def test_malformed_document_is_a_template_error_naming_the_field(
    renderer: ReportRenderer,
) -> None:
    document = sample_documents()[0]
    del document["participant"]["name"]
    with pytest.raises(TemplateError, match=r"missing required field 'participant\.name'"):
        renderer.render(document, DEMO_PRODUCT_ID)
    document = sample_documents()[0]
    document["results"][0]["score"] = 99
    with pytest.raises(TemplateError, match=r"results\[0\]\.score 99 is outside 0\.\.40"):
        renderer.render(document, DEMO_PRODUCT_ID)


@pytest.fixture()
def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (tmp_path / "outside.css").write_text('p::after { content: "LEAKED-OUTSIDE"; }')
    (folder / "escape.css").symlink_to(tmp_path / "outside.css")
    (folder / "marker.css").write_text('.m::before { content: "CSS-MARKER-OK"; }')
    return folder


def _render_body(folder: Path, body: str) -> bytes:
    (folder / "page.html").write_text(_page(body))
    return _renderer(folder, default_template="page.html", context_builder=dict).render({}, "x").pdf


@pytest.mark.parametrize(
    "body",
    [
        '<img src="file:///etc/passwd">',
        '<link rel="stylesheet" href="file:///etc/passwd">',
        '<style>@import url("file:///etc/passwd");</style>',
        '<link rel="attachment" href="file:///etc/passwd">',
        '<img src="http://127.0.0.1:9/x.png">',
        '<div style="background: url(https://example.com/x.png)">x</div>',
        '<link rel="stylesheet" href="../outside.css"><p>x</p>',
        '<link rel="stylesheet" href="%2e%2e/outside.css"><p>x</p>',
        '<link rel="stylesheet" href="escape.css"><p>x</p>',
        '<base href="http://127.0.0.1:9/"><link rel="stylesheet" href="marker.css">',
        # WeasyPrint swallows errors inside SVG images; the renderer must not.
        '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9">'
        '<image href="file:///etc/hostname" width="9" height="9"/></svg>',
    ],
)
def test_fetcher_refuses_resources_outside_the_template_folders(
    user_folder: Path, body: str
) -> None:
    with pytest.raises(TemplateError, match=r"could not load .*only data: URLs and files inside"):
        _render_body(user_folder, body)


def test_template_errors_name_no_server_paths(user_folder: Path) -> None:
    """The message travels to n8n in the failure webhook; folders are the server's business."""
    messages = []
    for body in ('<img src="file:///etc/passwd">', '<img src="nothere.png">'):
        with pytest.raises(TemplateError) as excinfo:
            _render_body(user_folder, body)
        messages.append(excinfo.value.message)
    with pytest.raises(TemplateError) as excinfo:
        _renderer(user_folder, default_template="absent.html").render({}, "x")
    messages.append(excinfo.value.message)
    (user_folder / "broken.html").write_text("{% if %}")
    with pytest.raises(TemplateError) as excinfo:
        _renderer(user_folder, default_template="broken.html").render({}, "x")
    messages.append(excinfo.value.message)
    assert "'passwd'" in messages[0] and "'nothere.png'" in messages[1]
    assert "'absent.html' not found" in messages[2] and "'broken.html'" in messages[3]
    for message in messages:
        assert "/etc" not in message
        assert str(user_folder) not in message


def test_fetcher_never_contacts_http_servers(user_folder: Path) -> None:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(TemplateError, match="could not load"):
            _render_body(
                user_folder, f'<img src="{url}/x.png"><link rel="stylesheet" href="{url}/s.css">'
            )
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []


def test_missing_allowed_file_fails_instead_of_being_omitted(user_folder: Path) -> None:
    with pytest.raises(TemplateError, match=r"nothere\.png"):
        _render_body(user_folder, '<img src="nothere.png">')


def test_relative_css_and_data_urls_inside_the_folder_are_allowed(user_folder: Path) -> None:
    pdf = _render_body(
        user_folder,
        '<link rel="stylesheet" href="marker.css"><p class="m"></p>'
        '<img src="data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22'
        ' width=%224%22 height=%224%22/%3E">',
    )
    assert "CSS-MARKER-OK" in "\n".join(_pages(pdf))


def test_template_map_selects_template_per_product(tmp_path: Path) -> None:
    (tmp_path / "alt.html.j2").write_text(_page("ALT {{ participant.name }}"))
    renderer = _renderer(tmp_path, template_map={"kepribadianDasar": "alt.html.j2"})
    document = sample_documents()[0]
    document["participant"]["name"] = "A & B"
    assert renderer.template_for("kepribadianDasar") == "alt.html.j2"
    assert renderer.template_for(DEMO_PRODUCT_ID) == DEFAULT_TEMPLATE
    assert "ALT A &amp; B" in renderer.render_html(document, "kepribadianDasar")
    assert '<svg class="chart"' in renderer.render_html(document, DEMO_PRODUCT_ID)


def test_user_folder_overrides_builtin_template(tmp_path: Path) -> None:
    (tmp_path / DEFAULT_TEMPLATE).write_text(_page("OVERRIDDEN {{ report.code }}"))
    renderer = _renderer(tmp_path)
    assert "OVERRIDDEN DEMO-001" in renderer.render_html(sample_documents()[0], DEMO_PRODUCT_ID)
    assert (BUILTIN_TEMPLATE_FOLDER / DEFAULT_TEMPLATE).is_file()


def test_load_context_builder_accepts_both_spellings() -> None:
    assert (
        load_context_builder("flask_pdfqueue.reports.packs.psikotes.context:build_psikotes_context")
        is build_psikotes_context
    )
    dotted = "flask_pdfqueue.reports.packs.psikotes.context.build_psikotes_context"
    assert load_context_builder(dotted) is build_psikotes_context


@pytest.mark.parametrize(
    ("dotted", "message"),
    [("nodots", "not a dotted path"),
     ("flask_pdfqueue.reports.packs.psikotes.context:", "not a dotted path"),
     ("no_such_module_xyz:build", "cannot import 'no_such_module_xyz'"),
     ("flask_pdfqueue.reports.packs.psikotes.context:nope", "has no callable 'nope'"),
     ("flask_pdfqueue.reports.packs.psikotes.context:SCALES", "has no callable 'SCALES'")],
)  # fmt: skip
def test_load_context_builder_errors(dotted: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_context_builder(dotted)


def test_preload_warms_up_and_checks_every_mapped_template(tmp_path: Path) -> None:
    # A custom template that does not understand the demo document still preloads.
    (tmp_path / "custom.html").write_text(_page("{{ custom_field }}"))
    _renderer(tmp_path, template_map={"tesKhusus": "custom.html"},
              default_template="custom.html").preload()  # fmt: skip
    broken = _renderer(template_map={"tesKhusus": "nope.html"})
    with pytest.raises(TemplateError, match=r"'nope\.html' not found"):
        broken.preload()
    with pytest.raises(TemplateError, match=r"'nope\.html' not found"):
        broken.prepare()  # what a watchdog checks before its job process warms up


@pytest.mark.parametrize(
    ("variant", "part", "conformance"), [("pdf/a-3b", "3", "B"), ("pdf/a-2b", "2", "B")]
)
def test_a_pdf_a_variant_is_identified_in_the_xmp_metadata(
    variant: str, part: str, conformance: str
) -> None:
    renderer = ReportRenderer(
        template_folders=(),
        template_map={},
        default_template=DEFAULT_TEMPLATE,
        context_builder=build_psikotes_context,
        pdf_variant=variant,
    )
    pdf = renderer.render(sample_documents()[0], DEMO_PRODUCT_ID).pdf
    assert pdfa_identification(pdf) == (part, conformance)


def test_an_unknown_pdf_variant_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="PDFQUEUE_PDF_VARIANT='pdf/z-9'"):
        ReportRenderer(
            template_folders=(),
            template_map={},
            default_template=DEFAULT_TEMPLATE,
            context_builder=build_psikotes_context,
            pdf_variant="pdf/z-9",
        )


def _styled(folder: Path, css: str) -> ReportRenderer:
    (folder / "styled.html").write_text(
        f"<!DOCTYPE html><html><head><style>{css}</style></head><body><p>Hi</p></body></html>"
    )
    return _renderer(folder, default_template="styled.html", context_builder=dict)


def test_weasyprint_warnings_come_back_with_the_pdf(tmp_path: Path) -> None:
    rendered = _styled(tmp_path, "p {colr: red; colr: blue}").render({}, "x")

    assert _pages(rendered.pdf) == ["Hi"]  # rendered all the same
    assert rendered.warnings == (
        "Ignored `colr: red` at 1:4, unknown property.",
        "Ignored `colr: blue` at 1:15, unknown property.",
    )
    assert _renderer().render(sample_documents()[0], DEMO_PRODUCT_ID).warnings == ()


def test_a_warning_repeated_is_kept_once(tmp_path: Path) -> None:
    rows = "".join(f'<p style="colr: red">{n}</p>' for n in range(50))
    (tmp_path / "rows.html").write_text(_page(rows))
    renderer = _renderer(tmp_path, default_template="rows.html", context_builder=dict)

    assert renderer.render({}, "x").warnings == ("Ignored `colr: red` at 1:1, unknown property.",)


def test_warnings_are_bounded_in_number_and_length(tmp_path: Path) -> None:
    long_name = "x" * (2 * MAX_WARNING_CHARS)
    css = f"p {{ {long_name}: 1 }} " + " ".join(f"p {{ bogus-{n}: 1 }}" for n in range(30))

    warnings = _styled(tmp_path, css).render({}, "x").warnings

    assert len(warnings) == MAX_RENDER_WARNINGS + 1
    assert all(len(warning) <= MAX_WARNING_CHARS for warning in warnings)
    assert warnings[0].endswith("…")
    assert warnings[-1] == f"… and {31 - MAX_RENDER_WARNINGS} more warnings"


def test_each_render_has_only_its_own_warnings(tmp_path: Path) -> None:
    """Two renders at once in two threads (the preview endpoint) keep theirs apart."""
    noisy, quiet = _styled(tmp_path, "p {colr: red}"), _renderer()
    results: dict[str, tuple[str, ...]] = {}

    def render_quiet() -> None:
        results["quiet"] = quiet.render(sample_documents()[0], DEMO_PRODUCT_ID).warnings

    thread = threading.Thread(target=render_quiet)
    thread.start()
    for _ in range(5):
        results["noisy"] = noisy.render({}, "x").warnings
    thread.join()

    assert results == {"quiet": (), "noisy": ("Ignored `colr: red` at 1:4, unknown property.",)}


def test_a_product_in_the_template_map_may_have_its_own_pdf_variant() -> None:
    renderer = _renderer(template_map={"archive": f"{DEFAULT_TEMPLATE} pdf/a-3b"})

    archived = renderer.render(sample_documents()[0], "archive").pdf
    plain = renderer.render(sample_documents()[0], DEMO_PRODUCT_ID).pdf

    assert pdfa_identification(archived) == ("3", "B")
    assert pdfa_identification(plain) is None
    assert (renderer.template_for("archive"), renderer.pdf_variant_for("archive")) == (
        DEFAULT_TEMPLATE,
        "pdf/a-3b",
    )


def test_a_template_map_variant_weasyprint_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="product 'archive' asks for PDF variant 'pdf/a-9z'"):
        _renderer(template_map={"archive": "psikotes.html pdf/a-9z"})


LOCAL_FONT_PAGE = _page(
    "<style>@font-face { font-family: Missing; src: local('No Such Font Anywhere') }"
    " p { font-family: Missing, sans-serif }</style><p>Rendered in the horse</p>"
)


def test_a_forked_horse_renders_a_local_font_face_after_the_preload(tmp_path: Path) -> None:
    # What a forking worker does: preload in the parent, render in a forked child. On
    # Pango 1.56 a child that inherits its parent's font configuration hangs on local().
    (tmp_path / "local-font.html").write_text(LOCAL_FONT_PAGE)
    renderer = _renderer(tmp_path, default_template="local-font.html", context_builder=dict)
    renderer.preload()
    renderer.render({}, "any")  # the parent has used its configuration on this page too
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as out:
                out.write(renderer.render({}, "any").pdf)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as source:
        ready, _, _ = select.select([source], [], [], 60)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        pdf = source.read() if ready else b""
    _, status = os.waitpid(pid, 0)
    assert ready, "the forked child did not render within 60 s"
    assert os.waitstatus_to_exitcode(status) == 0
    assert _pages(pdf) == ["Rendered in the horse"]
