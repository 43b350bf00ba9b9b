"""A finished search whose trained candidates' weights a real trainer keeps and serves.

Two real gRPC servers on loopback: a trainer (trainer_svc's own servicer, WeightsStore and
ReadWeights, with retention at 2 files) and search_core (its engine, store and servicer),
which reaches the trainer with a service token through GrpcServices, acting for the caller's
tenant. Only what needs containers is scripted: generation and checks (ScriptedServices),
and the training itself, which here ends as the trainer's does: the best epoch's state_dict
(of the candidate's own module, built with torch) kept by the trainer's WeightsStore.
"""

import contextlib
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from cli.search_client import SearchClient
from netapi.outcomes import Outcome, Stage
from rpc.server import start_server
from rpc.tenant import current_tenant
from rpc.tenants import hash_token
from search_core.config import SearchCoreSettings
from search_core.engine.runner import SearchEngine
from search_core.grpc_clients import GrpcServices
from search_core.server import search_binding
from search_core.services import CheckVerdict
from search_core.store import open_store
from tests.unit.search_core.engine.scripted import ScriptedServices, method_factory, model_code
from tests.unit.search_core.engine.test_engine import TemplateMethod
from trainer_svc.config import TrainerSettings
from trainer_svc.container_run import ContainerTraining
from trainer_svc.core import Trainer
from trainer_svc.server import trainer_binding

TENANT_TOKENS = {"acme": "tok-acme-kept-weights", "globex": "tok-globex-kept-weights"}
SERVICE_TOKEN = "tok-search-core-kept-weights"
IMAGE = "sha256:" + "1" * 64
DATA = "sha256:" + "2" * 64
# TemplateMethod's code per slot: slot 1 fails its check; the others train, in slot order,
# each to its own validation score (the test score is constant: it never ranks).
CODES = [model_code(100 + slot) for slot in range(4)]
FAILED = CODES[1]
VALIDATION = {CODES[0]: 0.6, CODES[2]: 0.9, CODES[3]: 0.7}
CONFIG = {
    "method": "random",
    "generator": "template",
    "max_candidates": 4,
    "repair_attempts": 0,
    "training": {"epochs": 2},
}


def module_weights(code: str) -> bytes:
    """torch.save of the state_dict of the candidate's own Net, as the harness writes it."""
    namespace: dict = {}
    exec(compile(code, "<candidate>", "exec"), namespace)
    torch.manual_seed(0)
    net = namespace["Net"]((1, 1, 28, 28), (10,), {"lr": 0.1}, "cpu")
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()


class KeptWeightsServices(ScriptedServices):
    """Scripted generation and checks; trainings keep their weights in the real trainer, and
    read_weights is GrpcServices' own, over gRPC to that trainer."""

    def __init__(self, trainer: Trainer, trainer_target: str) -> None:
        super().__init__()
        self._trainer = trainer
        self.grpc = GrpcServices(
            gateway_target=trainer_target,  # never called here
            sandbox_target=trainer_target,
            trainer_target=trainer_target,
            token=SERVICE_TOKEN,
            tls=None,
        )
        self.verdict = lambda code: (
            CheckVerdict(Outcome.SHAPE_MISMATCH, Stage.FORWARD, "RuntimeError", "bad shape")
            if code == FAILED
            else CheckVerdict(Outcome.SUCCESS, parameter_count=10)
        )

    async def train(self, request, on_epoch):
        self.score = VALIDATION[request.code]
        result = await super().train(request, on_epoch)
        job_id = uuid.uuid4().hex
        kept = self._trainer.weights.keep(
            job_id, module_weights(request.code), tenant=current_tenant()
        )
        return replace(
            result,
            job_id=job_id,
            best_epoch=request.epochs,
            weights_sha256=kept.sha256,
            weights_size_bytes=kept.size_bytes,
            runtime_image_digest=IMAGE,
            dataset_digest=DATA,
        )

    def read_weights(self, job_id):
        return self.grpc.read_weights(job_id)


@dataclass
class KeptWeightsSearch:
    """The finished search, clients of both tenants and the pieces behind them."""

    search_id: str
    clients: dict[str, SearchClient]
    target: str  # search_core's address
    trainer: Trainer
    services: KeptWeightsServices


def _tokens_file(path: Path, rows: list[dict]) -> Path:
    tenants = {row["tenant"]: {} for row in rows if "tenant" in row}
    path.write_text(json.dumps({"tenants": tenants, "tokens": rows}))
    return path


@contextlib.asynccontextmanager
async def kept_weights_search(tmp_path: Path) -> AsyncIterator[KeptWeightsSearch]:
    """Both servers up, the search run to its end; everything closed afterwards."""
    service_row = {"sha256": hash_token(SERVICE_TOKEN), "service": "search_core"}
    trainer_settings = TrainerSettings(
        weights_root=tmp_path / "weights",
        registry_root=tmp_path / "datasets",
        weights_retention_count=2,
        auth_tokens_file=_tokens_file(tmp_path / "trainer-tokens.json", [service_row]),
        plaintext=True,
    )
    trainer = Trainer(trainer_settings, ContainerTraining(trainer_settings, None, None))
    trainer_server = await start_server(
        [trainer_binding(trainer, trainer_settings)], trainer_settings
    )
    services = KeptWeightsServices(trainer, f"127.0.0.1:{trainer_server.port}")
    rows = [{"sha256": hash_token(t), "tenant": n} for n, t in TENANT_TOKENS.items()]
    settings = SearchCoreSettings(
        auth_tokens_file=_tokens_file(tmp_path / "search-tokens.json", rows),
        plaintext=True,
        max_in_flight_per_search=1,  # trainings in slot order: retention removes slot 0's
    )
    store = open_store(str(tmp_path / "store.db"))
    engine = SearchEngine(store, services, settings, method_factory(lambda c, t: TemplateMethod()))
    await engine.start()
    server = await start_server([search_binding(engine)], settings)
    target = f"127.0.0.1:{server.port}"
    clients = {
        tenant: SearchClient(target, token, tls=None) for tenant, token in TENANT_TOKENS.items()
    }
    try:
        search_id = await clients["acme"].submit(CONFIG)
        async for _ in engine.watch("acme", search_id):
            pass
        yield KeptWeightsSearch(search_id, clients, target, trainer, services)
    finally:
        for client in clients.values():
            await client.__aexit__(None, None, None)
        await server.shutdown(0)
        await engine.close()
        await services.grpc.close()
        await trainer_server.shutdown(0)
        store.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
