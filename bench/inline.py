"""One report rendered the plain way: what a Celery task (P5) or an inline view (P6) does.

No queue, no records, no retries: load the report document from the MongoDB server, build
the same HTML as the product (its Jinja template and context builder, so the page is the
same), render it with WeasyPrint and one warm ``FontConfiguration`` (as the P1 bare loop),
write the PDF to a file and ``fsync`` it (as the product's local storage does), and, for
P5, POST a signed webhook. Settings come from the environment (``BENCH_*``, set by the
bench for its child processes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench.stack import SECRET, Stack
from flask_pdfqueue.reports.packs.psikotes.samples import DEMO_PRODUCT_ID, sample_documents
from flask_pdfqueue.reports.rendering import ReportRenderer


def child_env(s: Stack, out_dir: Path, ready_dir: Path) -> dict[str, str]:
    """The ``BENCH_*`` variables an :class:`InlineReport` in a child process reads."""
    collection = s.state.documents.collection
    return {
        "BENCH_MONGO_URL": s.mongo_url,
        "BENCH_MONGO_DB": collection.database.name,
        "BENCH_MONGO_COLLECTION": collection.name,
        "BENCH_OUT_DIR": str(out_dir),
        "BENCH_READY_DIR": str(ready_dir),
        "BENCH_WEBHOOK_SECRET": SECRET,
    }


class InlineReport:
    """Per process: a Mongo client, the template, WeasyPrint warmed by one render."""

    def __init__(self) -> None:
        from weasyprint.text.fonts import FontConfiguration

        env = os.environ
        client: MongoClient[dict[str, Any]] = MongoClient(env["BENCH_MONGO_URL"])
        self.collection = client[env["BENCH_MONGO_DB"]][env["BENCH_MONGO_COLLECTION"]]
        self.out_dir = Path(env["BENCH_OUT_DIR"])
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.secret = env.get("BENCH_WEBHOOK_SECRET", "")
        self.renderer = ReportRenderer()  # the built-in psikotes pack
        self.base_url = self.renderer.base_url(DEMO_PRODUCT_ID)
        self.fonts = FontConfiguration()
        self._pdf(self.renderer.render_html(sample_documents()[0], DEMO_PRODUCT_ID))  # warm-up
        ready = Path(env["BENCH_READY_DIR"])
        ready.mkdir(parents=True, exist_ok=True)
        (ready / str(os.getpid())).touch()  # the bench waits for one file per process

    def _pdf(self, html: str) -> bytes:
        from weasyprint import HTML

        return bytes(HTML(string=html, base_url=self.base_url).write_pdf(font_config=self.fonts))

    def render_to_file(self, code: str, product_id: str, name: str) -> Path:
        """Load, render and store one report; raise LookupError for a missing document."""
        document = self.collection.find_one({"code": code, "product_id": product_id}, {"_id": 0})
        if document is None:
            raise LookupError(f"no report document {code!r} / {product_id!r}")
        pdf = self._pdf(self.renderer.render_html(document, product_id))
        path = self.out_dir / f"{name}.pdf"
        with path.open("wb") as out:
            out.write(pdf)
            out.flush()
            os.fsync(out.fileno())
        return path

    def webhook(self, job_id: str, path: Path) -> tuple[bytes, dict[str, str]]:
        """A ``completed`` body and Standard Webhooks headers, signed like the product's."""
        body = json.dumps(
            {"type": "pdf.completed", "job_id": job_id, "status": "completed", "pdf": str(path)}
        ).encode()
        msg_id, stamp = f"msg_{uuid.uuid4().hex}", int(time.time())
        key = base64.b64decode(self.secret.removeprefix("whsec_")) if self.secret else b""
        digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        }
        return body, headers
