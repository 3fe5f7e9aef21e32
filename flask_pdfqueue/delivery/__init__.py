"""Webhook events: what they say, how they are signed and sent, retried and replayed.

``events`` builds the body a job's terminal event carries; ``signing`` signs it
the Standard Webhooks way; ``sender`` POSTs it once; ``schedule`` decides when to
try again; ``dispatch`` runs one delivery attempt as an RQ job and enqueues the
next; ``replay`` owes settled events again.
"""
