"""A real search_core on a loopback port for the tests of nasforge.client and of the CLI
that uses it: the servicer, engine,
store and token check of production, two tenants (acme, rival) with their own tokens, and
scripted dependencies (tests.unit.search_core.engine.scripted) so searches end in seconds.

DownloadWeights streams bytes kept by the test (``Api.weights``), as the contract says
(size and SHA-256 on the first chunk), so the client's checks can be tried against a
server that tells the truth and one that does not.
"""

import hashlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from rpc.certs import server_files
from rpc.errors import NotFound
from rpc.server import RunningServer, bind, start_server
from rpc.tenant import current_tenant
from rpc.tenants import edit_registry
from search_core.config import SearchCoreSettings
from search_core.engine.runner import SearchEngine
from search_core.server import SearchServicer
from search_core.store import open_store
from tests.unit.search_core.engine.scripted import ScriptedServices, method_factory
from tests.unit.search_core.engine.test_search_quotas import DistinctTemplates

CONFIG = {
    "method": "random",
    "generator": "template",
    "max_candidates": 3,
    "repair_attempts": 0,
    "training": {"epochs": 2},
}
CHUNK_BYTES = 1000


@dataclass
class KeptWeights:
    """What the test's DownloadWeights serves for a candidate (``announced``: the SHA-256
    it claims, the real one unless a test lies)."""

    tenant: str
    data: bytes
    announced: str = ""


@dataclass
class Api:
    target: str
    tokens: dict[str, str]
    engine: SearchEngine
    services: ScriptedServices
    settings: SearchCoreSettings
    store_url: str
    weights: dict[str, KeptWeights] = field(default_factory=dict)
    server: RunningServer | None = None

    def keep_weights(self, candidate_id: str, data: bytes, *, announced: str = "") -> None:
        sha256 = announced or hashlib.sha256(data).hexdigest()
        self.weights[candidate_id] = KeptWeights("acme", data, sha256)

    async def restart(self) -> None:
        """Stop the server and serve again on the same port (search_core restarting)."""
        await self.server.shutdown(0)
        self.server = await start_server([self._binding()], self.settings)

    def _binding(self):
        return bind(
            pb_grpc.add_SearchServiceServicer_to_server,
            _WeightsServicer(self),
            pb.DESCRIPTOR.services_by_name["SearchService"],
        )


class _WeightsServicer(SearchServicer):
    def __init__(self, api: Api) -> None:
        super().__init__(api.engine, api.engine.services)
        self._api = api

    async def DownloadWeights(self, request, context):
        kept = self._api.weights.get(request.candidate_id)
        if kept is None or kept.tenant != current_tenant():
            raise NotFound(f"no weights kept for candidate {request.candidate_id}")
        for start in range(0, len(kept.data), CHUNK_BYTES):
            chunk = pb.DownloadWeightsResponse(data=kept.data[start : start + CHUNK_BYTES])
            if start == 0:
                chunk.size_bytes, chunk.sha256 = len(kept.data), kept.announced
            yield chunk


@asynccontextmanager
async def running_api(folder: Path, *, certs: Path | None = None):
    """Serve search_core (store and token file in ``folder``) until the block ends: over
    TLS with the certificate rpc.certs wrote in ``certs``, else plaintext."""
    tokens_file = folder / "tokens.json"
    with edit_registry(tokens_file) as registry:
        registry.add_tenant("acme")
        registry.add_tenant("rival")
        tokens = {name: registry.add_token(name).token for name in ("acme", "rival")}
    store_url = str(folder / "store.db")
    store = open_store(store_url)
    if certs is None:
        transport = {"plaintext": True}
    else:
        cert, key = server_files(certs, "search_core")
        transport = {"tls_cert_file": cert, "tls_key_file": key}
    settings = SearchCoreSettings(
        auth_tokens_file=tokens_file, max_in_flight_per_search=1, **transport
    )
    services = ScriptedServices()
    engine = SearchEngine(store, services, settings, method_factory(DistinctTemplates))
    await engine.start()
    instance = Api("", tokens, engine, services, settings, store_url)
    instance.server = await start_server([instance._binding()], settings)
    instance.target = f"127.0.0.1:{instance.server.port}"
    instance.settings = settings.model_copy(update={"port": instance.server.port})
    try:
        yield instance
    finally:
        await instance.server.shutdown(0)
        await engine.close()
        store.close()
