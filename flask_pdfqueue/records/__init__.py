"""Where a job's outcome is written: MongoDB beside the report, SQL for the queue's own records."""
