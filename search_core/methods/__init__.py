"""Search methods: NN-Caption, FairNAD, the random and regularized-evolution baselines, the
zoo's hand-written reference models, and a stored candidate's reproduction."""

from search_core.domain import Method
from search_core.engine.proposals import NotInStore, SearchMethod
from search_core.knowledge.tree import KnowledgeTree
from search_core.search_config import SearchConfig
from search_core.store.async_store import AsyncStore


class MethodFactory:
    """Builds a search's method from its config with the zoo and trees in the store (read
    off the event loop: the engine awaits the factory as a search starts)."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store

    async def __call__(self, config: SearchConfig, tenant_id: str) -> SearchMethod:
        from search_core.methods.baselines import RandomSearch, RegularizedEvolutionSearch
        from search_core.methods.fairnad import FairNadMethod
        from search_core.methods.nn_caption import NnCaptionMethod
        from search_core.methods.reference import ReferenceModels
        from search_core.methods.reproduce import reproduce_method

        if config.method == Method.RANDOM:
            return RandomSearch(config)
        if config.method == Method.REGULARIZED_EVOLUTION:
            return RegularizedEvolutionSearch(config)
        if config.method == Method.NN_CAPTION:
            return NnCaptionMethod(config, await self._store.list_zoo_models())
        if config.method == Method.REFERENCE:
            return ReferenceModels(config, await self._store.list_zoo_models())
        if config.method == Method.REPRODUCE:
            return await reproduce_method(config, tenant_id, self._store)
        tree = await self._tree(config)
        return FairNadMethod(config, tree, await self._store.list_zoo_models())

    async def _tree(self, config: SearchConfig) -> KnowledgeTree:
        name = config.fairnad.knowledge_tree
        if not name:
            return KnowledgeTree.default()
        record = await self._store.get_knowledge_tree(name)
        if record is None:
            raise NotInStore(f"no knowledge tree {name!r}")
        return KnowledgeTree.from_dict(record.document)
