"""Wrap the behaviour of any grpc.aio method handler, whatever its arity, in one async guard.

Interceptors in rpc/ express themselves as an async context manager entered around the
call (``guard(context)``); this module applies it to unary and streaming responses alike,
so that every interceptor works for streaming RPCs without its own four variants.
"""

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

Guard = Callable[[grpc.aio.ServicerContext], contextlib.AbstractAsyncContextManager[Any]]


def _guard_unary_response(behavior, guard: Guard):
    async def guarded(request_or_iterator, context):
        async with guard(context):
            result = behavior(request_or_iterator, context)
            return await result if hasattr(result, "__await__") else result

    return guarded


def _guard_streaming_response(behavior, guard: Guard):
    async def guarded(request_or_iterator, context) -> AsyncIterator[Any]:
        async with guard(context):
            result = behavior(request_or_iterator, context)
            if hasattr(result, "__aiter__"):
                async for response in result:
                    yield response
            elif hasattr(result, "__await__"):
                # A handler that writes with context.write() and returns nothing.
                await result

    return guarded


def guard_handler(handler: grpc.RpcMethodHandler | None, guard: Guard):
    """Return a copy of ``handler`` whose behaviour runs inside ``guard(context)``."""
    if handler is None:
        return None
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            _guard_unary_response(handler.unary_unary, guard),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            _guard_streaming_response(handler.unary_stream, guard),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            _guard_unary_response(handler.stream_unary, guard),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.stream_stream_rpc_method_handler(
        _guard_streaming_response(handler.stream_stream, guard),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def split_method(full_method: str) -> tuple[str, str]:
    """'/pkg.Service/Method' -> ('pkg.Service', 'Method')."""
    _, service, method = full_method.split("/", 2)
    return service, method
