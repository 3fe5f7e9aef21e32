"""Issue 10: the n8n kit of ``n8n/``, proven against a real n8n (``make test-n8n``)."""
