"""Staging profile: production-sized settings, development's generated secrets allowed.

Point PDFQUEUE_REDIS_URL, PDFQUEUE_MONGO_URL and PDFQUEUE_SQL_URL at the staging services.
"""

PDFQUEUE_WORKERS = 3
PDFQUEUE_MAX_QUEUE_SIZE = 500
PDFQUEUE_JOB_TIMEOUT = 300
