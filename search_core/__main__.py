"""`python -m search_core`: serve SearchService and run searches until SIGTERM/SIGINT."""

from prometheus_client import CollectorRegistry

from rpc.audit import open_audit_log
from rpc.server import announce_port, run_main, serve, server_credentials
from rpc.tenants import load_directory
from search_core.config import SearchCoreSettings
from search_core.engine.runner import SearchEngine
from search_core.grpc_clients import GrpcServices
from search_core.methods import MethodFactory
from search_core.metrics import SearchMetrics
from search_core.server import search_binding
from search_core.store import open_store
from search_core.store.async_store import AsyncStore
from search_core.zoo import seed_zoo


async def run(settings: SearchCoreSettings) -> None:
    # Refuse transport settings that cannot serve before resuming any search.
    server_credentials(settings)
    dependency_tls = settings.dependency_tls()
    tenants = load_directory(settings.auth_tokens_file)  # tokens and quotas, followed live
    registry = CollectorRegistry()
    audit = open_audit_log(settings.audit_log, "search_core", registry)
    store = open_store(
        settings.store_url, pool_size=settings.store_pool_size, timeout_s=settings.store_timeout_s
    )
    seed_zoo(store)  # before anything else runs on the loop
    async_store = AsyncStore(store)
    token = (
        settings.service_token_file.read_text().strip()
        if settings.service_token_file is not None
        else None
    )
    services = GrpcServices(
        gateway_target=settings.gateway_target,
        sandbox_target=settings.sandbox_target,
        trainer_target=settings.trainer_target,
        token=token,
        tls=dependency_tls,
        call_timeout_seconds=settings.call_timeout_seconds,
    )
    metrics = SearchMetrics(  # the engine reports through it (a SearchObserver)
        registry,
        tenants=settings.metrics_tenants,
        models=settings.metrics_models,
        prompt_variants=settings.metrics_prompt_variants,
    )
    engine = SearchEngine(
        async_store,
        services,
        settings,
        MethodFactory(async_store),
        metrics,
        quotas=tenants.quotas if tenants is not None else None,
        audit=audit,
    )
    await engine.start()
    try:
        await serve(
            [search_binding(engine, audit)],
            settings,
            registry=registry,
            on_started=announce_port("search_core"),
            tenants=tenants,
        )
    finally:
        await engine.close()
        await services.close()
        await engine.store.close()  # and the store it wraps
        if audit is not None:
            audit.close()


def main() -> None:
    run_main(run(SearchCoreSettings()))


if __name__ == "__main__":
    main()
