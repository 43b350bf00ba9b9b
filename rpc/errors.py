"""Domain errors that services raise; rpc.error_mapping turns each into one gRPC status code.

This module imports nothing from grpc so that core modules can raise these errors
without depending on the transport.
"""

from dataclasses import dataclass


class NasforgeError(Exception):
    """Base of the errors a service raises on purpose; the message is shown to the caller."""


class InvalidArgument(NasforgeError):
    """The request is malformed or out of range (INVALID_ARGUMENT)."""


class OutOfRange(NasforgeError):
    """The request is well-formed but past a limit of what serves it (OUT_OF_RANGE)."""


class PromptTooLong(OutOfRange):
    """The prompt plus max_new_tokens does not fit the model's context (OUT_OF_RANGE): the
    caller's design does not fit this model, nothing on our side broke."""


class NotFound(NasforgeError):
    """The id is unknown, or belongs to another tenant (NOT_FOUND)."""


class AlreadyExists(NasforgeError):
    """The resource exists already (ALREADY_EXISTS)."""


class FailedPrecondition(NasforgeError):
    """The request is valid but the system is not in a state to run it (FAILED_PRECONDITION)."""


@dataclass(frozen=True)
class QuotaViolation:
    """One quota that a request broke; sent to the caller as a google.rpc.QuotaFailure."""

    subject: str  # whose quota, e.g. "tenant:acme"
    quota_id: str  # which quota, e.g. "daily_tokens"
    limit: int  # the quota's value, e.g. 2000000 tokens a day
    description: str  # what was asked and what is left


class QuotaExceeded(NasforgeError):
    """A quota or queue is full (RESOURCE_EXHAUSTED).

    ``violations`` and ``retry_after_seconds``, when given, reach the caller as rich error
    details (google.rpc.QuotaFailure and google.rpc.RetryInfo).
    """

    def __init__(
        self,
        message: str,
        *,
        violations: tuple[QuotaViolation, ...] = (),
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.violations = violations
        self.retry_after_seconds = retry_after_seconds


class Unauthenticated(NasforgeError):
    """No valid credentials (UNAUTHENTICATED)."""


class Unavailable(NasforgeError):
    """An upstream service or backend is down (UNAVAILABLE)."""


class DeadlineExceeded(NasforgeError):
    """Our own time limit ran out (DEADLINE_EXCEEDED)."""
