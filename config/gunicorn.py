"""gunicorn settings of the stand-alone service (``make run`` and ``supervisord.conf``).

Threads, not processes, carry the concurrency: a legacy synchronous call holds
its thread for up to ``PDFQUEUE_SYNC_TIMEOUT`` seconds while it waits (blocked in
Redis, using no CPU), so each process has threads enough for many such waits
beside the async submits, which take milliseconds. tests/integration/
test_web_server.py shows async submits keep their latency while 50 legacy calls
wait.
"""

import os

bind = os.environ.get("PDFQUEUE_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("PDFQUEUE_WEB_PROCESSES", "2"))
threads = int(os.environ.get("PDFQUEUE_WEB_THREADS", "64"))
# Longer than the longest legacy wait (60 s), so a waiting call is never taken for a
# hung worker.
timeout = 90
graceful_timeout = 70
keepalive = 5
# No request-line limit here: the app refuses a URL over 8 KB itself, with a JSON 414,
# where gunicorn's own limit would answer an HTML page.
limit_request_line = 0
accesslog = "-"
