"""The job functions' former dotted paths (see :mod:`flask_pdfqueue.rq_jobs`), for jobs an
older version queued. The service's checkout has them; the wheel does not."""
