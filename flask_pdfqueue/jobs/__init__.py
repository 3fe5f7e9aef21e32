"""The job flow, in the order a job meets it: submission, one attempt and its failure,
the steps of a run (load, render, store, record, notify), webhook delivery,
cancellation, outages waited out, and the reconciler that mends what Redis lost."""
