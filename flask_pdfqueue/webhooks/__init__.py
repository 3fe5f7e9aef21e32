"""What a webhook event is and how one is sent: ``events`` builds the body a job's
terminal event carries; ``signing`` signs it the Standard Webhooks way; ``sender``
POSTs it once; ``schedule`` says how long to wait before the next try.

Delivering owed events (claims, attempts, retries, replay) is :mod:`..delivery`'s.
"""
