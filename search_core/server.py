"""The SearchService servicer: pb -> domain, await the engine and the store, domain -> pb.

Every RPC acts for the caller's tenant; another tenant's ids answer NOT_FOUND. Submits,
cancels, pauses and resumes are written to the audit log when the service keeps one. Any
replica serves any search: what the engine cannot do here it records in the store for the
replica that runs the search. Store calls run off the event loop (the engine's AsyncStore);
a store that cannot be reached answers UNAVAILABLE.
"""

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable

from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from netapi.datasets import BUILTIN, builtin_records
from netapi.tasks import TASKS
from rpc.audit import AuditLog
from rpc.convert import dataset_to_pb, outcome_from_pb
from rpc.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from rpc.server import ServiceBinding, bind
from rpc.tenant import current_tenant
from search_core import convert
from search_core.dataset_shapes import check_sizes, dataset_name, with_dataset
from search_core.domain import SearchState
from search_core.engine.runner import SearchEngine
from search_core.methods.reproduce import NotReproducible, reproduction_config
from search_core.search_config import SearchConfig, SearchConfigError, parse_config
from search_core.services import Datasets, DatasetUnknown, DependencyDown, WeightsGone
from search_core.store.codec import search_task

MAX_PAGE = 500
MAX_SEARCHES_PAGE = 200
MAX_LEADERBOARD = 100
MAX_ID_CHARS = 200


def _id(value: str, what: str) -> str:
    if not value:
        raise InvalidArgument(f"{what} is empty")
    if len(value) > MAX_ID_CHARS:
        raise InvalidArgument(f"{what} is longer than {MAX_ID_CHARS} characters")
    return value


def _check_page(request, most: int) -> None:
    """INVALID_ARGUMENT for a page size outside 0..most or a token too long to be ours."""
    if not 0 <= request.page_size <= most:
        raise InvalidArgument(f"page_size must be in 0..{most}")
    if len(request.page_token) > 500:
        raise InvalidArgument("page_token is not one this service issued")


class SearchServicer(pb_grpc.SearchServiceServicer):
    def __init__(
        self, engine: SearchEngine, datasets: Datasets, audit: AuditLog | None = None
    ) -> None:
        self._engine = engine
        self._store = engine.store
        self._datasets = datasets
        self._audit = audit

    async def _record(self, event: str, tenant: str, **fields: object) -> None:
        if self._audit is not None:
            await asyncio.to_thread(self._audit.record, event, tenant, **fields)

    async def SubmitSearch(self, request, context):
        if len(request.client_request_id) > MAX_ID_CHARS:
            raise InvalidArgument(f"client_request_id is longer than {MAX_ID_CHARS} characters")
        tenant = current_tenant()
        config = await self._config(request.spec)
        search = await self._engine.submit(tenant, config, request.client_request_id)
        document = config.to_dict()
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        await self._record(
            "search_submitted",
            tenant,
            search_id=search.search_id,
            method=document["method"],
            generator=document["generator"],
            model=document["model"],
            config_sha256=hashlib.sha256(canonical).hexdigest(),
            client_request_id=request.client_request_id,
        )
        return pb.SubmitSearchResponse(search_id=search.search_id)

    async def ReproduceCandidate(self, request, context):
        """A one-candidate search of the caller's that retrains the candidate from the store:
        the code, settings and seed come from search_core's records, nothing from the wire
        but the candidate's id."""
        if len(request.client_request_id) > MAX_ID_CHARS:
            raise InvalidArgument(f"client_request_id is longer than {MAX_ID_CHARS} characters")
        tenant = current_tenant()
        candidate_id = _id(request.candidate_id, "candidate_id")
        candidate = await self._store.get_candidate(tenant, candidate_id)
        if candidate is None:
            raise NotFound(f"no candidate {candidate_id!r}")
        original = await self._engine.get(tenant, candidate.search_id)
        try:
            config = parse_config(reproduction_config(original, candidate))
        except (NotReproducible, SearchConfigError) as exc:
            raise FailedPrecondition(str(exc)) from exc
        search = await self._engine.submit(tenant, config, request.client_request_id)
        await self._record(
            "search_submitted",
            tenant,
            search_id=search.search_id,
            method=config.method.value,
            generator=config.generator.value,
            model="",
            reproduces=candidate_id,
            client_request_id=request.client_request_id,
        )
        return pb.ReproduceCandidateResponse(
            search_id=search.search_id, original_search_id=original.search_id
        )

    async def _config(self, spec) -> SearchConfig:
        """The submitted config, shaped by its dataset: INVALID_ARGUMENT for a dataset the
        trainer does not know or that cannot serve the config, before anything runs."""
        name = dataset_name(convert.config_data(spec))
        try:
            dataset = await self._datasets.dataset(name)
        except DatasetUnknown as exc:
            raise InvalidArgument(f"spec.task.dataset: {exc}") from exc
        except Unavailable:
            # A search on a built-in dataset is accepted while the trainer is down (it pauses
            # until the trainer is back); any other needs the trainer to say what it is.
            if name not in BUILTIN:
                raise Unavailable(
                    f"trainer_svc cannot say now what dataset {name!r} is: submit again later"
                ) from None
            dataset = builtin_records()[name]
        config = convert.config_from_spec(spec, lambda data: with_dataset(data, dataset))
        try:
            check_sizes(config, dataset)
        except SearchConfigError as exc:
            raise InvalidArgument(f"spec: {exc}") from exc
        return config

    async def AddDataset(self, request, context):
        for field in ("name", "format", "path"):
            if not getattr(request, field):
                raise InvalidArgument(f"{field} is empty")
        dataset = await self._datasets.add_dataset(
            request.name,
            request.format,
            request.path,
            download=request.download,
            replace=request.replace,
        )
        await self._record(
            "dataset_added",
            current_tenant(),
            name=dataset.name,
            format=dataset.format,
            digest=dataset.digest,
        )
        return common_pb2.AddDatasetResponse(dataset=dataset_to_pb(dataset))

    async def GetDataset(self, request, context):
        try:
            dataset = await self._datasets.dataset(_id(request.name, "name"))
        except DatasetUnknown as exc:
            raise NotFound(str(exc)) from exc
        return common_pb2.GetDatasetResponse(dataset=dataset_to_pb(dataset))

    async def ListDatasets(self, request, context):
        datasets = await self._datasets.datasets()
        return common_pb2.ListDatasetsResponse(datasets=[dataset_to_pb(d) for d in datasets])

    async def GetSearch(self, request, context):
        search = await self._engine.get(current_tenant(), _id(request.search_id, "search_id"))
        counts = await self._store.outcome_counts(search.search_id)
        return pb.GetSearchResponse(search=convert.search_to_pb(search, counts))

    async def ListSearches(self, request, context):
        _check_page(request, MAX_SEARCHES_PAGE)
        tenant = current_tenant()
        try:
            page = await self._store.search_page(
                tenant,
                convert.states_from_pb(request.states),
                convert.methods_from_pb(request.methods),
                request.page_size or 50,
                request.page_token,
            )
        except ValueError as exc:
            raise InvalidArgument(f"page_token is not one this service issued: {exc}") from exc
        counts = [await self._store.outcome_counts(s.search_id) for s in page.items]
        return pb.ListSearchesResponse(
            searches=[convert.search_to_pb(s, c) for s, c in zip(page.items, counts, strict=True)],
            next_page_token=page.next_token,
        )

    async def WatchSearch(self, request, context):
        if request.after_sequence < 0:
            raise InvalidArgument("after_sequence must not be negative")
        events = self._engine.watch(
            current_tenant(), _id(request.search_id, "search_id"), request.after_sequence
        )
        async for event in events:
            yield convert.event_to_pb(event)

    async def CancelSearch(self, request, context):
        state = await self._control(request, self._engine.cancel, "search_cancelled")
        return pb.CancelSearchResponse(state=state)

    async def PauseSearch(self, request, context):
        state = await self._control(request, self._engine.pause, "search_paused")
        return pb.PauseSearchResponse(state=state)

    async def ResumeSearch(self, request, context):
        state = await self._control(request, self._engine.resume, "search_resumed")
        return pb.ResumeSearchResponse(state=state)

    async def _control(
        self, request, act: Callable[[str, str], Awaitable[SearchState]], event: str
    ) -> int:
        """Cancel, pause or resume the caller's search (`act`), audit it as `event`; the
        search's state afterwards, on the wire."""
        tenant = current_tenant()
        search_id = _id(request.search_id, "search_id")
        state = await act(tenant, search_id)
        await self._record(event, tenant, search_id=search_id, state=state.value)
        return convert.state_to_pb(state)

    async def ListCandidates(self, request, context):
        tenant = current_tenant()
        search_id = _id(request.search_id, "search_id")
        await self._engine.get(tenant, search_id)
        _check_page(request, MAX_PAGE)
        outcomes = [outcome_from_pb(value) for value in request.outcomes]
        try:
            page = await self._store.list_candidates(
                tenant, search_id, outcomes, request.page_size or 50, request.page_token
            )
        except ValueError as exc:
            raise InvalidArgument(f"page_token is not one this service issued: {exc}") from exc
        return pb.ListCandidatesResponse(
            candidates=[convert.summary_to_pb(c) for c in page.items],
            next_page_token=page.next_token,
        )

    async def GetCandidate(self, request, context):
        candidate_id = _id(request.candidate_id, "candidate_id")
        candidate = await self._store.get_candidate(current_tenant(), candidate_id)
        if candidate is None:
            raise NotFound(f"no candidate {candidate_id!r}")
        return pb.GetCandidateResponse(candidate=convert.candidate_to_pb(candidate))

    async def DownloadWeights(self, request, context):
        """The caller's candidate's kept weights, streamed through from the trainer."""
        candidate_id = _id(request.candidate_id, "candidate_id")
        candidate = await self._store.get_candidate(current_tenant(), candidate_id)
        if candidate is None:
            raise NotFound(f"no candidate {candidate_id!r}")
        job_id = candidate.weights.get("job_id")
        if not job_id:
            why = candidate.weights.get("unavailable_reason")
            because = f": {why}" if why else ""
            raise NotFound(f"no weights kept for candidate {candidate_id}{because}")
        try:
            async for chunk in self._engine.services.read_weights(job_id):
                yield pb.DownloadWeightsResponse(
                    data=chunk.data, size_bytes=chunk.size_bytes, sha256=chunk.sha256
                )
        except WeightsGone as gone:  # the trainer's words say why: retention, as a rule
            raise NotFound(
                f"the weights of candidate {candidate_id} are no longer kept: {gone}"
            ) from gone
        except DependencyDown as exc:
            raise Unavailable(f"the trainer cannot serve the weights now: {exc}") from exc

    async def GetLeaderboard(self, request, context):
        tenant = current_tenant()
        if not 0 <= request.limit <= MAX_LEADERBOARD:
            raise InvalidArgument(f"limit must be in 0..{MAX_LEADERBOARD}")
        task = request.task
        if request.search_id:
            search = await self._engine.get(tenant, _id(request.search_id, "search_id"))
            task = search_task(search)
        elif task not in TASKS:
            raise InvalidArgument(f"give a search_id, or a task among {', '.join(TASKS)}")
        ranked = await self._store.leaderboard(
            tenant, search_id=request.search_id, task=request.task, limit=request.limit or 10
        )
        return pb.GetLeaderboardResponse(
            entries=[
                convert.leaderboard_entry_to_pb(rank, c, task)
                for rank, c in enumerate(ranked, start=1)
            ]
        )


def search_binding(engine: SearchEngine, audit: AuditLog | None = None) -> ServiceBinding:
    return bind(
        pb_grpc.add_SearchServiceServicer_to_server,
        SearchServicer(engine, engine.services, audit),
        pb.DESCRIPTOR.services_by_name["SearchService"],
    )
