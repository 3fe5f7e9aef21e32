"""Turn a report document into HTML (Jinja2) and PDF (WeasyPrint), with a report pack.

Hardened as WeasyPrint's and Jinja's own advice goes: autoescaping and
``StrictUndefined`` in Jinja, and a URL fetcher (:mod:`.fetcher`) that serves only
``data:`` URLs and files inside the pack's folders and *stops* the render for anything
else, so a template can neither read ``/etc/passwd`` nor reach internal hosts, and a
refused resource is a visible ``TemplateError`` instead of a silently missing image.

Which pack and template render a product: ``PDFQUEUE_TEMPLATE_MAP`` names a pack (or
a template of the default pack) per product; every other product gets the default
pack. ``PDFQUEUE_TEMPLATE_FOLDER``, ``PDFQUEUE_DEFAULT_TEMPLATE`` and
``PDFQUEUE_CONTEXT_BUILDER`` adjust the default pack in place.

WeasyPrint is imported lazily: the web process only builds HTML (previews) and never
pays the ~0.5 s import; workers call :meth:`ReportRenderer.preload` before they fork
work horses.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import jinja2

from ..errors import TemplateError
from .choice import parse_template_choice
from .fetcher import safe_fetcher_class
from .pack import BUILTIN_PACKS, DEFAULT_PACK, ContextBuilder, ReportPack, load_pack, load_packs
from .render_warnings import collected_warnings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedPDF:
    """A rendered report, and what WeasyPrint warned about while making it."""

    pdf: bytes
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Way:
    """How one product is rendered: a pack's templates, one of them, a context builder."""

    pack: str
    env: jinja2.Environment
    folders: tuple[Path, ...]
    template: str
    build_context: ContextBuilder
    pdf_variant: str | None


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


class ReportRenderer:
    """Render report documents with the configured packs.

    Build it once per process and reuse it: the Jinja environments cache compiled
    templates and the WeasyPrint font configuration is shared between renders.
    ``render`` is not meant to be called from several threads at once.
    """

    def __init__(
        self,
        *,
        packs: Mapping[str, ReportPack] | None = None,
        default_pack: str = DEFAULT_PACK,
        template_map: Mapping[str, str] | None = None,
        template_folders: Sequence[Path] = (),
        default_template: str | None = None,
        context_builder: ContextBuilder | None = None,
        pdf_variant: str | None = None,
    ) -> None:
        self._packs = dict(packs) if packs is not None else load_packs({})
        if default_pack not in self._packs:
            raise ValueError(
                f"PDFQUEUE_DEFAULT_PACK={default_pack!r} is not a report pack: "
                f"{', '.join(sorted(self._packs))}"
            )
        self._check_variant(f"PDFQUEUE_PDF_VARIANT={pdf_variant!r} is not", pdf_variant)
        self._pdf_variant = pdf_variant
        self._default_pack = default_pack
        plain = {name: self._plain_way(pack) for name, pack in self._packs.items()}
        adjusted = plain[default_pack]
        if template_folders:
            folders = (*(Path(f).resolve() for f in template_folders), *adjusted.folders)
            adjusted = replace(adjusted, env=_environment(folders), folders=folders)
        self._default = replace(
            adjusted,
            template=default_template or adjusted.template,
            build_context=context_builder or adjusted.build_context,
        )
        self._ways: dict[str, _Way] = {}
        for product, text in (template_map or {}).items():
            choice = parse_template_choice(text)
            if choice.pack is not None and choice.pack not in self._packs:
                raise ValueError(
                    f"PDFQUEUE_TEMPLATE_MAP: product {product!r} names report pack "
                    f"{choice.pack!r}, which is not configured: {', '.join(sorted(self._packs))}"
                )
            way = plain[choice.pack] if choice.pack else self._default
            if choice.template:
                way = replace(way, template=choice.template)
            if choice.pdf_variant:
                self._check_variant(
                    f"PDFQUEUE_TEMPLATE_MAP: product {product!r} asks for PDF variant "
                    f"{choice.pdf_variant!r}, which is not",
                    choice.pdf_variant,
                )
                way = replace(way, pdf_variant=choice.pdf_variant)
            self._ways[product] = way
        #: WeasyPrint font configurations by the process that made them (see :meth:`_fonts`).
        self._font_configs: dict[int, Any] = {}

    @property
    def packs(self) -> Mapping[str, ReportPack]:
        """The loaded packs, by name."""
        return self._packs

    def pack_for(self, product_id: str) -> str:
        """The name of the pack that renders ``product_id``."""
        return self._way(product_id).pack

    def template_for(self, product_id: str) -> str:
        """The template file name used for ``product_id``."""
        return self._way(product_id).template

    def pdf_variant_for(self, product_id: str) -> str | None:
        """The PDF variant of ``product_id``'s reports (None: a plain PDF)."""
        return self._way(product_id).pdf_variant or self._pdf_variant

    def base_url(self, product_id: str) -> str:
        """Where the relative links of ``product_id``'s HTML resolve: its template's folder."""
        return self._base_url(self._template(self._way(product_id)))

    def render_html(self, document: Mapping[str, Any], product_id: str) -> str:
        """Render the HTML only (previews, tests)."""
        return self._render_html(self._way(product_id), document)[0]

    def render(self, document: Mapping[str, Any], product_id: str) -> RenderedPDF:
        """Render the PDF; every way the template or data can be wrong is a ``TemplateError``."""
        way = self._way(product_id)
        return self._render(way, document, self.pdf_variant_for(product_id))

    def prepare(self) -> None:
        """Import WeasyPrint and compile every mapped template: what processes forked
        from this one share, and the check that fails a worker at start, not every job
        (a template that is missing or does not compile raises ``TemplateError``)."""
        import weasyprint  # noqa: F401  (loaded here so that forked processes share it)

        for way in (self._default, *self._ways.values()):
            self._template(way)

    def preload(self) -> None:
        """:meth:`prepare`, then this process's font configuration and one warm-up
        render (the default pack's first sample, or the built-in pack's), in the process
        that renders or forks the work horses that do: the first job starts warm.
        """
        self.prepare()
        self._fonts()
        pack = self._packs[self._default_pack]
        samples = pack.sample_documents()
        if not samples:
            pack = load_pack(DEFAULT_PACK, BUILTIN_PACKS[DEFAULT_PACK])
            samples = pack.sample_documents()
        self._render(self._plain_way(pack), samples[0], None)

    def _way(self, product_id: str) -> _Way:
        return self._ways.get(product_id, self._default)

    def _plain_way(self, pack: ReportPack) -> _Way:
        folders = (pack.templates.resolve(),)
        return _Way(
            pack=pack.name,
            env=_environment(folders),
            folders=folders,
            template=pack.template,
            build_context=pack.build_context,
            pdf_variant=pack.pdf_variant,
        )

    @staticmethod
    def _check_variant(refusal: str, variant: str | None) -> None:
        """Refuse a variant WeasyPrint cannot write: ``refusal`` names the setting."""
        if variant is not None and variant not in pdf_variants():
            raise ValueError(
                f"{refusal} a PDF variant this WeasyPrint writes: "
                f"{', '.join(sorted(pdf_variants()))}"
            )

    @staticmethod
    def _base_url(template: jinja2.Template) -> str:
        return Path(str(template.filename)).parent.as_uri() + "/"

    def _render(
        self, way: _Way, document: Mapping[str, Any], pdf_variant: str | None
    ) -> RenderedPDF:
        html, template = self._render_html(way, document)
        from weasyprint import HTML
        from weasyprint.urls import FatalURLFetchingError

        fetcher = safe_fetcher_class()(way.folders)
        failed = f"report template {template.name!r} could not load"
        try:
            with collected_warnings() as collected:
                pdf = HTML(
                    string=html, base_url=self._base_url(template), url_fetcher=fetcher
                ).write_pdf(font_config=self._fonts(), pdf_variant=pdf_variant)
        except FatalURLFetchingError as exc:
            raise TemplateError(f"{failed} {'; '.join(fetcher.failures) or exc}") from exc
        if fetcher.failures:
            raise TemplateError(f"{failed} {'; '.join(fetcher.failures)}")
        return RenderedPDF(bytes(pdf), collected.warnings)

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

    def _template(self, way: _Way) -> jinja2.Template:
        try:
            return way.env.get_template(way.template)
        except jinja2.TemplateNotFound as exc:
            folders = ", ".join(str(folder) for folder in way.folders)
            log.error("report template %r not found in %s", exc.name, folders)
            raise TemplateError(
                f"report template {exc.name!r} not found in report pack {way.pack!r}"
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"report template {exc.name or way.template!r} has a syntax error "
                f"on line {exc.lineno}: {exc.message}"
            ) from exc

    def _render_html(self, way: _Way, document: Mapping[str, Any]) -> tuple[str, jinja2.Template]:
        template = self._template(way)
        try:
            context = way.build_context(document)
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


def _environment(folders: Sequence[Path]) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=True,  # the output is always HTML, whatever a template is named
        undefined=jinja2.StrictUndefined,
    )
