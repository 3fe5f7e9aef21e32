"""The worker processes: RQ's worker classes with what keeps them alive unattended, and
the watchdog that runs the default render worker's jobs in one warm process."""
