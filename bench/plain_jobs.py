"""Job functions for the baselines: what a plain RQ setup without the product would run.

``render_report`` imports WeasyPrint inside the job, as a plain job module does,
so RQ's default fork worker (no preload) pays the import in every work horse.
"""

from __future__ import annotations

from pathlib import Path


def render_report(html_path: str, base_url: str) -> int:
    """Render the report HTML at ``html_path`` to PDF; return the PDF's size."""
    from weasyprint import HTML

    html = Path(html_path).read_text(encoding="utf-8")
    return len(HTML(string=html, base_url=base_url).write_pdf())


def noop(code: str, product_id: str) -> None:
    """What the bare enqueue endpoint queues (never run during the benchmark)."""
