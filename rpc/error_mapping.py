"""Map exceptions raised by handlers to precise gRPC status codes, in one place.

Domain errors (rpc.errors) keep their message; TimeoutError is our own deadline; anything
else is a bug: logged with its traceback under a reference id, and answered INTERNAL with
only that id, so no internal detail reaches the caller.
"""

import asyncio
import contextlib
import logging
import uuid

import grpc

from rpc import errors
from rpc.handlers import guard_handler

log = logging.getLogger(__name__)

MAX_DETAILS_CHARS = 1000

STATUS_OF = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
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
            await context.abort(status_of(exc), str(exc)[:MAX_DETAILS_CHARS])
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "timed out")
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("internal error (ref %s)", reference)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (ref {reference})")
