"""Delivering owed webhook events: ``dispatch`` runs one delivery attempt as an RQ job
and enqueues the next; ``replay`` owes settled events again. What an event says and
how it is sent is :mod:`..webhooks`'."""
