"""How every nasforge process waits to be stopped (no gRPC here: docker_proxy uses it too)."""

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def stop_signals() -> AsyncIterator[asyncio.Event]:
    """An event set at the first SIGTERM or SIGINT. Inside the block, later signals are
    absorbed too, so a graceful shutdown there is not cut short by a repeated signal."""
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    try:
        yield stop_requested
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
