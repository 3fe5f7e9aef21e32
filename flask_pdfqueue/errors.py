"""Why a job failed, in words for people and codes for machines.

Every failure a job can meet is raised as a :class:`JobFailure` subclass: its
``error_code`` goes into the failure webhook and the records, its ``retryable``
tells the caller whether submitting the same report again may succeed.
"""

from __future__ import annotations

#: ``error_code`` → ``retryable``, for failures read back from the records.
_RETRYABLE: dict[str, bool] = {}


__all__ = [
    "Cancelled",
    "CutByOutage",
    "DependencyUnavailable",
    "JobFailure",
    "RenderTimeout",
    "ReportNotFound",
    "ServiceUnavailable",
    "StorageAuth",
    "StorageError",
    "StorageQuota",
    "StorageRejected",
    "TemplateError",
    "WorkerLost",
    "is_retryable",
]


class JobFailure(Exception):
    """A failure with a stable machine code and a human sentence."""

    error_code = "internal_error"
    retryable = True

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        _RETRYABLE[cls.error_code] = cls.retryable

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReportNotFound(JobFailure):
    """No report document matches the job's ``code`` and ``productId``."""

    error_code = "report_not_found"
    retryable = False


class TemplateError(JobFailure):
    """The report template is missing, or does not fit the report data."""

    error_code = "template_error"
    retryable = False


class RenderTimeout(JobFailure):
    """Rendering took longer than the job timeout."""

    error_code = "render_timeout"
    retryable = True


class StorageError(JobFailure):
    """The PDF could not be stored."""

    error_code = "storage_error"
    retryable = True


class StorageQuota(JobFailure):
    """The storage has no room for the PDF: a full Drive, or a service account, which owns
    no storage of its own. Submitting again fails the same way until the setup changes."""

    error_code = "storage_quota"
    retryable = False


class StorageAuth(JobFailure):
    """The storage refused the credentials, or the account may not write where it should."""

    error_code = "storage_auth"
    retryable = False


class StorageRejected(JobFailure):
    """The storage refused the request for good (a missing folder, a bad setting)."""

    error_code = "storage_rejected"
    retryable = False


class WorkerLost(JobFailure):
    """The process running the job died before it could report back."""

    error_code = "worker_lost"
    retryable = True


class ServiceUnavailable(JobFailure):
    """MongoDB, SQL or Redis failed while the job ran, other than by not answering."""

    error_code = "service_unavailable"
    retryable = True


class DependencyUnavailable(JobFailure):
    """MongoDB, SQL or the storage did not answer: an outage, not the job's fault. The job
    waits for it without spending a retry, and fails with this only after
    ``PDFQUEUE_OUTAGE_GRACE``."""

    error_code = "dependency_unavailable"
    retryable = True

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(message)
        self.dependency = dependency


class CutByOutage(JobFailure):
    """A run an outage cut short that could not be recorded then (the outage was SQL's):
    found later by the reconciler, it is run again without counting a retry."""

    error_code = "dependency_unavailable"
    retryable = True


class Cancelled(JobFailure):
    """The job was cancelled on request before it finished."""

    error_code = "cancelled"
    retryable = True


def is_retryable(error_code: str | None) -> bool:
    """Whether submitting again may succeed after a failure with ``error_code``."""
    return _RETRYABLE.get(error_code or "", True)
