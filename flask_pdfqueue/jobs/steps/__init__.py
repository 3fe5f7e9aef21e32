"""The steps of one job, one module each: load, render, store, record, notify.

``flask_pdfqueue.rq_jobs.generate_pdf_job`` calls them in that order inside an
:mod:`~flask_pdfqueue.jobs.attempts`, which decides what a failure means.
"""
