"""Map exceptions raised by handlers to precise gRPC status codes, in one place.

Domain errors (rpc.errors) keep their message; TimeoutError is our own deadline; anything
else is a bug: logged with its traceback under a reference id, and answered INTERNAL with
only that id, so no internal detail reaches the caller. A QuotaExceeded that names its
quotas also carries them as rich details (google.rpc.Status in the trailing metadata, with a
QuotaFailure and a RetryInfo), which grpcio-status reads on the client.
"""

import asyncio
import contextlib
import logging
import uuid

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from rpc import errors
from rpc.handlers import guard_handler

log = logging.getLogger(__name__)

MAX_DETAILS_CHARS = 1000

STATUS_OF = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.QuotaExceeded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def status_of(error: errors.NasforgeError) -> grpc.StatusCode:
    """The status code of a domain error (the nearest mapped base class wins)."""
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return grpc.StatusCode.INTERNAL


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def quota_status(error: errors.QuotaExceeded, message: str) -> grpc.Status | None:
    """The rich RESOURCE_EXHAUSTED status of a quota error, or None when it names no quota."""
    if not error.violations and error.retry_after_seconds is None:
        return None
    details = []
    if error.violations:
        violations = [
            error_details_pb2.QuotaFailure.Violation(
                subject=violation.subject,
                description=violation.description,
                quota_id=violation.quota_id,
                quota_value=violation.limit,
            )
            for violation in error.violations
        ]
        details.append(_packed(error_details_pb2.QuotaFailure(violations=violations)))
    if error.retry_after_seconds is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(max(error.retry_after_seconds, 0.0) * 1e9))
        details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=details)
    )


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Turns exceptions escaping a handler into one status code each."""

    async def intercept_service(self, continuation, handler_call_details):
        return guard_handler(await continuation(handler_call_details), self._mapped)

    @contextlib.asynccontextmanager
    async def _mapped(self, context: grpc.aio.ServicerContext):
        try:
            yield
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except errors.NasforgeError as exc:
            message = str(exc)[:MAX_DETAILS_CHARS]
            if isinstance(exc, errors.QuotaExceeded) and (rich := quota_status(exc, message)):
                await context.abort(rich.code, rich.details, rich.trailing_metadata)
            await context.abort(status_of(exc), message)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "timed out")
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("internal error (ref %s)", reference)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (ref {reference})")
