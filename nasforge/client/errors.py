"""The errors of nasforge.client: one class per status a caller handles differently.

Each keeps the server's message (``message``, also ``details()``) and status code, so a
caller catches ``NotFound`` without importing grpc. Each is also a ``grpc.aio.AioRpcError``
(``code()``, ``details()``, ``trailing_metadata()``), so code written against the raw stubs,
the sync ones included, catches them unchanged, and rich error details such as a quota's
google.rpc.QuotaFailure stay readable with grpc_status.
"""

import grpc

_Metadata = grpc.aio.Metadata


class ClientError(grpc.aio.AioRpcError):
    """A call the server refused or could not answer; base of the classes below (any status
    without a class of its own is raised as this one)."""

    CODE = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        initial_metadata: _Metadata | None = None,
        trailing_metadata: _Metadata | None = None,
        debug_error_string: str | None = None,
    ) -> None:
        super().__init__(
            code or self.CODE,
            initial_metadata or _Metadata(),
            trailing_metadata or _Metadata(),
            message,
            debug_error_string,
        )

    @property
    def message(self) -> str:
        """The server's message, e.g. "no search 's-0f3a'"."""
        return self.details() or ""

    def __str__(self) -> str:
        return f"{self.code().name}: {self.message}"


class InvalidArgument(ClientError):
    """The request is malformed or out of range; the message names the field."""

    CODE = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ClientError):
    """No such search, candidate, dataset or weights, or they belong to another tenant."""

    CODE = grpc.StatusCode.NOT_FOUND


class PermissionDenied(ClientError):
    """The token is valid but may not do this."""

    CODE = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(ClientError):
    """No token, or one the server does not know."""

    CODE = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(ClientError):
    """A quota or queue is full (e.g. the tenant's running searches); retry later."""

    CODE = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(ClientError):
    """The server cannot be reached, or a service behind it is down; retry later."""

    CODE = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ClientError):
    """The call's deadline passed before the answer came."""

    CODE = grpc.StatusCode.DEADLINE_EXCEEDED


class DownloadMismatch(ClientError):
    """Downloaded weights differ from the size or SHA-256 the server announced; nothing
    was written at the destination."""

    CODE = grpc.StatusCode.DATA_LOSS


_CLASS_OF = {
    cls.CODE: cls
    for cls in (
        InvalidArgument,
        NotFound,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
    )
}


def _metadata(call: grpc.RpcError, which: str) -> _Metadata:
    read = getattr(call, which, None)
    return _Metadata(*((key, value) for key, value in (read() or ()))) if read else _Metadata()


def mapped(error: grpc.RpcError) -> ClientError:
    """The client error for an error of a grpc call (aio or blocking), with its message,
    code and metadata."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    debug = error.debug_error_string() if hasattr(error, "debug_error_string") else None
    return _CLASS_OF.get(code, ClientError)(
        error.details() if hasattr(error, "details") else str(error),
        code=code,
        initial_metadata=_metadata(error, "initial_metadata"),
        trailing_metadata=_metadata(error, "trailing_metadata"),
        debug_error_string=debug,
    )
