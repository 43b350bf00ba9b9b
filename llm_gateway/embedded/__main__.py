"""`python -m llm_gateway.embedded`: serve the embedded model over TGI's HTTP API.

Prints `embedded model server listening on port N` once it accepts requests, then serves
until SIGTERM or SIGINT.
"""

import asyncio
import hashlib
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from llm_gateway.embedded.app import EmbeddedServer
from llm_gateway.embedded.chat import Reasoning
from llm_gateway.embedded.config import EmbeddedSettings
from llm_gateway.embedded.protocol import Limits


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB blocks (about a second for the 0.5B model)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def build_server(settings: EmbeddedSettings) -> EmbeddedServer:
    from llm_gateway.embedded.engine import LlamaEngine  # imports llama_cpp

    engine = LlamaEngine(
        settings.model_path,
        n_ctx=settings.max_total_tokens,
        threads=settings.threads,
        model_id=settings.model_id,
        prompt_lookup_tokens=settings.prompt_lookup_tokens,
        draft_model_path=settings.draft_model_path,
        draft_tokens=settings.draft_tokens,
    )
    limits = Limits(
        max_input_tokens=min(settings.max_input_tokens, settings.max_total_tokens - 1),
        max_total_tokens=settings.max_total_tokens,
        default_max_new_tokens=settings.default_max_new_tokens,
        max_stop_sequences=settings.max_stop_sequences,
    )
    return EmbeddedServer(
        engine,
        limits,
        settings.max_concurrent_requests,
        reasoning=Reasoning(settings.reasoning_parser, settings.reasoning_field),
        model_file_sha256=file_sha256(settings.model_path),  # the engine found the file
    )


async def run(settings: EmbeddedSettings) -> None:
    server = build_server(settings)
    # Cancelling a handler when its client hangs up is what stops the model early.
    runner = web.AppRunner(server.application(), handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    port = runner.addresses[0][1]
    print(f"embedded model server listening on port {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(run(EmbeddedSettings()))
    except FileNotFoundError as exc:  # no model yet: say what to run, without a traceback
        print(f"llm_gateway.embedded: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
