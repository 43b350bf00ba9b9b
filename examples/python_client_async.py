"""nasforge.client with asyncio: the tenant's finished searches and every candidate of the
newest, whole. python examples/python_client_async.py HOST:PORT TOKEN_FILE CA_FILE"""

import asyncio
import sys
from pathlib import Path

from nasforge.client import AsyncSearchClient, ClientTLS, outcome_name


async def run(target: str, token: str, tls: ClientTLS | None) -> dict[str, str]:
    async with AsyncSearchClient(target, token, tls=tls) as client:
        searches = await client.list_searches(states=("succeeded",), limit=10)
        for search in searches:
            print(search.search_id, search.candidates_evaluated, dict(search.outcome_counts))
        outcomes = {}
        for candidate in await client.candidates(searches[0].search_id):
            summary = candidate.summary
            outcomes[summary.name] = outcome_name(summary.outcome)
            print(summary.name, outcomes[summary.name], len(candidate.code), "chars of code")
        return outcomes


if __name__ == "__main__":
    target, token_file, ca_file = sys.argv[1:4]
    token = Path(token_file).read_text().strip()
    asyncio.run(run(target, token, ClientTLS(ca_file=Path(ca_file))))
