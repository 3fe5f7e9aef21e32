"""Operating the queue: the figures (stats), the alerts, the Prometheus collectors, and
what operators do to many jobs at once."""
