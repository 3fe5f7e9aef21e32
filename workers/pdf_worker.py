"""``workers.pdf_worker.generate_pdf_job``: the name RQ was given for a job's run before the
function moved into the package (:mod:`flask_pdfqueue.rq_jobs`), kept so that runs an
older version queued still run after an upgrade. Not part of the wheel."""

from __future__ import annotations

from flask_pdfqueue.rq_jobs import generate_pdf_job

__all__ = ["generate_pdf_job"]
