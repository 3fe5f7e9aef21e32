"""Development profile: the embedded stack of ``make run`` (private ports, files under var/).

Every value can be overridden by the environment variable of the same name.
"""

PDFQUEUE_WORKERS = 2
PDFQUEUE_MAX_QUEUE_SIZE = 100
PDFQUEUE_JOB_TIMEOUT = 300
