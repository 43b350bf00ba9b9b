"""Domain errors that services raise; rpc.error_mapping turns each into one gRPC status code.

This module imports nothing from grpc so that core modules can raise these errors
without depending on the transport.
"""


class NasforgeError(Exception):
    """Base of the errors a service raises on purpose; the message is shown to the caller."""


class InvalidArgument(NasforgeError):
    """The request is malformed or out of range (INVALID_ARGUMENT)."""


class NotFound(NasforgeError):
    """The id is unknown, or belongs to another tenant (NOT_FOUND)."""


class AlreadyExists(NasforgeError):
    """The resource exists already (ALREADY_EXISTS)."""


class FailedPrecondition(NasforgeError):
    """The request is valid but the system is not in a state to run it (FAILED_PRECONDITION)."""


class QuotaExceeded(NasforgeError):
    """A quota or queue is full (RESOURCE_EXHAUSTED)."""


class Unauthenticated(NasforgeError):
    """No valid credentials (UNAUTHENTICATED)."""


class Unavailable(NasforgeError):
    """An upstream service or backend is down (UNAVAILABLE)."""


class DeadlineExceeded(NasforgeError):
    """Our own time limit ran out (DEADLINE_EXCEEDED)."""
