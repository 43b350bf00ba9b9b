"""ReproduceCandidate and `nasforge reproduce` through a real gRPC server, the real engine and a
real SQLite store, with tokens of two tenants.

The trainer is a stand-in (no Docker here; tests/integration/search/test_reproduce.py runs
the real one): its figures are a function of exactly what a training is given (code, seed,
epochs, sample counts, hyperparameters, task), so the figures agree only when the
reproduction trains what the original trained, and a trainer that drifts is caught."""

import asyncio
import hashlib
import json

import grpc
import pytest

from cli.main import main
from cli.reproduce import compare
from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from netapi.outcomes import Outcome
from rpc.client import open_channel
from rpc.server import start_server
from rpc.tenants import Quotas, edit_registry
from search_core.config import SearchCoreSettings
from search_core.domain import EpochMetrics, Generator, Method
from search_core.engine.runner import SearchEngine
from search_core.methods import MethodFactory
from search_core.server import search_binding
from search_core.services import TrainingResult
from search_core.store import open_store
from search_core.store.async_store import AsyncStore
from tests.unit.search_core.engine.scripted import ScriptedServices, model_code
from tests.unit.search_core.engine.test_engine import PromptMethod, TemplateMethod

pytestmark = pytest.mark.timeout(120)


class FigureTrainer(ScriptedServices):
    """Figures derived from the training's inputs; `drift` adds to every later training's."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = []
        self.drift = 0.0
        self.image = "sha256:" + "1" * 64  # the runtime image the trainings report

    async def train(self, request, on_epoch):
        self.calls["train"] += 1
        self.requests.append(request)
        inputs = json.dumps(
            [
                request.code,
                request.seed,
                request.epochs,
                request.train_samples,
                request.validation_samples,
                request.test_samples,
                sorted(request.spec.hyperparameters.items()),
                request.spec.dataset,
                list(request.spec.in_shape),
            ]
        )
        base = int(hashlib.sha256(inputs.encode()).hexdigest()[:8], 16) / 16**8
        for epoch in range(1, request.epochs + 1):
            await on_epoch(EpochMetrics(epoch, base + 1 / epoch, base / epoch + self.drift, 9.0))
        scores = {"validation": base, "accuracy": base / 2 + self.drift}
        return TrainingResult(
            Outcome.SUCCESS,
            scores,
            runtime_image_digest=self.image,
            dataset_digest="sha256:" + "2" * 64,
        )


def _original_method(config, tenant):
    return TemplateMethod() if config.generator == Generator.TEMPLATE else PromptMethod()


@pytest.fixture
async def served(tmp_path):
    tokens = tmp_path / "tokens.json"
    issued = {}
    with edit_registry(tokens) as registry:
        for tenant in ("acme", "rival"):
            registry.add_tenant(tenant, Quotas())
            issued[tenant] = registry.add_token(tenant).token
    for tenant, token in issued.items():
        (tmp_path / f"{tenant}.token").write_text(token)
    store = open_store(str(tmp_path / "store.db"))
    shared = AsyncStore(store)
    real_methods = MethodFactory(shared)

    async def methods(config, tenant):
        if config.method == Method.REPRODUCE:
            return await real_methods(config, tenant)
        return _original_method(config, tenant)

    settings = SearchCoreSettings(auth_tokens_file=tokens, plaintext=True)
    trainer = FigureTrainer()
    engine = SearchEngine(shared, trainer, settings, methods)
    await engine.start()
    running = await start_server([search_binding(engine)], settings)
    target = f"127.0.0.1:{running.port}"
    channels = {t: open_channel(target, token=k, tls=None) for t, k in issued.items()}
    yield {
        "target": target,
        "trainer": trainer,
        "stubs": {t: pb_grpc.SearchServiceStub(c) for t, c in channels.items()},
        "token_file": {t: tmp_path / f"{t}.token" for t in issued},
        "store": store,
    }
    for channel in channels.values():
        await channel.close()
    await running.shutdown(0)
    await engine.close()
    store.close()


CONFIG = {
    "method": "fairnad",
    "max_candidates": 2,
    "seed": 11,
    "repair_attempts": 0,
    "task": {"dataset": "fashion-mnist", "in_shape": [16, 1, 28, 28]},
    "training": {"epochs": 2, "train_samples": 300, "validation_samples": 40, "test_samples": 50},
    "generation": {"near_copy_threshold": 1.0, "unchanged_retries": 0},
}


async def _finished(stub, search_id):
    async for _ in stub.WatchSearch(pb.WatchSearchRequest(search_id=search_id), timeout=60):
        pass
    page = await stub.ListCandidates(pb.ListCandidatesRequest(search_id=search_id))
    return [
        (await stub.GetCandidate(pb.GetCandidateRequest(candidate_id=c.candidate_id))).candidate
        for c in page.candidates
    ]


async def _search(stub, generator):
    config = {**CONFIG, "generator": generator}
    spec = pb.SearchSpec(method=pb.SEARCH_METHOD_FAIRNAD, config_json=json.dumps(config))
    response = await stub.SubmitSearch(pb.SubmitSearchRequest(spec=spec))
    return await _finished(stub, response.search_id)


def _reproduce_with_cli(served, candidate_id, tenant="acme"):
    return main(
        [
            "reproduce",
            candidate_id,
            "--target",
            served["target"],
            "--token-file",
            str(served["token_file"][tenant]),
            "--plaintext",
        ]
    )


@pytest.mark.parametrize("generator", ["template", "llm"])
async def test_a_reproduction_trains_what_the_original_trained_and_agrees(served, generator):
    stub, trainer = served["stubs"]["acme"], served["trainer"]
    trainer.answers = [model_code(61), model_code(62)]
    originals = await _search(stub, generator)
    assert [c.summary.outcome for c in originals] == [1, 1]  # OUTCOME_SUCCESS
    original = originals[1]  # slot 1: trained with seed 11 + 1
    generated = trainer.calls["generate"]
    trained = {r.candidate_id: r for r in trainer.requests}[original.summary.candidate_id]

    status = await asyncio.to_thread(_reproduce_with_cli, served, original.summary.candidate_id)

    assert status == 0
    assert trainer.calls["generate"] == generated  # nothing asked of the model
    again = trainer.requests[-1]
    assert again.candidate_id != trained.candidate_id
    assert again.code == trained.code == original.code
    assert (again.seed, again.epochs) == (trained.seed, trained.epochs) == (12, 2)
    assert (again.train_samples, again.validation_samples, again.test_samples) == (300, 40, 50)
    assert again.spec == trained.spec  # hyperparameters, dataset and shapes
    searches = await stub.ListSearches(pb.ListSearchesRequest())
    reproduction = searches.searches[0]
    assert reproduction.spec.method == pb.SEARCH_METHOD_REPRODUCE
    (copy,) = await _finished(stub, reproduction.search_id)
    assert [(e.train_loss, e.validation_metric) for e in copy.epochs] == [
        (e.train_loss, e.validation_metric) for e in original.epochs
    ]
    assert compare(original, copy, 0.0).agrees


async def test_figures_that_move_make_the_command_fail(served, capsys):
    stub, trainer = served["stubs"]["acme"], served["trainer"]
    (original, _) = await _search(stub, "template")
    trainer.drift = 1e-3
    status = await asyncio.to_thread(_reproduce_with_cli, served, original.summary.candidate_id)
    assert status == 1
    shown = capsys.readouterr().out
    assert "DIFFERS" in shown and "not reproduced" in shown
    assert "epoch 1 validation_metric" in shown and "accuracy" in shown


async def test_another_tenants_candidate_is_not_found(served):
    (original, _) = await _search(served["stubs"]["acme"], "template")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await served["stubs"]["rival"].ReproduceCandidate(
            pb.ReproduceCandidateRequest(candidate_id=original.summary.candidate_id)
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert original.summary.candidate_id in refused.value.details()
    status = await asyncio.to_thread(
        _reproduce_with_cli, served, original.summary.candidate_id, "rival"
    )
    assert status == 1  # the CLI says NOT_FOUND; nothing was trained for the rival
    assert len(served["trainer"].requests) == 2


async def test_what_cannot_be_reproduced_is_refused_with_its_reason(served):
    stub = served["stubs"]["acme"]
    config = {**CONFIG, "generator": "template", "training": {"epochs": 0}}
    spec = pb.SearchSpec(method=pb.SEARCH_METHOD_FAIRNAD, config_json=json.dumps(config))
    search = await stub.SubmitSearch(pb.SubmitSearchRequest(spec=spec))
    (checked_only, _) = await _finished(stub, search.search_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ReproduceCandidate(
            pb.ReproduceCandidateRequest(candidate_id=checked_only.summary.candidate_id)
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "never trained" in refused.value.details()
    for candidate_id, code in (("", "INVALID_ARGUMENT"), ("c-" + "0" * 16, "NOT_FOUND")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ReproduceCandidate(pb.ReproduceCandidateRequest(candidate_id=candidate_id))
        assert refused.value.code().name == code
    # A reproduction is only started from a record: SubmitSearch cannot name one.
    hostile = pb.SearchSpec(
        method=pb.SEARCH_METHOD_REPRODUCE,
        config_json=json.dumps({"method": "reproduce", "reproduce": {"candidate_id": "c-x"}}),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.SubmitSearch(pb.SubmitSearchRequest(spec=hostile))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ReproduceCandidate" in refused.value.details()


async def test_a_new_runtime_image_is_told_but_the_same_figures_still_reproduce(served, capsys):
    stub, trainer = served["stubs"]["acme"], served["trainer"]
    (original, _) = await _search(stub, "template")
    assert original.provenance.runtime_image_digest == trainer.image
    trainer.image = "sha256:" + "3" * 64
    status = await asyncio.to_thread(_reproduce_with_cli, served, original.summary.candidate_id)
    assert status == 0
    shown = capsys.readouterr().out
    assert "the runtime image differs" in shown and "reproduced" in shown
    assert original.provenance.code_sha256 in shown  # the record is shown first
    assert f"seed {original.provenance.training_seed}, 2 epochs" in shown
    assert "the dataset differs" not in shown


async def test_a_candidate_recorded_before_provenance_is_retrained_with_its_own_seed(served):
    """A record without its training half (a candidate of an older search_core): the seed is
    the one the engine used, the original search's seed plus the candidate's slot."""
    stub, trainer, store = served["stubs"]["acme"], served["trainer"], served["store"]
    (_, original) = await _search(stub, "template")
    stored = store.get_candidate("acme", original.summary.candidate_id)
    stored.provenance = {}
    store.put_candidate(stored)
    started = await stub.ReproduceCandidate(
        pb.ReproduceCandidateRequest(candidate_id=original.summary.candidate_id)
    )
    assert started.original_search_id == original.search_id
    (copy,) = await _finished(stub, started.search_id)
    assert trainer.requests[-1].seed == 12 and copy.provenance.training_seed == 12
    assert compare(original, copy, 0.0).agrees
