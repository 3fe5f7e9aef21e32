"""Production profile.

The service refuses to start unless the environment provides PDFQUEUE_API_KEYS,
PDFQUEUE_WEBHOOK_SECRET and PDFQUEUE_CALLBACK_ALLOWED_HOSTS, besides the URLs of
Redis, MongoDB and SQL.
"""

PDFQUEUE_WORKERS = 5
PDFQUEUE_MAX_QUEUE_SIZE = 1000
PDFQUEUE_JOB_TIMEOUT = 600
