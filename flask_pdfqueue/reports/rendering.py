"""Turn a report document into HTML (Jinja2) and PDF (WeasyPrint).

Hardened as WeasyPrint's and Jinja's own advice goes: autoescaping and
``StrictUndefined`` in Jinja, and a URL fetcher that serves only ``data:`` URLs and
files inside the template folders and *stops* the render for anything else, so a
template can neither read ``/etc/passwd`` nor reach internal hosts, and a refused
resource is a visible ``TemplateError`` instead of a silently missing image.

What WeasyPrint warns about while rendering (an unknown CSS property, a font it could
not load) is collected per render, bounded, and returned with the PDF: a job keeps
its warnings for its status, the render CLI prints them.

WeasyPrint is imported lazily: the web process only needs :func:`load_context_builder`
and never pays the ~0.5 s import; workers call :meth:`ReportRenderer.preload` before
they fork work horses.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import jinja2

from ..errors import TemplateError
from .choice import DEFAULT_TEMPLATE, parse_template_choice
from .packs.psikotes.context import build_psikotes_context
from .packs.psikotes.samples import DEMO_PRODUCT_ID, demo_documents

ContextBuilder = Callable[[Mapping[str, Any]], dict[str, Any]]

BUILTIN_TEMPLATE_FOLDER = Path(__file__).resolve().parent / "packs" / "psikotes" / "templates"
FETCH_TIMEOUT = 5
#: How many distinct warnings a render keeps, and how long each may be.
MAX_RENDER_WARNINGS = 20
MAX_WARNING_CHARS = 300

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedPDF:
    """A rendered report, and what WeasyPrint warned about while making it."""

    pdf: bytes
    warnings: tuple[str, ...] = ()


def load_context_builder(dotted: str) -> ContextBuilder:
    """Import ``package.module:function`` (or ``package.module.function``).

    Raises ``ValueError`` so a bad setting fails at start-up, not in every job.
    """
    module_name, colon, attr = dotted.strip().partition(":")
    if not colon:
        module_name, _, attr = module_name.rpartition(".")
    if not module_name or not attr:
        raise ValueError(
            f"context builder {dotted!r} is not a dotted path like 'package.module:function'"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ValueError(
            f"context builder {dotted!r}: cannot import {module_name!r}: {exc}"
        ) from exc
    builder = getattr(module, attr, None)
    if not callable(builder):
        raise ValueError(f"context builder {dotted!r}: {module_name!r} has no callable {attr!r}")
    return cast(ContextBuilder, builder)


def pdf_variants() -> frozenset[str]:
    """The PDF variants WeasyPrint can write (``pdf/a-3b``, ``pdf/ua-1``, …)."""
    from weasyprint.pdf import VARIANTS

    return frozenset(name for name in VARIANTS if name != "debug")


def harfbuzz_subset_available() -> bool:
    """Whether WeasyPrint subsets fonts with HarfBuzz (without it, renders are ~60% slower)."""
    from weasyprint.text import ffi

    return getattr(ffi, "harfbuzz_subset", None) is not None


@functools.cache
def _shown_url(url: str) -> str:
    """A URL as messages show it: a file by its name only (its folder is the server's
    business), anything else cut to 200 characters."""
    if url.lower().startswith("file:"):
        return repr(Path(unquote(urlsplit(url).path)).name)
    return repr(url if len(url) <= 200 else url[:200] + "…")


def _safe_fetcher_class() -> type[Any]:
    """Define the fetcher on first use, so importing this module does not import WeasyPrint."""
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    class SafeURLFetcher(URLFetcher):  # type: ignore[misc]
        """Serve ``data:`` URLs and files under ``roots``; refuse everything else, fatally.

        WeasyPrint swallows every exception while drawing an SVG image, even fatal ones,
        so each failure is also recorded in ``failures`` for the caller to check.
        """

        def __init__(self, roots: Sequence[Path]) -> None:
            # fail_on_errors: a missing or unreadable allowed file also stops the render.
            super().__init__(
                timeout=FETCH_TIMEOUT,
                allowed_protocols={"data", "file"},
                allow_redirects=False,
                fail_on_errors=True,
            )
            self._roots = [os.path.realpath(root) for root in roots]
            self.failures: list[str] = []

        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
            shown = _shown_url(url)
            scheme = url.partition(":")[0].lower()
            if scheme != "data" and not (scheme == "file" and self._inside_roots(url)):
                self.failures.append(
                    f"{shown} (only data: URLs and files inside the template folders are allowed)"
                )
                raise FatalURLFetchingError(f"refused to load {shown}")
            try:
                return super().fetch(url, headers)
            except Exception as exc:  # the reason, not its text: that names server paths
                self.failures.append(f"{shown} ({type(exc).__name__})")
                raise

        def _inside_roots(self, url: str) -> bool:
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                return False
            # realpath resolves "..", percent-encoded segments and symlinks alike.
            real = os.path.realpath(url2pathname(parts.path))
            return any(os.path.commonpath((real, root)) == root for root in self._roots)

    return SafeURLFetcher


_FILE_URL = re.compile(r"file://[^\s'\"]+")


def _without_paths(message: str) -> str:
    """A warning as a job shows it: files by their name (their folder is the server's)."""
    return _FILE_URL.sub(lambda found: Path(unquote(urlsplit(found[0]).path)).name, message)


class _WarningCollector(logging.Handler):
    """WeasyPrint's warnings (and errors) logged by this thread, distinct and bounded.

    Only this thread's records are taken, so a render running beside it in another
    thread (the preview endpoint) does not lend it its warnings.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._thread = threading.get_ident()
        self._seen: dict[str, None] = {}
        self._more = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread:
            return
        try:
            text = _without_paths(record.getMessage())
        except Exception:  # a malformed log call must not fail the render
            text = str(record.msg)
        if len(text) > MAX_WARNING_CHARS:
            text = text[: MAX_WARNING_CHARS - 1] + "…"
        if text in self._seen:
            return
        if len(self._seen) < MAX_RENDER_WARNINGS:
            self._seen[text] = None
        else:
            self._more += 1

    @property
    def warnings(self) -> tuple[str, ...]:
        more = (f"… and {self._more} more warnings",) if self._more else ()
        return (*self._seen, *more)


@contextlib.contextmanager
def _collected_warnings() -> Iterator[_WarningCollector]:
    collector = _WarningCollector()
    weasyprint_log = logging.getLogger("weasyprint")
    weasyprint_log.addHandler(collector)
    try:
        yield collector
    finally:
        weasyprint_log.removeHandler(collector)


class ReportRenderer:
    """Render report documents with one set of templates and one context builder.

    Build it once per process and reuse it: the Jinja environment caches compiled
    templates and the WeasyPrint font configuration is shared between renders.
    ``render`` is not meant to be called from several threads at once.
    """

    def __init__(
        self,
        *,
        template_folders: Sequence[Path],
        template_map: Mapping[str, str],
        default_template: str,
        context_builder: ContextBuilder,
        pdf_variant: str | None = None,
    ) -> None:
        if pdf_variant is not None and pdf_variant not in pdf_variants():
            raise ValueError(
                f"PDFQUEUE_PDF_VARIANT={pdf_variant!r} is not a variant this WeasyPrint writes: "
                f"{', '.join(sorted(pdf_variants()))}"
            )
        self._choices = {
            product: parse_template_choice(text) for product, text in template_map.items()
        }
        for product, choice in self._choices.items():
            if choice.pdf_variant is not None and choice.pdf_variant not in pdf_variants():
                raise ValueError(
                    f"PDFQUEUE_TEMPLATE_MAP: product {product!r} asks for PDF variant "
                    f"{choice.pdf_variant!r}, which this WeasyPrint does not write"
                )
        self._folders = [Path(folder).resolve() for folder in template_folders]
        self._pdf_variant = pdf_variant
        self._folders.append(BUILTIN_TEMPLATE_FOLDER)
        self._default_template = default_template
        self._context_builder = context_builder
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self._folders),
            autoescape=True,  # the output is always HTML, whatever a template is named
            undefined=jinja2.StrictUndefined,
        )
        #: WeasyPrint font configurations by the process that made them (see :meth:`_fonts`).
        self._font_configs: dict[int, Any] = {}

    def template_for(self, product_id: str) -> str:
        """The template file name used for ``product_id``."""
        choice = self._choices.get(product_id)
        return choice.template if choice else self._default_template

    def pdf_variant_for(self, product_id: str) -> str | None:
        """The PDF variant of ``product_id``'s reports (None: a plain PDF)."""
        choice = self._choices.get(product_id)
        return (choice and choice.pdf_variant) or self._pdf_variant

    def render_html(self, document: Mapping[str, Any], product_id: str) -> str:
        """Render the HTML only (previews, tests)."""
        return self._render_html(document, product_id)[0]

    def render(self, document: Mapping[str, Any], product_id: str) -> RenderedPDF:
        """Render the PDF; every way the template or data can be wrong is a ``TemplateError``."""
        html, template = self._render_html(document, product_id)
        from weasyprint import HTML
        from weasyprint.urls import FatalURLFetchingError

        # Relative links ("psikotes.css") resolve next to the template that was chosen.
        base_url = Path(str(template.filename)).parent.as_uri() + "/"
        fetcher = _safe_fetcher_class()(self._folders)
        failed = f"report template {template.name!r} could not load"
        try:
            with _collected_warnings() as collected:
                pdf = HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf(
                    font_config=self._fonts(), pdf_variant=self.pdf_variant_for(product_id)
                )
        except FatalURLFetchingError as exc:
            raise TemplateError(f"{failed} {'; '.join(fetcher.failures) or exc}") from exc
        if fetcher.failures:
            raise TemplateError(f"{failed} {'; '.join(fetcher.failures)}")
        return RenderedPDF(bytes(pdf), collected.warnings)

    def preload(self) -> None:
        """Warm everything a render needs, in the worker parent, before forking.

        Importing WeasyPrint, loading fonts, compiling templates and one warm-up render
        halve the first render in each forked work horse (which makes its own font
        configuration, see :meth:`_fonts`).
        A template that is missing or does not compile raises ``TemplateError`` here,
        at worker start, instead of failing every job.
        """
        self._fonts()
        for name in sorted({self._default_template, *map(self.template_for, self._choices)}):
            self._template(name)
        document = demo_documents()[0]
        try:
            self.render(document, DEMO_PRODUCT_ID)
        except TemplateError as exc:
            # Custom templates/builders need not understand the demo document.
            log.info(
                "demo warm-up with the configured templates failed (%s); "
                "warming up with the built-in report",
                exc,
            )
            builtin = ReportRenderer(
                template_folders=(),
                template_map={},
                default_template=DEFAULT_TEMPLATE,
                context_builder=build_psikotes_context,
            )
            builtin._font_configs = self._font_configs
            builtin.render(document, DEMO_PRODUCT_ID)

    def _fonts(self) -> Any:
        """This process's font configuration, made on first use.

        A configuration belongs to the process that made it: Pango's font map works
        with a thread of its own, which a forked work horse does not inherit, and on
        Pango 1.56 (Debian 13) a horse using its parent's configuration hangs at the
        first ``local()`` font it looks up. So a horse makes its own (about 3 ms; the
        imports, fonts on disk and compiled templates stay warm from the preload).
        The parent's stays referenced in the horse, unused: releasing it there could
        wait for that missing thread too.
        """
        pid = os.getpid()
        if pid not in self._font_configs:
            from weasyprint.text.fonts import FontConfiguration

            self._font_configs[pid] = FontConfiguration()
        return self._font_configs[pid]

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self._env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            folders = ", ".join(str(folder) for folder in self._folders)
            log.error("report template %r not found in %s", exc.name, folders)
            raise TemplateError(
                f"report template {exc.name!r} not found in the template folders"
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"report template {exc.name or name!r} has a syntax error "
                f"on line {exc.lineno}: {exc.message}"
            ) from exc

    def _render_html(
        self, document: Mapping[str, Any], product_id: str
    ) -> tuple[str, jinja2.Template]:
        template = self._template(self.template_for(product_id))
        try:
            context = self._context_builder(document)
        except KeyError as exc:
            field = exc.args[0] if exc.args else "?"
            raise TemplateError(f"report document is missing required field {field!r}") from exc
        except (TypeError, ValueError) as exc:
            raise TemplateError(f"report document is malformed: {exc}") from exc
        try:
            return template.render(context), template
        except (jinja2.TemplateError, TypeError, ValueError) as exc:
            raise TemplateError(
                f"report template {template.name!r} does not fit the report data: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
