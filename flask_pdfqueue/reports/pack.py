"""A report pack: one kind of report, as a folder the queue knows only through this module.

A pack is a Python package folder::

    certificate/
        __init__.py     build_context(document) -> dict (required)
                        TEMPLATE = "report.html", PDF_VARIANT = None (optional)
                        sample_documents() -> list[dict] (optional: demo data, warm-up)
        templates/      the Jinja2 templates, their CSS, images and fonts

``build_context`` turns a report document from MongoDB into the template's context;
everything a rule decides (scores, levels, texts) happens there, in plain Python, and
the templates only lay it out. A template reads files from its own pack's folder only
(see :mod:`.rendering`). ``PDFQUEUE_REPORT_PACKS`` names packs by a folder or an
importable module; the built-in ``psikotes`` pack is always there.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

__all__ = ["ContextBuilder", "ReportPack", "SampleDocuments"]

ContextBuilder = Callable[[Mapping[str, Any]], dict[str, Any]]
SampleDocuments = Callable[[], list[dict[str, Any]]]

#: The packs every installation has, by name: their importable modules.
BUILTIN_PACKS = {"psikotes": "flask_pdfqueue.reports.packs.psikotes"}
#: The pack that renders every product the template map does not name.
DEFAULT_PACK = "psikotes"
#: The template a pack renders unless it says otherwise (``TEMPLATE``).
MAIN_TEMPLATE = "report.html"
PACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class ReportPack:
    """One loaded pack: where its templates are, and what its module provides."""

    name: str
    templates: Path
    template: str
    build_context: ContextBuilder
    sample_documents: SampleDocuments
    pdf_variant: str | None = None


def load_pack(name: str, location: str) -> ReportPack:
    """Load the pack ``name`` from ``location``: a folder, or an importable module's name.

    Raises ``ValueError`` naming the pack and what is wrong, so a bad setting stops a
    worker at start-up instead of failing every job.
    """
    if not PACK_NAME.fullmatch(name):
        raise ValueError(f"report pack name {name!r}: use letters, digits, '-' and '_'")
    module = _import(name, location)
    folder = Path(str(module.__file__)).resolve().parent
    builder = getattr(module, "build_context", None)
    if not callable(builder):
        raise ValueError(f"report pack {name!r} ({location}) has no build_context(document)")
    samples = getattr(module, "sample_documents", None)
    if samples is not None and not callable(samples):
        raise ValueError(f"report pack {name!r}: sample_documents must be a function")
    templates = folder / "templates"
    if not templates.is_dir():
        raise ValueError(f"report pack {name!r} has no templates/ folder in {folder}")
    template = str(getattr(module, "TEMPLATE", MAIN_TEMPLATE))
    variant = getattr(module, "PDF_VARIANT", None)
    return ReportPack(
        name=name,
        templates=templates,
        template=template,
        build_context=cast(ContextBuilder, builder),
        sample_documents=cast(SampleDocuments, samples or _no_samples),
        pdf_variant=str(variant) if variant else None,
    )


def load_packs(configured: Mapping[str, str]) -> dict[str, ReportPack]:
    """The built-in packs and the configured ones (a configured name replaces a built-in)."""
    locations = {**BUILTIN_PACKS, **configured}
    return {name: load_pack(name, location) for name, location in locations.items()}


def _no_samples() -> list[dict[str, Any]]:
    return []


def _import(name: str, location: str) -> ModuleType:
    folder = Path(location).expanduser()
    if "/" not in location and not folder.exists():
        try:
            return importlib.import_module(location)
        except Exception as exc:
            raise ValueError(f"report pack {name!r}: cannot import {location!r}: {exc}") from exc
    init = folder.resolve() / "__init__.py"
    if not init.is_file():
        raise ValueError(f"report pack {name!r}: {location} is not a folder with __init__.py")
    # A pack loaded from a folder is a package of its own, so its modules can import
    # each other relatively (``from .texts import …``).
    module_name = f"pdfqueue_pack_{name.replace('-', '_')}"
    loaded = sys.modules.get(module_name)
    if loaded is not None and Path(str(loaded.__file__)).resolve() == init:
        return loaded
    spec = importlib.util.spec_from_file_location(
        module_name, init, submodule_search_locations=[str(init.parent)]
    )
    assert spec is not None and spec.loader is not None  # a file location always has both
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise ValueError(f"report pack {name!r}: {init} failed to load: {exc}") from exc
    return module
