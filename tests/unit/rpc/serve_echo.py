"""Run the echo gateway through rpc.server.serve() in its own process (for signal tests).

Prints the bound port on its first line of stdout, then serves until SIGTERM or SIGINT.
Settings come from NASFORGE_* environment variables like any service's.
"""

import asyncio
import logging

from rpc.server import serve
from rpc.settings import ServerSettings
from tests.unit.rpc.fake_gateway import echo_binding


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = ServerSettings(plaintext=True)
    asyncio.run(
        serve(
            [echo_binding()], settings, on_started=lambda running: print(running.port, flush=True)
        )
    )


if __name__ == "__main__":
    main()
