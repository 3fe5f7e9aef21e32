"""The public surface: what ``__all__`` names in the modules the README's "Public API"
lists. A name added to or taken from it is a decision, made here and in the README."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

PUBLIC = {
    "flask_pdfqueue": [
        "ConfigError", "JobFailure", "PDFQueue", "PDFQueueState", "ReportPack", "Settings",
        "TraceIdFilter", "__version__", "current_pdfqueue", "signals",
    ],
    "flask_pdfqueue.config": ["ConfigError", "Settings", "from_environ"],
    "flask_pdfqueue.errors": [
        "Cancelled", "CutByOutage", "DependencyUnavailable", "JobFailure", "RenderTimeout",
        "ReportNotFound", "ServiceUnavailable", "StorageAuth", "StorageError", "StorageQuota",
        "StorageRejected", "TemplateError", "WorkerLost", "is_retryable",
    ],
    "flask_pdfqueue.signals": [
        "job_accepted", "job_cancelled", "job_completed", "job_failed", "job_started",
        "webhook_delivered", "webhook_given_up",
    ],
    "flask_pdfqueue.storage": [
        "DeletingStorage", "ReadableStorage", "RecallingStorage", "ReservingStorage", "Storage",
        "StoredPDF", "create_storage",
    ],
    "flask_pdfqueue.reports.pack": ["ContextBuilder", "ReportPack", "SampleDocuments"],
    "flask_pdfqueue.webhooks.signing": ["sign", "verify"],
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_each_public_module_exports_exactly_its_names(module_name: str) -> None:
    module = importlib.import_module(module_name)

    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_the_readme_lists_every_public_module() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Public API", 1)[1].split("\n## ", 1)[0]

    assert [name for name in PUBLIC if f"`{name}`" not in section] == []
