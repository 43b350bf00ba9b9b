"""The yardstick of a comparison: the zoo's hand-written models, trained unchanged.

A searched model is only worth its cost if it beats a plain model a person wrote, trained
with the same budget. This method trains the zoo's own models of the task (never ones
imported from LEMUR), one per candidate slot, in name order, so a comparison shows them in
the same units as every searched candidate.
"""

import random

from search_core.domain import CandidateRecord, Generator, ZooModel
from search_core.engine.proposals import REFERENCE_MUTATION, NotInStore, Proposal
from search_core.search_config import SearchConfig
from search_core.zoo.registry import BUILTIN_SOURCE


class ReferenceModels:
    def __init__(self, config: SearchConfig, zoo: list[ZooModel]) -> None:
        wanted = config.reference.models
        own = [m for m in zoo if m.task == config.task.task and m.source == BUILTIN_SOURCE]
        models = sorted((m for m in own if not wanted or m.name in wanted), key=lambda m: m.name)
        missing = sorted(set(wanted) - {m.name for m in models})
        if missing:
            raise NotInStore(f"no hand-written zoo model {', '.join(missing)} for this task")
        if len(models) < config.max_candidates:
            raise NotInStore(
                f"max_candidates is {config.max_candidates} but there are {len(models)} "
                "reference models to train: each is trained once"
            )
        self._models = models

    def propose(self, slot: int, rng: random.Random, history: list[CandidateRecord]) -> Proposal:
        model = self._models[slot]
        return Proposal(
            prefix=f"Reference-{model.name}",
            generator=Generator.TEMPLATE,
            code=model.code,
            parent=model.name,
            mutation=REFERENCE_MUTATION,
        )
