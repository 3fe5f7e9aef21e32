"""The queue on Redis: RQ's queues and what their keys say (workers, schedulers,
depths), the Redis servers it runs on, and the lists that wake a waiting request.
Everything that reads RQ's keys lives here."""
